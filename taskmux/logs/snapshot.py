"""A task's log files opened as they all were at one moment, and places in them.

Readers (`reading.py`, `cursors.py`, `follow.py`) never walk the rotated files on their
own: they take a snapshot here (`open_all`), turn it into parts (`parts`: each file with
how much of it to read), and name places with `Position`s, which survive rotation.

On the path of a lean `logs` read: cheap standard-library imports only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from taskmux.logs.lines import STAMP_LEN, rotations

TYPE_CHECKING = False  # `typing` costs an import on a lean `logs` read; mypy reads this
if TYPE_CHECKING:
    from typing import BinaryIO

    from taskmux.logs.lines import TaskLog

_BLOCK = 1 << 16
SNAPSHOT_TRIES = 200  # for one-off reads (tail, read_lines, the follow snapshot)
POLL_TRIES = 5  # per poll when following: the next poll simply tries again


# Opening a consistent set of files ---------------------------------------------------
#
# A rotation renames FILE.N-1 → FILE.N, …, FILE.1 → FILE.2, then FILE → FILE.1, one
# rename at a time, and the writer then creates a new FILE. At any single instant the
# names are therefore ordered by age (a higher number is older; a name may be missing
# mid-rotation), but a walk over the names takes time, and a walk outrun by two or more
# rotations (a loaded machine, a writer rotating every few KB) sees a newer file at a
# higher number than an older one: files come out swapped, twice, or not at all.
#
# So a walk is checked: every name is opened (the open handles keep the inode numbers
# from being reused), then every name is looked at again, and the walk is accepted only
# if each name still holds the file (or the absence) it held when opened. A file only
# ever moves to a higher number, so a file found at the same name twice stayed there in
# between; and as every name's interval contains the moment between the two passes, the
# accepted walk is exactly the state of the directory at that moment, hence in order.
# Otherwise the walk is retried; `snapshot` gives up (None) if rotations keep beating it.


def _rotated(log: TaskLog, number: int) -> Path:
    return log.path if number == 0 else Path(f"{log.path}.{number}")


def _walk(log: TaskLog, stop_inode: int) -> tuple[list[tuple[int, BinaryIO | None, int]], bool]:
    """Open FILE, FILE.1, FILE.2, … upwards (up to the file `stop_inode` if met), then
    check each name again. Returns (number, handle or None, inode or -1) for every name
    walked, and whether the second look matched the first."""
    walked: list[tuple[int, BinaryIO | None, int]] = []
    number, top = 0, _top_rotation(log)
    while True:
        if number > top:
            top = _top_rotation(log)  # rotations during the walk push files upwards
            if number > top:
                break
        handle = _open_or_none(_rotated(log, number))
        inode = os.fstat(handle.fileno()).st_ino if handle is not None else -1
        walked.append((number, handle, inode))
        number += 1
        if handle is not None and inode == stop_inode:
            break
    for number, _, inode in walked:
        try:
            now = os.stat(_rotated(log, number)).st_ino
        except FileNotFoundError:
            now = -1
        if now != inode:
            return walked, False
    return walked, True


def snapshot(log: TaskLog, tries: int, stop_inode: int = -1) -> list[BinaryIO] | None:
    """The log's files open, oldest first, as they all were at one moment; the walk stops
    at (and includes) the file `stop_inode` when met. None if no walk in `tries` was
    consistent (the files rotate faster than they can be walked)."""
    for attempt in range(tries):
        walked, consistent = _walk(log, stop_inode)
        if consistent:
            return [handle for _, handle, _ in reversed(walked) if handle is not None]
        for _, handle, _ in walked:
            if handle is not None:
                handle.close()
        time.sleep(min(0.0005 * attempt, 0.01))  # let the writer get ahead, then look again
    return None


def open_all(log: TaskLog) -> list[BinaryIO]:
    """Open every file of the log, oldest first, as they were at one moment.

    If rotations keep outrunning the walk for a while, falls back to a last unchecked
    walk (only possible while the writer rotates continuously, faster than a walk).
    """
    handles = snapshot(log, SNAPSHOT_TRIES)
    if handles is not None:
        return handles
    walked, _ = _walk(log, -1)
    result: list[BinaryIO] = []
    inodes: set[int] = set()
    for _, handle, inode in reversed(walked):
        if handle is None:
            continue
        if inode in inodes:
            handle.close()
        else:
            inodes.add(inode)
            result.append(handle)
    return result


def _open_or_none(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def _top_rotation(log: TaskLog) -> int:
    """The highest N for which `FILE.N` exists (0 if none)."""
    try:
        names = os.listdir(log.path.parent)
    except FileNotFoundError:
        return 0
    return max((number for number, _ in rotations(log.path.name, names)), default=0)


# Positions ---------------------------------------------------------------------------
#
# A cursor must name a place in a task's log that survives rotation: a byte offset in a
# file, the file named by its inode (a rename keeps it) and its first bytes (which tell it
# from a later file given the same inode, or from itself emptied by `logs --clear`).

FINGERPRINT_BYTES = 64


class LogFile:
    """One file of a task's log as a reader met it: its inode and its first bytes."""

    __slots__ = ("head", "inode")

    def __init__(self, inode: int, head: bytes) -> None:
        self.inode = inode
        self.head = head

    @classmethod
    def of(cls, handle: BinaryIO) -> LogFile:
        fd = handle.fileno()
        return cls(os.fstat(fd).st_ino, os.pread(fd, FINGERPRINT_BYTES, 0))


