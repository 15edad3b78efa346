"""The lean read path: the last lines of logs and events, through the one reader, cheaply."""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from spool_feed import Feed

from taskmux.logs import collector, events, layout, reading
from taskmux.logs import spool as logspool
from taskmux.logs.events import EventLog
from taskmux.logs.lines import TaskLog, format_stamp, parse_stamp
from taskmux.logs.query import query

BASE = 1_700_000_000.0
HEAVY = ("dataclasses", "typing", "regex", "pydantic", "taskmux.errors")
COLLECTOR_MODULES = ("layout", "linux", "logwriter")  # what the collector imports of taskmux


def _write(root: Path, task: str, lines: list[tuple[float, str]]) -> TaskLog:
    (root / "logs").mkdir(parents=True, exist_ok=True)
    path = root / "logs" / f"{task}.log"
    path.write_bytes(b"".join(f"{format_stamp(ts)} {text}\n".encode() for ts, text in lines))
    return TaskLog(task, path)


def test_reading_the_last_lines_and_events_imports_nothing_heavy(tmp_path: Path) -> None:
    """In a fresh interpreter, the read (spool caught up in-process, as when no collector
    runs) and the events read load no dataclasses, typing, regex, pydantic."""
    root = tmp_path / "state"
    _write(root, "api", [(BASE, "api up")])
    spool_dir = root / "spool"
    spool_dir.mkdir(mode=0o700)
    os.chmod(root, 0o700)
    (spool_dir / "api").write_bytes(b"from the spool\n")
    os.utime(spool_dir / "api", (BASE, BASE))  # long untouched: no collector gets started
    EventLog(root / "events.jsonl").append("started", "api")
    code = f"""
import json, sys
from pathlib import Path
from taskmux.logs import events, reading
from taskmux.logs.lines import TaskLog
root = Path({str(root)!r})
lines = reading.tail_lines([TaskLog("api", root / "logs" / "api.log")], 20)
tail = events.tail(root / "events.jsonl", 20)
heavy = [name for name in {HEAVY!r} if name in sys.modules]
print(json.dumps([[line.text for line in lines], [r["event"] for r in tail], heavy]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    texts, names, heavy = json.loads(done.stdout)
    assert texts == ["api up", "from the spool"]
    assert names == ["started"]
    assert heavy == []


def test_the_collector_started_by_path_loads_only_the_standard_library() -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", collector.__file__],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2  # no state folder given: it says how to run it
    loaded = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    loaded.discard("imported package")  # the header line
    ours = {name for name in loaded if name.split(".")[0] == "taskmux"}
    poker = {"taskmux.statedir", "taskmux.statedir.wakesock"}  # the one poke, shared
    helpers = {f"taskmux.logs.{m}" for m in COLLECTOR_MODULES}
    assert ours <= {"taskmux", "taskmux.logs", *helpers, *poker}
    others = {name.split(".")[0].lstrip("_") for name in loaded - ours}
    stdlib = {name.lstrip("_") for name in sys.stdlib_module_names}
    assert others <= stdlib, others - stdlib


def _collect_in_a_fresh_interpreter(root: Path) -> tuple[set[str], str]:
    """Run the collector by path over `root` (a short grace); the modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", collector.__file__, str(root), "0.01"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    loaded = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return loaded, done.stderr


def _state_with_a_spool(root: Path) -> None:
    (root / "spool").mkdir(parents=True, mode=0o700)
    os.chmod(root, 0o700)
    (root / "spool" / "api").write_bytes(b"hello\n")
    os.chmod(root / "spool" / "api", 0o600)


