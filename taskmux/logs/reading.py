"""Reading a task's log, or several merged by time: the last lines, or every line.

Every read first has the spools caught up (`catch_up`), so a collector that is slow or
not running hides no line. Nothing here prints; every reader returns `LogLine`s.

The lean `logs -n N` path and the service's `logs` operation read through the same
function, `tail_lines`; so this module imports only cheap standard-library modules
(no dataclasses, no `typing` at run time).
"""

from __future__ import annotations

import heapq
import os
import sys
from collections import deque

from taskmux.logs.cursors import Track
from taskmux.logs.lines import PREFIX_LEN, STAMP_LEN, LogLine, TaskLog, format_stamp, to_line
from taskmux.logs.snapshot import (
    START,
    Part,
    Position,
    Source,
    end_of,
    last_stamp,
    open_all,
    parts_of,
    tail_region,
)

TYPE_CHECKING = False  # `typing` costs an import on a lean `logs` read; mypy reads this
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path
    from typing import BinaryIO


def catch_up(logs: Iterable[TaskLog], wait: float | None = None) -> None:
    """Have what the tasks printed so far moved from their spools into the log files
    (see `spool.catch_up`); logs outside a state folder with spools are left as they are."""
    roots: dict[Path, list[str]] = {}
    for log in logs:
        root = log.path.parent.parent
        roots.setdefault(root, []).append(log.task)
    for root, tasks in roots.items():
        if not os.path.isdir(root / "spool"):
            continue
        from taskmux.logs import spool

        spool.catch_up(root, tasks, spool.CATCH_UP_WAIT if wait is None else wait)


# The last lines ----------------------------------------------------------------------


def tail_parts(task: str, parts: list[Part], n: int) -> tuple[Source, list[LogLine]]:
    """The last n lines across the parts (oldest first), each with the position after it,
    and the source they make (a line still being written ends at its own start)."""
    picked: list[tuple[Part, list[bytes], int, bool]] = []
    wanted = n
    for part in reversed(parts):
        if wanted <= 0:
            break
        lines, start, terminated = tail_region(part.handle.fileno(), part.end, wanted)
        picked.append((part, lines, start, terminated))
        wanted -= len(lines)
    source = Source(task, START, end_of(parts))
    result: list[LogLine] = []
    last_ts = 0.0
    newest = parts[-1] if parts else None
    for part, lines, start, terminated in reversed(picked):
        if source.first is None and lines:
            source.first = Position(part.file, start)
        offset = start
        for index, line in enumerate(lines):
            begin = offset
            offset += len(line)
            growing = False
            if index < len(lines) - 1 or terminated:
                offset += 1
                pos = Position(part.file, offset)
            else:  # unterminated: still growing if newest, else finished
                growing = part is newest
                pos = Position(part.file, begin if growing else offset)
            parsed = to_line(task, line, last_ts, pos)
            parsed.partial = growing
            last_ts = parsed.ts
            result.append(parsed)
    source.produced = len(result)
    source.exhausted = True
    if source.first is None:
        source.start = source.end
    return source, result


def tail_lines(
    logs: list[TaskLog],
    n: int,
    since: float | None = None,
    cursors: bool = False,
    wait: float | None = None,
) -> list[LogLine]:
    """The last n lines of the tasks' logs merged by time, oldest first (only those
    stamped at/after `since`), read from the end across rotated files once their spools
    are caught up (`wait`: seconds to wait for a running collector, default 1).

    With `cursors` and more than one log, each line carries a cursor over every task
    (`cursors.line_cursor`); a single task's lines always carry their own `pos`."""
    catch_up(logs, wait)
    tails = []
    for log in logs:
        handles = open_all(log)
        try:
            tails.append(tail_parts(log.task, parts_of(handles, complete_newest=False), n))
        finally:
            for handle in handles:
                handle.close()
    merged: Iterable[LogLine] = merge([lines for _, lines in tails])
    if cursors and len(logs) > 1:
        merged = Track([source for source, _ in tails]).follow(merged)
    if since is not None:
        merged = (line for line in merged if line.ts >= since)
    return last(merged, n)


def tail(log: TaskLog, n: int) -> list[LogLine]:
    """The last n lines of a task's log (reading from the end, spanning rotated files)."""
    return tail_lines([log], n)


# Every line --------------------------------------------------------------------------


def since_key(since: float | None) -> bytes:
    return format_stamp(since).encode() if since is not None else b""


def forward(
    source: Source, start_index: int, offset: int, key: bytes, growing: bool
) -> Iterator[LogLine]:
    """The source's lines from `offset` in part `start_index` on, stamped at/after `key`,
    each with the position after it (with `growing`, a partial last line of the newest
    part ends at its own start). Marks the source exhausted at the end."""
    last_ts = 0.0
    parts = source.parts
    for index in range(start_index, len(parts)):
        part = parts[index]
        if key and last_stamp(part.handle) < key:
            continue  # the whole file is older than `since`
        begin = offset if index == start_index else 0
        if begin >= part.end:
            continue
        cut = growing and index == len(parts) - 1
        handle = part.handle
        handle.seek(begin)
        position = begin
        for chunk in handle:
            if position >= part.end:
                break
            if position + len(chunk) > part.end:
                chunk = chunk[: part.end - position]
            line_start = position
            position += len(chunk)
            terminated = chunk.endswith(b"\n")
            line = chunk[:-1] if terminated else chunk
            stamped = len(line) >= PREFIX_LEN and line[23:25] == b"Z "
            if key and (line[:STAMP_LEN] < key if stamped else last_ts == 0.0):
                continue
            end = line_start if cut and not terminated else position
            parsed = to_line(source.task, line, last_ts, Position(part.file, end))
            last_ts = parsed.ts
            if source.first is None:
                source.first = Position(part.file, line_start)
            source.produced += 1
            yield parsed
    source.exhausted = True


def reader(
    task: str, handles: list[BinaryIO], since: float | None, complete: bool
) -> tuple[Source, Iterator[LogLine]]:
    """Every line of the handles (oldest first; only those >= `since`) and their source,
    which owns the handles: the caller closes it."""
    parts = parts_of(handles, complete_newest=complete)
    start = Position(parts[0].file, 0) if parts else START
    source = Source(task, start, end_of(parts), parts)
    return source, forward(source, 0, 0, since_key(since), not complete)


def read_lines(log: TaskLog, since: float | None = None) -> Iterator[LogLine]:
    """Every line of a task's log, oldest first across rotated files; only those >= `since`."""
    catch_up([log])
    source, lines = reader(log.task, open_all(log), since, complete=False)
    try:
        yield from lines
    finally:
        source.close()


def merge(streams: Iterable[Iterable[LogLine]]) -> Iterator[LogLine]:
    """Lines of several tasks in timestamp order (stable: equal stamps keep stream order)."""
    return heapq.merge(*streams, key=lambda line: line.ts)


def last(lines: Iterable[LogLine], n: int) -> list[LogLine]:
    return list(deque(lines, maxlen=count(n))) if n > 0 else []


def count(n: int) -> int:
    """A line count as a deque takes it: more lines than memory can hold means all of them
    (`-n 99999999999999999999` shows the whole log, as `tail` does)."""
    return max(0, min(n, sys.maxsize))
