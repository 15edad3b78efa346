"""Log cursors (SPEC §10): a read that resumes where the last one stopped, across rotation,
`--clear` and several tasks; the pure cursor text by tables, the readers against the real
log writer (in-process and as a process), and the CLI on a private tmux server."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from harness import Project, project, wait_until
from spool_feed import Feed

from taskmux.errors import InvalidCursor
from taskmux.logs.after import read_after
from taskmux.logs.clear import clear
from taskmux.logs.cursors import Mark, decode_cursor, encode_cursor, line_cursor
from taskmux.logs.lines import Item, LogLine, TaskLog
from taskmux.logs.logwriter import LogWriter
from taskmux.logs.query import follow_after, follow_query, query
from taskmux.logs.reading import tail
from taskmux.logs.search import compile_pattern

__all__ = ["project"]


def numbers(lines: tuple[Item, ...] | list[Item]) -> list[int]:
    """The numbers of lines written as `TASK N ...`."""
    return [int(line.text.split()[1]) for line in lines if line is not None]


class Task:
    """One task's log written by the real writer (in this process: deterministic)."""

    def __init__(self, root: Path, name: str, max_bytes: int = 1 << 20, backups: int = 3) -> None:
        self.name = name
        self.log = TaskLog(name, root / "logs" / f"{name}.log")
        self.writer = LogWriter(str(self.log.path), max_bytes, backups)
        self.count = 0

    def write(self, lines: int = 1, width: int = 20) -> list[int]:
        written = []
        for _ in range(lines):
            self.writer.write(f"{self.name} {self.count} {'x' * width}\n".encode(), time.time())
            written.append(self.count)
            self.count += 1
        return written


# The cursor text -----------------------------------------------------------------------


def test_a_cursor_round_trips_and_is_shell_safe() -> None:
    marks = {"api": Mark(123456, 789, "ab12cd34ef56"), "web-2": Mark()}
    text = encode_cursor(marks.items())
    assert decode_cursor(text) == marks
    assert text.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize(
    "text",
    [
        "nonsense!",
        "",
        encode_cursor([]).replace("M", "N"),  # another version
        "MjthcGksMSwy",  # "2;api,1,2"
        "MTthcGks",  # "1;api," : too few fields
        "MTthcGkseiwxLGFi",  # "1;api,z,1,ab": not hexadecimal
    ],
)
def test_what_is_not_a_cursor_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor(text)
    assert caught.value.code == "E603" and caught.value.exit_code == 2


# Reading after a cursor ----------------------------------------------------------------


def test_each_poll_returns_exactly_what_is_new(tmp_path: Path) -> None:
    task = Task(tmp_path, "api")
    first = read_after([task.log], "end")
    assert first.lines == () and not first.more and first.lost == ()
    task.write(3)
    page = read_after([task.log], first.cursor)
    assert numbers(page.lines) == [0, 1, 2] and not page.more
    again = read_after([task.log], page.cursor)
    assert again.lines == () and again.cursor == page.cursor  # nothing new: same place
    task.write(2)
    assert numbers(read_after([task.log], page.cursor).lines) == [3, 4]
    assert numbers(read_after([task.log], "start").lines) == [0, 1, 2, 3, 4]
    assert numbers(read_after([task.log], None).lines) == [0, 1, 2, 3, 4]


def test_a_task_without_a_log_yet_is_read_from_its_start(tmp_path: Path) -> None:
    log = TaskLog("late", tmp_path / "logs" / "late.log")
    empty = read_after([log], "start")
    assert empty.lines == () and empty.lost == ()
    task = Task(tmp_path, "late")
    task.write(2)
    assert numbers(read_after([log], empty.cursor).lines) == [0, 1]


def test_the_limit_pages_without_gaps(tmp_path: Path) -> None:
    task = Task(tmp_path, "api")
    task.write(25)
    cursor, seen, pages = "start", [], 0
    while True:
        page = read_after([task.log], cursor, limit=10)
        seen += numbers(page.lines)
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            break
    assert seen == list(range(25)) and pages == 3
    budget = read_after([task.log], "start", limit=100, max_bytes=100)
    assert numbers(budget.lines) == [0, 1, 2, 3] and budget.more  # 27 bytes a line: 108
    assert read_after([task.log], "start", limit=0).lines == ()