@pytest.mark.parametrize("deep", [False, True])
def test_a_collector_at_work_loads_its_own_modules_and_pokes_the_supervisor(
    tmp_path: Path, deep: bool
) -> None:
    """A whole run (lock, watch, log, the poke), not only its usage line: no other module
    of taskmux but the wake-up socket's, and none of the standard library's heavier ones (`signal` and `socket`
    load `enum`: a third of its start-up). The poke reaches the supervisor's socket,
    through the folder's descriptor where the path is too long for a socket address."""
    from taskmux.runtime.wakeup import Listener

    root = tmp_path / ("d" * 100 if deep else "s") / "state"
    _state_with_a_spool(root)
    listener = Listener.bind(root)
    assert listener is not None
    try:
        loaded, stderr = _collect_in_a_fresh_interpreter(root)
        poke = listener.sock.recv(16)
    finally:
        listener.close()
    assert poke == b"c"
    assert (root / "logs" / "api.log").read_bytes().endswith(b" hello\n")
    ours = {name for name in loaded if name.split(".")[0] == "taskmux"}
    poker = {"taskmux.statedir", "taskmux.statedir.wakesock"}  # the one poke, shared
    helpers = {f"taskmux.logs.{m}" for m in COLLECTOR_MODULES}
    assert ours <= {"taskmux", "taskmux.logs", *helpers, *poker}
    assert not loaded & {"signal", "socket", "enum", "contextlib", "resource"}, stderr


def test_tail_lines_merges_tasks_by_time_and_is_what_query_reads(tmp_path: Path) -> None:
    api = _write(tmp_path, "api", [(BASE + 1, "a1"), (BASE + 3, "a3"), (BASE + 5, "a5")])
    web = _write(tmp_path, "web", [(BASE + 2, "w2"), (BASE + 4, "w4")])
    lines = reading.tail_lines([api, web], 3)
    assert [(line.task, line.text) for line in lines] == [
        ("api", "a3"),
        ("web", "w4"),
        ("api", "a5"),
    ]
    assert [line.text for line in reading.tail_lines([api, web], 10, since=BASE + 4)] == [
        "w4",
        "a5",
    ]
    assert all(line.cursor is None and line.pos is not None for line in lines)
    tracked = reading.tail_lines([api, web], 2, cursors=True)
    assert all(line.cursor is not None for line in tracked)
    assert list(query([api, web], 3)) == lines
    assert reading.tail_lines([api, web], 0) == []
    assert reading.tail(api, 1)[0].text == "a5"


def test_events_tail_is_the_last_events_the_service_selects(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    for index in range(5):
        log.append("restarted", "api" if index % 2 else "web", count=index)
    assert [r["count"] for r in events.tail(log.path, 2)] == [3, 4]
    assert [r["count"] for r in events.tail(log.path, 5, task="api")] == [1, 3]
    assert events.tail(log.path, 2) == log.select(last=2)
    assert events.tail(tmp_path / "missing.jsonl", 3) == []


def test_a_reader_waits_for_a_running_collector_only_until_it_has_read(tmp_path: Path) -> None:
    """Woken by the collector's writes, not by a clock: it returns as soon as the bytes
    are in the log, long before its limit."""
    with Feed(tmp_path, "t") as feed:
        for round_ in range(5):
            feed.send(b"line %d\n" % round_)
            started = time.monotonic()
            logspool.catch_up(tmp_path, ["t"], wait=30)
            assert time.monotonic() - started < 10
            assert not logspool.pending(tmp_path, ["t"])
            log = TaskLog("t", Path(layout.Layout(str(tmp_path)).log("t")))
            assert reading.tail(log, 1)[0].text == f"line {round_}"


@pytest.mark.parametrize(
    "stamp",
    [
        b"1970-01-01T00:00:00.000Z x",
        b"2000-02-29T23:59:59.999Z x",
        b"2024-12-31T12:00:00.500Z x",
        b"2100-03-01T00:00:01.001Z x",
        b"9999-12-31T23:59:59.000Z x",
    ],
)
def test_stamps_read_back_as_utc_seconds(stamp: bytes) -> None:
    parts = (stamp[0:4], stamp[5:7], stamp[8:10], stamp[11:13], stamp[14:16], stamp[17:19])
    expected = calendar.timegm((*(int(p) for p in parts), 0, 0, 0)) + int(stamp[20:23]) / 1000
    assert parse_stamp(stamp) == expected


def test_lines_without_a_valid_stamp_are_not_stamped() -> None:
    assert parse_stamp(b"0000-01-01T00:00:00.000Z x") is None
    assert parse_stamp(b"2024-13-01T00:00:00.000Z x") is None
    assert parse_stamp(b"plain text without a stamp at all") is None
