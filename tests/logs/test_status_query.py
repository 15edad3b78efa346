"""The question a task's waiting shell asks tmux (`ESC [5n`, runtime/taskcmd.py) passes
through the pane's pipe: it is not the task's output, and the log leaves it out."""

from __future__ import annotations

from pathlib import Path

from spool_feed import Feed

from taskmux.logs import collector
from taskmux.logs.lines import TaskLog
from taskmux.logs.reading import read_lines
from taskmux.runtime.taskcmd import pane_command


def test_the_waiter_asks_exactly_what_the_collector_removes() -> None:
    printed = pane_command("true").split("printf '", 1)[1].split("'", 1)[0]
    assert printed.encode().decode("unicode_escape").encode() == collector.STATUS_QUERY


def test_the_status_query_never_reaches_the_log(tmp_path: Path) -> None:
    with Feed(tmp_path, "t") as feed:
        feed.send(b"first run\r\nlast line\r\n" + collector.STATUS_QUERY)
        feed.send(b"next run\r\n\x1b[31mred\x1b[0m\r\n")
        feed.wait_caught_up()
    log = TaskLog("t", tmp_path / "logs" / "t.log")
    assert [line.text for line in read_lines(log)] == [
        "first run",
        "last line",
        "next run",
        "red",
    ]
    assert collector.STATUS_QUERY not in (tmp_path / "logs" / "t.log").read_bytes()


def test_a_query_cut_by_a_batch_is_still_left_out(tmp_path: Path) -> None:
    """The collector reads the spool `BATCH` bytes at a time: a query that straddles the
    end of one batch is read whole with the next."""
    head = b"x" * (collector.BATCH - 2 - 2) + b"\r\n"  # the batch ends two bytes into it
    with Feed(tmp_path, "t") as feed:
        feed.send(head + collector.STATUS_QUERY + b"after\r\n")
        feed.wait_caught_up()
    raw = (tmp_path / "logs" / "t.log").read_bytes()
    assert b"\x1b" not in raw and raw.endswith(b"after\r\n")
