"""Reading task logs: tail, rotation, merge, grep, --since, cleaning, follow, clear, the CLI."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from harness import holds_for, wait_until
from spool_feed import Feed

from taskmux.errors import InvalidPattern, PatternTooSlow, UsageError
from taskmux.logs import snapshot
from taskmux.logs.clear import clear
from taskmux.logs.follow import Follower, Tracked, follow
from taskmux.logs.lines import Item, LogLine, TaskLog, clean, parse_since
from taskmux.logs.logwriter import rotate
from taskmux.logs.query import follow_query, query
from taskmux.logs.reading import last, merge, read_lines, tail
from taskmux.logs.search import SEARCH_BUDGET, compile_pattern, grep
from taskmux.statedir.paths import ProjectPaths

BASE = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TASKMUX = str(Path(sys.executable).parent / "taskmux")


def stamp(ts: float) -> bytes:
    millis = round(ts * 1000)
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000))
    return f"{head}.{millis % 1000:03d}Z ".encode()


def append(path: Path, entries: list[tuple[float, bytes | str]]) -> None:
    """Append lines in the writer's format: stamp, raw bytes, newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        for ts, raw in entries:
            body = raw.encode() if isinstance(raw, str) else raw
            handle.write(stamp(ts) + body + b"\n")


def numbered(first: int, last: int, start: float = BASE) -> list[tuple[float, bytes | str]]:
    return [(start + i / 1000, f"line {i}") for i in range(first, last + 1)]


def texts(lines: list[LogLine] | Iterator[LogLine]) -> list[str]:
    return [line.text for line in lines]


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and XDG_STATE_HOME in temp dirs, for this process and the CLI it starts."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.delenv("TASKMUX_CONFIG", raising=False)
    return home


@pytest.fixture
def log(tmp_path: Path) -> TaskLog:
    return TaskLog("web", tmp_path / "logs" / "web.log")


# Tail ---------------------------------------------------------------------------------


def test_tail_returns_exactly_n_lines_and_long_lines_whole(log: TaskLog) -> None:
    long_line = "x" * 299 + "!"
    entries = numbered(1, 500)
    entries.insert(495, (BASE + 0.4955, long_line))
    append(log.path, entries)
    result = tail(log, 10)
    assert len(result) == 10
    assert long_line in texts(result)
    assert texts(result)[-1] == "line 500"
    assert texts(tail(log, 1)) == ["line 500"]
    assert tail(log, 0) == []


def test_tail_reads_lines_longer_than_a_block(log: TaskLog) -> None:
    huge = "y" * 200_000
    append(log.path, [(BASE, "before"), (BASE + 1, huge), (BASE + 2, "after")])
    assert texts(tail(log, 2)) == [huge, "after"]
    assert texts(tail(log, 3)) == ["before", huge, "after"]
    assert texts(tail(log, 100)) == ["before", huge, "after"]


def test_tail_includes_an_unterminated_last_line(log: TaskLog) -> None:
    append(log.path, numbered(1, 3))
    with log.path.open("ab") as handle:
        handle.write(stamp(BASE + 1) + b"prompt> ")
    assert texts(tail(log, 2)) == ["line 3", "prompt> "]


def test_tail_of_a_missing_log_is_empty(log: TaskLog) -> None:
    assert tail(log, 10) == []
    assert list(read_lines(log)) == []


def _rotated_log(log: TaskLog) -> None:
    """lines 1-5 in FILE.3, 6-10 in FILE.2, 11-15 in FILE.1, 16-18 in FILE."""
    append(log.path.with_name("web.log.3"), numbered(1, 5))
    append(log.path.with_name("web.log.2"), numbered(6, 10))
    append(log.path.with_name("web.log.1"), numbered(11, 15))
    append(log.path, numbered(16, 18))