def test_rotation_between_reads_loses_and_repeats_nothing(tmp_path: Path) -> None:
    task = Task(tmp_path, "api", max_bytes=2000, backups=3)
    rng = random.Random(7)
    cursor, seen = read_after([task.log], "end").cursor, []
    rotations = 0
    for _ in range(300):
        before = task.log.files()[-1].stat().st_ino if task.log.files() else None
        task.write(rng.randint(0, 40), width=rng.randint(0, 60))  # up to ~2 rotations
        rotations += before is not None and task.log.path.stat().st_ino != before
        page = read_after([task.log], cursor, limit=rng.choice([3, 50, 1000]))
        assert page.lost == ()
        seen += numbers(page.lines)
        cursor = page.cursor
        while page.more:
            page = read_after([task.log], cursor, limit=1000)
            seen += numbers(page.lines)
            cursor = page.cursor
    assert rotations > 50
    assert seen == list(range(task.count))


def test_a_cursor_whose_file_is_gone_gives_everything_kept_and_says_so(tmp_path: Path) -> None:
    task = Task(tmp_path, "api", max_bytes=500, backups=1)
    task.write(3)
    cursor = read_after([task.log], "start").cursor
    task.write(100)  # many rotations: the cursor's file is long gone
    page = read_after([task.log], cursor, limit=1000)
    assert page.lost == ("api",)
    assert numbers(page.lines) == numbers(read_after([task.log], "start", 1000).lines)
    assert numbers(page.lines)[-1] == 102 and numbers(page.lines)[0] > 3
    assert read_after([task.log], page.cursor).lost == ()  # the next cursor is good


def test_clear_then_new_lines(tmp_path: Path) -> None:
    task = Task(tmp_path, "api", max_bytes=400, backups=2)
    task.write(30)
    cursor = read_after([task.log], "start", 1000).cursor
    clear(task.log)
    task.write(2)
    page = read_after([task.log], cursor)
    assert page.lost == ("api",) and numbers(page.lines) == [30, 31]
    clear(task.log)
    task.log.path.unlink()
    gone = read_after([task.log], page.cursor)
    assert gone.lines == () and gone.lost == ("api",)


def test_a_line_still_being_written_comes_once_complete(tmp_path: Path) -> None:
    task = Task(tmp_path, "api")
    task.write(1)
    task.writer.write(b"prompt> ", time.time())
    page = read_after([task.log], "start")
    assert [line.text for line in page.lines] == ["api 0 " + "x" * 20]
    shown = tail(task.log, 5)
    assert shown[-1].text == "prompt> " and shown[-1].partial  # shown by tail, as partial
    assert not any(line.partial for line in shown[:-1])
    task.writer.write(b"yes\n", time.time())
    (line,) = read_after([task.log], page.cursor).lines
    assert line is not None and line.text == "prompt> yes" and not line.partial
    assert not tail(task.log, 1)[0].partial


def test_json_marks_a_line_still_being_written(project: Project) -> None:
    """An agent can tell the prompt it sees is not a whole line yet: `partial`, and its
    cursor is its own start (a read after it gives nothing until the line ends)."""
    project.write(
        """
        [tasks.ask]
        command = "echo first; printf 'prompt> '; exec sleep 300"
        """
    )
    assert project.run("start").returncode == 0
    log = project.paths.log_file("ask")
    wait_until(lambda: log.exists() and log.read_bytes().endswith(b"prompt> "), timeout=15)
    lines = project.json("logs", "ask", "-n", "5")["lines"]
    assert [(r["line"], r.get("partial", False)) for r in lines] == [
        ("first", False),
        ("prompt> ", True),
    ]
    assert project.json("logs", "ask", "--after", lines[-1]["cursor"])["lines"] == []


def test_with_a_pattern_non_matching_lines_are_passed_over(tmp_path: Path) -> None:
    task = Task(tmp_path, "api")
    for i in range(12):
        task.writer.write(f"api {i} {'ERROR' if i % 4 == 3 else 'ok'}\n".encode(), time.time())
    pattern = compile_pattern("ERROR")
    page = read_after([task.log], "start", limit=2, pattern=pattern)
    assert numbers(page.lines) == [3, 7] and page.more
    rest = read_after([task.log], page.cursor, limit=2, pattern=pattern)
    assert numbers(rest.lines) == [11] and not rest.more
    task.writer.write(b"api 12 ok\napi 13 ok\n", time.time())
    quiet = read_after([task.log], rest.cursor, pattern=pattern)
    assert quiet.lines == ()
    task.writer.write(b"api 14 ERROR\napi 15 ok\n", time.time())
    context = read_after([task.log], quiet.cursor, pattern=pattern, context=1)
    assert numbers(context.lines) == [14, 15]  # context never reaches before the cursor