class Position:
    """Just after the first `offset` bytes of `file`; `file` None: before everything."""

    __slots__ = ("file", "offset")

    def __init__(self, file: LogFile | None, offset: int) -> None:
        self.file = file
        self.offset = offset

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Position):
            return NotImplemented
        return (self.file, self.offset) == (other.file, other.offset)

    def __hash__(self) -> int:
        return hash((self.file, self.offset))

    def __repr__(self) -> str:
        inode = None if self.file is None else self.file.inode
        return f"Position(inode={inode}, offset={self.offset})"


START = Position(None, 0)


class Part:
    """One file of a snapshot of a task's log, and how many of its bytes to read."""

    __slots__ = ("end", "file", "handle")

    def __init__(self, handle: BinaryIO, file: LogFile, end: int) -> None:
        self.handle = handle
        self.file = file
        self.end = end


def parts_of(handles: list[BinaryIO], complete_newest: bool) -> list[Part]:
    """Parts for handles given oldest first; with `complete_newest`, the newest file is
    read only up to its last complete line (a partial one is still being written)."""
    found = []
    for index, handle in enumerate(handles):
        size = os.fstat(handle.fileno()).st_size
        if complete_newest and index == len(handles) - 1:
            size = complete_end(handle.fileno(), size)
        found.append(Part(handle, LogFile.of(handle), size))
    return found


def end_of(parts: list[Part]) -> Position:
    """Past the last complete line of the newest part (where a later read goes on)."""
    if not parts:
        return START
    newest = parts[-1]
    return Position(newest.file, complete_end(newest.handle.fileno(), newest.end))


class Source:
    """One task's lines as a reader gives them, for a cursor that tracks what was read:
    where the read started, where it ends, how far it got. It owns its parts' handles."""

    __slots__ = ("end", "exhausted", "first", "lost", "parts", "produced", "start", "task")

    def __init__(
        self,
        task: str,
        start: Position,
        end: Position,
        parts: list[Part] | None = None,
        lost: bool = False,
    ) -> None:
        self.task = task
        self.start = start
        self.end = end
        self.parts = parts if parts is not None else []
        self.first: Position | None = None  # just before the first line given
        self.produced = 0
        self.exhausted = False
        self.lost = lost  # the read could not start where it was asked to

    def close(self) -> None:
        for part in self.parts:
            part.handle.close()
        self.parts = []


# Reading from the end ----------------------------------------------------------------


def tail_region(fd: int, end: int, n: int) -> tuple[list[bytes], int, bool]:
    """The last n lines of the file's bytes [0, end) read backwards in blocks; where they
    start; whether the last one ends with a `\\n` (the returned lines carry none).
    """
    if n <= 0 or end <= 0:
        return [], end, True
    chunks: list[bytes] = []
    pos = end
    newlines = 0
    terminated = False
    while pos > 0:
        size = min(_BLOCK, pos)
        pos -= size
        chunk = os.pread(fd, size, pos)
        if not chunks:
            terminated = chunk.endswith(b"\n")
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
        # Lines fully inside the region = all but the (possibly cut) first one.
        if newlines + (0 if terminated else 1) > n:
            break
    data = b"".join(reversed(chunks))
    stop = len(data) - 1 if terminated else len(data)
    cut = stop
    for _ in range(n):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            break
    start = cut + 1 if cut >= 0 else 0
    return data[start:stop].split(b"\n"), pos + start, terminated


def complete_end(fd: int, size: int) -> int:
    """The offset just after the file's last complete line (a partial one is still growing)."""
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    _, start, _ = tail_region(fd, size, 1)
    return start


def last_stamp(handle: BinaryIO) -> bytes:
    lines, _, _ = tail_region(handle.fileno(), os.fstat(handle.fileno()).st_size, 1)
    return lines[0][:STAMP_LEN] if lines else b""