def test_tail_spans_rotated_files_in_order(log: TaskLog) -> None:
    _rotated_log(log)
    assert texts(tail(log, 2)) == ["line 17", "line 18"]
    assert texts(tail(log, 12)) == [f"line {i}" for i in range(7, 19)]
    assert texts(tail(log, 100)) == [f"line {i}" for i in range(1, 19)]


def test_read_lines_spans_rotated_files_in_order(log: TaskLog) -> None:
    _rotated_log(log)
    assert texts(read_lines(log)) == [f"line {i}" for i in range(1, 19)]
    assert [p.name for p in log.files()] == ["web.log.3", "web.log.2", "web.log.1", "web.log"]


def test_rotation_by_the_writer_is_read_in_order(log: TaskLog) -> None:
    for chunk in range(6):
        append(log.path, numbered(chunk * 10 + 1, chunk * 10 + 10))
        rotate(str(log.path), backups=10)
    append(log.path, numbered(61, 65))
    assert texts(read_lines(log)) == [f"line {i}" for i in range(1, 66)]
    assert texts(tail(log, 25)) == [f"line {i}" for i in range(41, 66)]


# Cleaning -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"plain\r", "plain"),
        (b"\x1b[31mred\x1b[0m and \x1b[1;32mbold green\x1b[m", "red and bold green"),
        (b"\x1b]0;window title\x07after title", "after title"),
        (b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        (b"\x1b(Bcharset\x1b)0", "charset"),
        (b"10%\r50%\r100%", "100%"),
        (b"loading......\rdone", "doneing......"),
        (b"loading......\r\x1b[Kdone", "done"),
        (b"loading......\x1b[1Gok\x1b[K", "ok"),
        (b"tab\tkept\x07", "tab\tkept"),
        ("caf\u00e9 \u2713".encode(), "caf\u00e9 \u2713"),
        (b"bad \xff byte", "bad \ufffd byte"),
    ],
)
def test_clean_shows_what_a_terminal_would(raw: bytes, shown: str) -> None:
    assert clean(raw) == shown


def test_lines_keep_their_raw_bytes(log: TaskLog) -> None:
    append(log.path, [(BASE, b"\x1b[32mok\x1b[0m\r")])
    (line,) = tail(log, 1)
    assert line.text == "ok"
    assert line.raw == b"\x1b[32mok\x1b[0m\r"
    assert line.ts == pytest.approx(BASE)
    assert line.stamp == "2023-11-14T22:13:20.000Z"


# Merge, since ---------------------------------------------------------------------------


def test_merge_orders_two_tasks_by_timestamp(tmp_path: Path) -> None:
    api = TaskLog("api", tmp_path / "api.log")
    web = TaskLog("web", tmp_path / "web.log")
    append(api.path, [(BASE + i * 0.002, f"api {i}") for i in range(100)])
    append(web.path, [(BASE + 0.001 + i * 0.002, f"web {i}") for i in range(100)])
    merged = list(merge([read_lines(api), read_lines(web)]))
    assert [line.ts for line in merged] == sorted(line.ts for line in merged)
    assert texts(merged[:4]) == ["api 0", "web 0", "api 1", "web 1"]
    recent = list(query([api, web], 3))
    assert [(x.task, x.text) for x in recent if x] == [
        ("web", "web 98"),
        ("api", "api 99"),
        ("web", "web 99"),
    ]


def test_merge_is_stable_for_equal_stamps(tmp_path: Path) -> None:
    one = TaskLog("one", tmp_path / "one.log")
    two = TaskLog("two", tmp_path / "two.log")
    append(one.path, [(BASE, "a"), (BASE, "b")])
    append(two.path, [(BASE, "c")])
    assert texts(merge([read_lines(one), read_lines(two)])) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("value", "ago"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), (" 1.5H ", 5400)]
)
def test_parse_since_durations(value: str, ago: float) -> None:
    assert parse_since(value, now=BASE) == pytest.approx(BASE - ago)


def test_parse_since_iso() -> None:
    assert parse_since("2023-11-14T22:13:20Z") == pytest.approx(BASE)
    assert parse_since("2023-11-14T23:13:20+01:00") == pytest.approx(BASE)
    with pytest.raises(UsageError):
        parse_since("yesterday")