def test_several_tasks_share_one_cursor(tmp_path: Path) -> None:
    api, web, db = Task(tmp_path, "api"), Task(tmp_path, "web"), Task(tmp_path, "db")
    api.write(2)
    web.write(1)
    both = [api.log, web.log]
    page = read_after(both, "start")
    assert sorted(
        (line.task, n) for line, n in zip(page.lines, numbers(page.lines), strict=True)
    ) == [
        ("api", 0),
        ("api", 1),
        ("web", 0),
    ]
    web.write(1)
    api.write(1)
    page = read_after(both, page.cursor)
    assert {(line.task, n) for line, n in zip(page.lines, numbers(page.lines), strict=True)} == {
        ("web", 1),
        ("api", 2),
    }
    api.write(1)
    only_api = read_after([api.log], page.cursor)  # web keeps its place in the cursor
    assert numbers(only_api.lines) == [3]
    web.write(1)
    db.write(1)  # a task the cursor does not cover: read from its start
    page = read_after([api.log, web.log, db.log], only_api.cursor)
    assert sorted(
        (line.task, n) for line, n in zip(page.lines, numbers(page.lines), strict=True)
    ) == [
        ("db", 0),
        ("web", 2),
    ]


def test_per_line_cursors_resume_right_after_their_line(tmp_path: Path) -> None:
    api, web = Task(tmp_path, "api"), Task(tmp_path, "web")
    for _ in range(6):
        api.write(1)
        web.write(1)
        now = time.time()  # distinct stamps, so the merged order is the write order
        wait_until(lambda now=now: time.time() >= now + 0.002, interval=0.001)
    for pattern in (None, compile_pattern("[02468] x")):
        for logset in ([api.log], [api.log, web.log]):
            shown = [
                line for line in query(logset, 5, pattern, 0, cursors=True) if line is not None
            ]
            everything = [line for line in read_after(logset, "start", 1000).lines]
            order = [(line.task, line.text) for line in everything if line is not None]
            for line in shown:
                cursor = line_cursor(line)
                assert cursor is not None
                rest = read_after(logset, cursor, 1000).lines
                after = order[order.index((line.task, line.text)) + 1 :]
                assert [(r.task, r.text) for r in rest if r is not None] == after


def test_follow_lines_carry_cursors_and_follow_resumes_after_one(tmp_path: Path) -> None:
    api, web = Task(tmp_path, "api"), Task(tmp_path, "web")
    api.write(2)
    stop = threading.Event()
    items = follow_query([api.log, web.log], 10, cursors=True, poll=0.01, stop=stop)
    got: list[LogLine] = []

    def collect() -> None:
        for item in items:
            if item is not None:
                got.append(item)

    thread = threading.Thread(target=collect)
    thread.start()
    try:
        web.write(1)
        api.write(1)
        assert wait_until(lambda: len(got) == 4, timeout=5)
    finally:
        stop.set()
        thread.join(5)
    web.write(1)
    cursor = line_cursor(got[2])  # the first live line
    assert cursor is not None
    rest = read_after([api.log, web.log], cursor)
    seen = {(line.task, n) for line, n in zip(rest.lines, numbers(rest.lines), strict=True)}
    assert seen == {(got[3].task, numbers([got[3]])[0]), ("web", 1)}

    live, lost = follow_after([api.log, web.log], cursor, poll=0.01, stop=stop)
    stop.clear()
    resumed: list[Item] = []
    thread = threading.Thread(target=lambda: resumed.extend(live))
    thread.start()
    try:
        api.write(1)
        assert wait_until(lambda: len(resumed) == 3, timeout=5)
    finally:
        stop.set()
        thread.join(5)
    assert lost == () and numbers(resumed)[-1] == 3