def test_parse_since_before_1970_means_everything(log: TaskLog) -> None:
    assert parse_since("99999999999999999999999d", now=BASE) == 0.0
    assert parse_since("1900-01-01T00:00:00+00:00") == 0.0
    with pytest.raises(UsageError, match="out of range"):
        parse_since("0001-01-01")  # no local time that early
    append(log.path, [(BASE, "kept")])
    pattern = compile_pattern("kept")
    since = parse_since("99999999999999999999999d")
    assert _render(query([log], 10, pattern, since=since)) == ["kept"]


def test_since_filters_lines_across_files(log: TaskLog) -> None:
    _rotated_log(log)  # line i at BASE + i ms
    since = BASE + 0.0095
    assert texts(read_lines(log, since)) == [f"line {i}" for i in range(10, 19)]
    assert texts(read_lines(log, BASE + 1)) == []
    assert [x.text for x in query([log], 5, since=since) if x] == [
        f"line {i}" for i in range(14, 19)
    ]
    assert [x.text for x in query([log], 100, since=since) if x] == [
        f"line {i}" for i in range(10, 19)
    ]


# Grep -----------------------------------------------------------------------------------


def _grep_fixture(log: TaskLog) -> None:
    words = ["a", "b", "MATCH 1", "c", "d", "e", "f", "g", "MATCH 2", "h", "MATCH 3", "i", "j"]
    append(log.path, [(BASE + i, w) for i, w in enumerate(words)])


def _render(items: Iterator[Item]) -> list[str]:
    return ["--" if item is None else item.text for item in items]


def test_grep_with_context_gives_groups_and_separators(log: TaskLog) -> None:
    _grep_fixture(log)
    pattern = compile_pattern("MATCH")
    assert _render(query([log], 100, pattern, context=1)) == [
        "b", "MATCH 1", "c", "--", "g", "MATCH 2", "h", "MATCH 3", "i",
    ]  # fmt: skip
    assert _render(query([log], 100, pattern, context=0)) == [
        "MATCH 1", "--", "MATCH 2", "--", "MATCH 3",
    ]  # fmt: skip
    groups = grep(read_lines(log), pattern, context=2)
    assert [g.matched for g in groups] == [
        (False, False, True, False, False),
        (False, False, True, False, True, False, False),
    ]


def test_grep_adjacent_matches_have_no_separator(log: TaskLog) -> None:
    append(log.path, [(BASE + i, w) for i, w in enumerate(["x1", "x2", "y", "x3", "y", "y"])])
    pattern = compile_pattern("x")
    assert _render(query([log], 100, pattern)) == ["x1", "x2", "--", "x3"]
    assert _render(query([log], 100, pattern, context=1)) == ["x1", "x2", "y", "x3", "y"]


def test_grep_last_n_matches(log: TaskLog) -> None:
    _grep_fixture(log)
    pattern = compile_pattern("MATCH")
    assert _render(query([log], 1, pattern, context=1)) == ["h", "MATCH 3", "i"]
    assert _render(query([log], 2, pattern, context=1)) == [
        "g", "MATCH 2", "h", "MATCH 3", "i",
    ]  # fmt: skip
    assert _render(query([log], 0, pattern, context=1)) == []


def _reference_grep(words: list[str], needle: str, context: int, n: int) -> list[str]:
    """grep -C semantics restricted to the last n matches, computed the obvious way."""
    hits = [i for i, word in enumerate(words) if needle in word][-n:] if n else []
    shown = sorted(
        {j for i in hits for j in range(max(0, i - context), min(len(words), i + context + 1))}
    )
    if hits:  # context before the first kept match never reaches back over a dropped match
        dropped = [i for i, word in enumerate(words) if needle in word and i < hits[0]]
        if dropped:
            shown = [j for j in shown if j > dropped[-1]]
    out: list[str] = []
    for k, j in enumerate(shown):
        if k and j != shown[k - 1] + 1:
            out.append("--")
        out.append(words[j])
    return out


def test_grep_matches_a_reference_on_random_logs() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        words = [rng.choice(["hit", "miss", "miss", "miss"]) + str(i) for i in range(40)]
        lines = [LogLine("t", BASE + i, w, w.encode()) for i, w in enumerate(words)]
        context, n = rng.randint(0, 4), rng.randint(0, 12)
        groups = grep(lines, compile_pattern("hit"), context, last_matches=n)
        got = "\n--\n".join("\n".join(x.text for x in g.lines) for g in groups).split("\n")
        got = [] if got == [""] else got
        assert got == _reference_grep(words, "hit", context, n), (words, context, n)


def test_grep_last_n_stays_bounded_when_everything_matches() -> None:
    lines = (LogLine("t", BASE + i, f"x{i}", b"") for i in range(100_000))
    groups = grep(lines, compile_pattern("x"), context=3, last_matches=5)
    assert [line.text for g in groups for line in g.lines] == [
        f"x{i}" for i in range(99_995, 100_000)
    ]


def test_grep_invalid_regex_raises_invalid_pattern() -> None:
    with pytest.raises(InvalidPattern) as caught:
        compile_pattern("(")
    assert caught.value.exit_code == 2
    assert caught.value.code == "E601"
    assert "\n" not in caught.value.message


BACKTRACKS = "(a+)+$"  # against a long run of a's then b: the engine tries every split
BAIT = "a" * 5000 + "b"


def test_a_backtracking_pattern_runs_out_of_its_budget(log: TaskLog) -> None:
    append(log.path, [(BASE, "fine"), (BASE + 1, BAIT)])
    pattern = compile_pattern(BACKTRACKS, budget=0.1)
    started = time.monotonic()
    with pytest.raises(PatternTooSlow) as caught:
        list(query([log], 100, pattern))
    assert time.monotonic() - started < 3  # the budget, plus the engine's check interval
    assert (caught.value.code, caught.value.exit_code) == ("E602", 2)
    assert "took longer than 0.1s" in caught.value.message and BACKTRACKS in caught.value.message
    with pytest.raises(PatternTooSlow):  # spent: later searches refuse at once
        pattern.search("a")


def test_the_budget_is_shared_by_every_search_of_a_query() -> None:
    pattern = compile_pattern("x+y", budget=0.05)
    assert pattern.search("xxy") and pattern.spent > 0
    pattern.spent = 0.05
    with pytest.raises(PatternTooSlow):
        pattern.search("xxy")
    pattern.renew()
    assert pattern.search("xxy")


def test_the_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKMUX_GREP_BUDGET", "2.5")
    assert compile_pattern("a.b").budget == 2.5
    for bad in ("0", "-1", "nan", "inf", "soon"):
        monkeypatch.setenv("TASKMUX_GREP_BUDGET", bad)
        assert compile_pattern("a.b").budget == SEARCH_BUDGET


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        ("ERROR|WARN", "a WARN here", True),
        ("ERROR|WARN", "all good", False),
        ("GET /api", "GET /api/items", True),
        (r"\d{3} ms", "took 120 ms", True),
        (r"(?i)error", "ERROR", True),
        (r"^x", "yx", False),
    ],
)
def test_patterns_match_as_python_regexes(source: str, text: str, found: bool) -> None:
    import re

    assert bool(compile_pattern(source).search(text)) is found
    assert bool(re.search(source, text)) is found


def test_absurd_counts_mean_everything(log: TaskLog) -> None:
    append(log.path, numbered(1, 5))
    huge = 99999999999999999999
    assert _render(query([log], huge)) == [f"line {i}" for i in range(1, 6)]
    pattern = compile_pattern("line [24]")
    assert _render(query([log], huge, pattern, context=huge)) == texts(read_lines(log))
    assert last(read_lines(log), huge)[-1].text == "line 5"