def test_a_real_writer_rotating_under_a_poller(tmp_path: Path) -> None:
    """The collector as a process, rotating every few lines, while a poller reads with
    cursors: every line exactly once, in order."""
    log = TaskLog("fast", tmp_path / "logs" / "fast.log")
    total = 20_000
    with Feed(tmp_path, "fast", max_bytes=4000, backups=20) as feed:
        cursor, seen = "start", []
        for start in range(0, total, 500):
            feed.send(b"".join(b"fast %d\n" % i for i in range(start, start + 500)))
            deadline = time.monotonic() + 30
            while len(seen) < start + 500:  # reads race the collector's rotations
                assert time.monotonic() < deadline, f"stuck at {len(seen)}"
                page = read_after([log], cursor, limit=300)
                assert page.lost == ()
                seen += numbers(page.lines)
                cursor = page.cursor
        feed.wait_caught_up()
        while True:
            page = read_after([log], cursor, limit=5000)
            seen += numbers(page.lines)
            cursor = page.cursor
            if not page.more:
                break
        assert seen == list(range(total))


# Through the CLI, on a real tmux server ------------------------------------------------


def _last_number(log: Path) -> int:
    """The number on the talker's last complete line in its current log file (-1: none)."""
    try:
        data = log.read_bytes()
    except OSError:
        return -1
    for line in reversed(data[: data.rfind(b"\n")].splitlines()[-5:]):
        words = line.split()
        if len(words) >= 3 and words[1] == b"talker" and words[2].isdigit():
            return int(words[2])
    return -1


def _json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The lines of a `logs --json` page (one document, as with --after)."""
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    assert set(page) == {"ok", "lines", "next_cursor", "more", "lost"}, page
    return list(page["lines"])


TALKER = """
import time
for i in range(1_000_000):
    print(f"talker {i} " + "y" * 40, flush=True)
    time.sleep(0.002 if i % 40 else 0.05)
"""


def test_logs_after_through_the_cli_before_and_after_rotation(project: Project) -> None:
    (project.root / "talker.py").write_text(TALKER)
    project.write(
        """
        log_max_size_mb = 0.002
        log_backups = 50
        [tasks.talker]
        command = "python3 talker.py"
        [tasks.quiet]
        command = "sleep 300"
        """
    )
    assert project.run("start").returncode == 0
    wait_until(lambda: len(_json_lines(project.run("logs", "talker", "--json", "-n", "3"))) == 3)

    first = _json_lines(project.run("logs", "talker", "--json", "-n", "3"))
    assert len(first) == 3 and all(isinstance(r["cursor"], str) for r in first)
    # The last line may still be being written: `logs` shows it, and its cursor is its own
    # start, so `--after` gives it again once complete (docs: "never comes in halves").
    # The line before it is complete: paging goes on from there.
    cursor = first[-2]["cursor"]
    seen = [int(r["line"].split()[1]) for r in first[:-1]]
    folder = project.paths.log_file("talker").parent

    def rotations() -> int:
        return len(list(folder.glob("talker.log.*")))

    wanted = rotations() + 3
    deadline = time.monotonic() + 60
    while rotations() < wanted or len(seen) < 150:
        assert time.monotonic() < deadline, "the talker's log stopped rotating"
        page = project.json("logs", "talker", "--after", cursor)
        assert page["ok"] and page["lost"] == [] and set(page) >= {"lines", "next_cursor", "more"}
        seen += [int(r["line"].split()[1]) for r in page["lines"]]
        cursor = page["next_cursor"]
        # An agent's pace: the next read waits for new output (some have rotations between).
        last = seen[-1] if seen else -1
        wait_until(
            lambda last=last: _last_number(project.paths.log_file("talker")) > last + 10,
            interval=0.05,
        )
    assert seen == list(range(seen[0], seen[0] + len(seen)))

    merged = project.json("logs", "--after", "end")
    assert merged["lines"] == [] and merged["more"] is False

    def matches() -> list[dict[str, Any]]:
        page = project.json("logs", "--after", merged["next_cursor"], "-g", "talker [0-9]*5 ")
        return list(page["lines"])

    found = wait_until(matches)
    hits = [r for r in found if r["match"]]  # and -C 3 lines of context around them
    assert hits and all(r["task"] == "talker" and r["line"].split()[1][-1] == "5" for r in hits)

    plain = project.run("logs", "talker", "--after", cursor)
    assert plain.returncode == 0 and "next cursor: " in plain.stderr
    bad = project.run("logs", "--after", "garbage!")
    assert bad.returncode == 2 and "error[E603]" in bad.stderr
    mixed = project.run("logs", "--after", "end", "--since", "5m")
    assert mixed.returncode == 2 and "error[E100]" in mixed.stderr