# Follow ---------------------------------------------------------------------------------


class Collector:
    """Runs `follow_query` in a thread and collects what it yields."""

    def __init__(self, task_logs: list[TaskLog], n: int = 0, **kwargs: object) -> None:
        self.stop = threading.Event()
        self.items: list[Item] = []
        self.ready = threading.Event()
        self.stream = follow_query(task_logs, n, stop=self.stop, poll=0.02, **kwargs)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for item in self.stream:
            self.items.append(item)

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()

    def texts(self) -> list[str]:
        return ["--" if item is None else item.text for item in list(self.items)]


def test_follow_yields_backlog_then_appended_lines(log: TaskLog) -> None:
    append(log.path, numbered(1, 50))
    with Collector([log], n=5) as seen:
        assert wait_until(lambda: len(seen.items) == 5)
        append(log.path, numbered(51, 60))
        assert wait_until(lambda: len(seen.items) == 15)
    assert seen.texts() == [f"line {i}" for i in range(46, 61)]


def test_follow_waits_for_a_file_that_does_not_exist_yet(log: TaskLog) -> None:
    with Collector([log], n=10) as seen:
        append(log.path, numbered(1, 3))
        assert wait_until(lambda: len(seen.items) == 3)
    assert seen.texts() == ["line 1", "line 2", "line 3"]


def test_follow_holds_a_partial_line_until_it_ends(log: TaskLog) -> None:
    append(log.path, numbered(1, 1))
    with log.path.open("ab") as handle:
        handle.write(stamp(BASE) + b"half ")
    with Collector([log], n=10) as seen:
        assert wait_until(lambda: len(seen.items) == 1)
        with log.path.open("ab") as handle:
            handle.write(b"and half\n")
        assert wait_until(lambda: len(seen.items) == 2)
    assert seen.texts() == ["line 1", "half and half"]


def test_follow_survives_rotation_without_losing_lines(log: TaskLog) -> None:
    total = 3000
    with Collector([log], n=10) as seen:
        for first in range(1, total + 1, 100):
            append(log.path, numbered(first, first + 99))
            if first % 300 == 1:
                rotate(str(log.path), backups=50)
        assert wait_until(lambda: len(seen.items) >= total)
    assert seen.texts() == [f"line {i}" for i in range(1, total + 1)]


def test_follow_with_a_real_writer_rotating_fast(log: TaskLog) -> None:
    """The writer rotates every ~2 KB while follow polls: nothing lost, nothing repeated."""
    total = 5000
    with Collector([log], n=0) as seen:
        with Feed(log.path.parent.parent, log.task, max_bytes=2000, backups=400) as feed:
            for first in range(0, total, 50):
                feed.send(b"".join(b"n%d\n" % i for i in range(first, first + 50)))
            feed.wait_caught_up()
        assert wait_until(lambda: len(seen.items) >= total)
    assert seen.texts() == [f"n{i}" for i in range(total)]


def _rotate_during_walks(
    log: TaskLog, monkeypatch: pytest.MonkeyPatch, rotations: int, times: int
) -> list[int]:
    """Makes the reader's walk over the files slow: each of the next `times` times it
    opens FILE.1, the writer appends a line and rotates `rotations` times meanwhile."""
    written = [0]
    left = [times]
    real_open = snapshot._open_or_none

    def add_line() -> None:
        append(log.path, [(BASE + written[0] / 1000, f"n{written[0]}")])
        written[0] += 1

    def slow_open(path: Path) -> object:
        handle = real_open(path)
        if path.name.endswith(".1") and left[0] > 0:
            left[0] -= 1
            for _ in range(rotations):
                add_line()
                rotate(str(log.path), backups=50)
            add_line()
        return handle

    for _ in range(5):
        add_line()
        rotate(str(log.path), backups=50)
    add_line()
    monkeypatch.setattr(snapshot, "_open_or_none", slow_open)
    return written


def test_reading_is_in_order_when_rotations_outrun_the_walk(
    log: TaskLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _rotate_during_walks(log, monkeypatch, rotations=2, times=3)
    assert texts(read_lines(log)) == [f"n{i}" for i in range(written[0])]
    assert texts(tail(log, 100)) == [f"n{i}" for i in range(written[0])]


def test_follow_is_in_order_when_rotations_outrun_the_walk(
    log: TaskLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rotations while a poll walks the files (the CI failure: a later file's lines
    came before an earlier one's)."""
    append(log.path, [(BASE, "before")])
    follower = Follower([log])
    follower.close()  # only to release the snapshot; polled by hand below
    tracked = Tracked(log)
    tracked.attach(log.path.open("rb"), log.path.stat().st_size)
    rotate(str(log.path), backups=50)
    written = _rotate_during_walks(log, monkeypatch, rotations=2, times=4)
    seen: list[str] = []
    for _ in range(10):
        seen += texts(tracked.poll())
    tracked.close()
    assert seen == [f"n{i}" for i in range(written[0])]


def test_follow_with_few_backups_never_repeats_or_reorders(log: TaskLog) -> None:
    """Rotating faster than polls with 2 backups loses lines; what is read stays in order."""
    total = 3000
    with Collector([log], n=0) as seen:
        with Feed(log.path.parent.parent, log.task, max_bytes=500, backups=2) as feed:
            for first in range(0, total, 50):
                feed.send(b"".join(b"n%d\n" % i for i in range(first, first + 50)))
            feed.wait_caught_up()
        assert wait_until(lambda: seen.texts()[-1:] == [f"n{total - 1}"])
    numbers = [int(text[1:]) for text in seen.texts()]
    assert numbers == sorted(set(numbers))


def test_follow_starting_without_a_current_file(log: TaskLog) -> None:
    append(log.path, numbered(1, 3))
    rotate(str(log.path), backups=5)  # only FILE.1 exists
    with Collector([log], n=10) as seen:
        assert wait_until(lambda: len(seen.items) == 3)
        append(log.path, numbered(4, 5))
        rotate(str(log.path), backups=5)
        append(log.path, numbered(6, 6))
        assert wait_until(lambda: len(seen.items) == 6)
    assert seen.texts() == [f"line {i}" for i in range(1, 7)]


def test_follow_after_the_current_file_is_deleted_and_recreated(log: TaskLog) -> None:
    append(log.path, numbered(1, 3))
    rotate(str(log.path), backups=5)
    append(log.path, numbered(4, 5))
    with Collector([log], n=0) as seen:
        log.path.unlink()  # FILE.1 stays: read already, not repeated
        append(log.path, numbered(6, 7))
        assert wait_until(lambda: len(seen.items) == 2)
        holds_for(lambda: len(seen.items) <= 2, 0.1, interval=0.01)  # nothing repeated
    assert seen.texts() == ["line 6", "line 7"]


def test_follow_keeps_going_after_clear(log: TaskLog) -> None:
    append(log.path, numbered(1, 100))
    with Collector([log], n=0) as seen:
        clear(log)
        append(log.path, numbered(101, 102))
        assert wait_until(lambda: len(seen.items) == 2)
    assert seen.texts() == ["line 101", "line 102"]


def test_follow_notices_a_truncation_refilled_past_its_offset(log: TaskLog) -> None:
    append(log.path, numbered(1, 3))
    stop = threading.Event()
    safety = threading.Timer(10, stop.set)  # a bug would otherwise block next() forever
    safety.start()
    try:
        stream = follow([log], from_end_lines=0, stop=stop, poll=0.01)
        append(log.path, numbered(4, 4))
        assert next(stream).text == "line 4"
        # Emptied and refilled with more than was there, between two polls.
        log.path.write_bytes(b"")
        append(log.path, [(BASE + 5, "refilled " + "x" * 300), (BASE + 6, "next")])
        assert [next(stream).text[:8] for _ in range(2)] == ["refilled", "next"]
        stream.close()
    finally:
        safety.cancel()


def test_follow_merges_tasks_and_greps(tmp_path: Path) -> None:
    api = TaskLog("api", tmp_path / "api.log")
    web = TaskLog("web", tmp_path / "web.log")
    append(api.path, [(BASE, "old ERROR"), (BASE + 1, "old ok")])
    pattern = compile_pattern("ERROR")
    with Collector([api, web], n=10, pattern=pattern, context=0) as seen:
        assert wait_until(lambda: len(seen.items) == 1)
        append(web.path, [(BASE + 2, "fine"), (BASE + 3, "web ERROR")])
        append(api.path, [(BASE + 4, "api ERROR")])
        assert wait_until(lambda: len(seen.items) == 4)
    assert seen.texts() == ["old ERROR", "--", "web ERROR", "api ERROR"]
    assert [x.task for x in seen.items if x] == ["api", "web", "api"]


def test_follow_gives_each_live_line_a_fresh_budget(log: TaskLog) -> None:
    append(log.path, [(BASE, "old x1")])
    pattern = compile_pattern("x[0-9]", budget=0.5)
    with Collector([log], n=10, pattern=pattern, context=0) as seen:
        assert wait_until(lambda: len(seen.items) == 1)
        pattern.spent = pattern.budget  # as if the backlog had used it all up
        append(log.path, [(BASE + 1, "new x2")])
        assert wait_until(lambda: len(seen.items) == 3)
    assert seen.texts() == ["old x1", "--", "new x2"]


# Clear ----------------------------------------------------------------------------------


def test_clear_truncates_current_and_deletes_rotated(log: TaskLog) -> None:
    _rotated_log(log)
    cleared = clear(log)
    assert [p.name for p in cleared] == ["web.log.3", "web.log.2", "web.log.1", "web.log"]
    assert log.files() == [log.path]
    assert log.path.stat().st_size == 0
    assert clear(TaskLog("none", log.path.with_name("none.log"))) == []


# The CLI --------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, state_home: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "taskmux.toml").write_text(
        'name = "proj"\n\n[tasks.api]\ncommand = "true"\n\n[tasks.worker]\ncommand = "true"\n'
    )
    return root


def task_log(project: Path, task: str) -> Path:
    return ProjectPaths.for_config(project / "taskmux.toml").log_file(task)


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`taskmux ARGS` in the project: in this process (the CLI's own entry point), as
    conftest's `run_cli` runs it; the tests of a real process start `TASKMUX` below."""
    return run_cli(*args, cwd=project)


def test_cli_all_tasks_merged_with_padded_prefix(project: Path) -> None:
    append(task_log(project, "api"), [(BASE, "a1"), (BASE + 2, "\x1b[31ma2\x1b[0m")])
    append(task_log(project, "worker"), [(BASE + 1, "w1")])
    result = cli(project, "logs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["api    │ a1", "worker │ w1", "api    │ a2"]
    result = cli(project, "logs", "api", "-n", "1", "--timestamps")
    assert result.stdout == "2023-11-14T22:13:22.000Z a2\n"
    result = cli(project, "logs", "api", "-n", "1", "--raw")
    assert result.stdout == "\x1b[31ma2\x1b[0m\n"


def test_cli_n_is_exact_and_long_lines_stay_whole(project: Path) -> None:
    long_line = "z" * 300
    append(task_log(project, "api"), [*numbered(1, 200), (BASE + 1, long_line)])
    result = cli(project, "logs", "api", "-n", "10")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 10
    assert lines[-1] == long_line


def test_cli_json_is_one_document_like_a_page_after_a_cursor(project: Path) -> None:
    append(task_log(project, "worker"), [(BASE, "one"), (BASE + 1, "two")])
    result = cli(project, "logs", "--json")
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    assert (page["ok"], page["more"], page["lost"]) == (True, False, [])
    records = page["lines"]
    cursors = [record.pop("cursor") for record in records]  # tests/test_log_cursors.py
    assert all(isinstance(cursor, str) for cursor in cursors) and cursors[0] != cursors[1]
    assert page["next_cursor"] == cursors[-1]  # poll on with --after: only what is new
    append(task_log(project, "worker"), [(BASE + 2, "three")])
    newer = json.loads(cli(project, "logs", "--json", "--after", page["next_cursor"]).stdout)
    assert [record["line"] for record in newer["lines"]] == ["three"]
    assert records == [
        {"task": "worker", "ts": "2023-11-14T22:13:20.000Z", "line": "one"},
        {"task": "worker", "ts": "2023-11-14T22:13:21.000Z", "line": "two"},
    ]


def test_cli_grep_with_context_and_separators(project: Path) -> None:
    words = ["a", "b", "MATCH 1", "c", "d", "e", "f", "g", "MATCH 2", "h"]
    append(task_log(project, "api"), [(BASE + i, w) for i, w in enumerate(words)])
    result = cli(project, "logs", "api", "-g", "MATCH", "-C", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["b", "MATCH 1", "c", "--", "g", "MATCH 2", "h"]


def test_cli_invalid_regex_exits_2(project: Path) -> None:
    result = cli(project, "logs", "-g", "(")
    assert result.returncode == 2
    assert result.stderr.startswith("error[E601]: invalid regex")
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_cli_backtracking_regex_fails_within_its_budget(project: Path) -> None:
    append(task_log(project, "api"), [(BASE, "ok"), (BASE + 1, BAIT)])
    started = time.monotonic()
    result = run_cli("logs", "-g", BACKTRACKS, cwd=project, env={"TASKMUX_GREP_BUDGET": "0.1"})
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    assert result.stderr.startswith("error[E602]: pattern '(a+)+$' took longer than 0.1s")
    assert len(result.stderr.splitlines()) == 1


def test_cli_counts_are_checked(project: Path) -> None:
    append(task_log(project, "api"), numbered(1, 3))
    for args in (["-n", "-5"], ["-C", "-1", "-g", "x"]):
        result = cli(project, "logs", *args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("error[E100]: Invalid value for"), result.stderr
    huge = "99999999999999999999"
    result = cli(project, "logs", "api", "-n", huge)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["line 1", "line 2", "line 3"]
    result = cli(project, "logs", "api", "-n", huge, "-g", "line 2", "-C", huge)
    assert result.stdout.splitlines() == ["line 1", "line 2", "line 3"]
    result = cli(project, "events", "-n", "-5")
    assert (result.returncode, result.stderr.split(":")[0]) == (2, "error[E100]")
    assert cli(project, "events", "-n", huge, "--json").returncode == 0


def test_cli_unknown_task_and_bad_since_exit_2(project: Path) -> None:
    assert cli(project, "logs", "nope").returncode == 2
    result = cli(project, "logs", "--since", "lately")
    assert result.returncode == 2
    assert "E100" in result.stderr


def test_cli_since(project: Path) -> None:
    now = time.time()
    append(task_log(project, "api"), [(now - 7200, "old"), (now - 10, "new")])
    result = cli(project, "logs", "api", "--since", "5m")
    assert result.stdout.splitlines() == ["new"]


def test_cli_clear(project: Path) -> None:
    path = task_log(project, "api")
    append(path, [(BASE, "x")])
    append(path.with_name("api.log.1"), [(BASE, "y")])
    result = cli(project, "logs", "--clear", "api")
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout
    assert not path.with_name("api.log.1").exists()
    assert cli(project, "logs", "api").stdout == ""


def test_cli_follow_prints_new_lines_and_ctrl_c_exits_0(project: Path) -> None:
    path = task_log(project, "worker")
    append(path, [(BASE, "before")])
    proc = subprocess.Popen(
        [TASKMUX, "logs", "-f", "-n", "1"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "worker │ before\n".encode()
        append(path, [(BASE + 1, "after")])
        assert proc.stdout.readline() == "worker │ after\n".encode()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
