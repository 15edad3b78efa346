"""Following logs (`-f`): a snapshot of what was written, then every line appended after.

Nothing is lost or repeated between the two, across rotation, `logs --clear` and files
created late. A follower looks every `poll` seconds (on the `stop` event, so a stop
interrupts the pause) and, while idle, restarts a collector that died.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO

from taskmux.logs.cursors import Mark, Track, locate
from taskmux.logs.lines import LogLine, TaskLog, to_line
from taskmux.logs.reading import catch_up, forward, last, merge, since_key, tail_parts
from taskmux.logs.snapshot import (
    FINGERPRINT_BYTES,
    POLL_TRIES,
    START,
    LogFile,
    Part,
    Position,
    Source,
    end_of,
    open_all,
    parts_of,
    snapshot,
)

REVIVE_EVERY = 1.0  # seconds between a follower's checks that the collector runs


class Tracked:
    """One task's log as followed: the newest file read so far (normally the current one;
    a rotated one while no current file exists), held open, and the read offset in it."""

    _SEEN_CAP = 1024

    def __init__(self, log: TaskLog) -> None:
        self.log = log
        self.handle: BinaryIO | None = None
        self.file = LogFile(-1, b"")  # the held file, for the positions of its lines
        self.inode = -1
        self.offset = 0
        self.pending = b""
        self.last_ts = 0.0
        # Files read whole, inode → first bytes: only used when the file we hold vanished
        # (deleted rather than rotated), to tell the files already read from new ones.
        self.seen: dict[int, bytes] = {}

    def attach(self, handle: BinaryIO, offset: int) -> None:
        self.handle = handle
        self.file = LogFile.of(handle)
        self.inode = self.file.inode
        self.offset = offset
        self.pending = b""

    def remember(self, handle: BinaryIO) -> None:
        self.seen[os.fstat(handle.fileno()).st_ino] = _fingerprint(handle)
        while len(self.seen) > self._SEEN_CAP:
            del self.seen[next(iter(self.seen))]

    def _lines(self, data: bytes, final: bool) -> list[LogLine]:
        data = self.pending + data
        parts = data.split(b"\n")
        self.pending = parts.pop()
        if final and self.pending:
            parts.append(self.pending)
            self.pending = b""
        if parts and len(self.file.head) < min(self.offset, FINGERPRINT_BYTES):
            assert self.handle is not None  # the head grew since it was read: read it again
            self.file.head = os.pread(self.handle.fileno(), FINGERPRINT_BYTES, 0)
        position = self.offset - len(data)  # where `data` starts in the file
        out = []
        for part in parts:
            position += len(part) + 1
            end = Position(self.file, min(position, self.offset))  # a final one has no \n
            parsed = to_line(self.log.task, part, self.last_ts, end)
            self.last_ts = parsed.ts
            out.append(parsed)
        return out

    def _drain(self, final: bool = False) -> list[LogLine]:
        assert self.handle is not None
        out: list[LogLine] = []
        fd = self.handle.fileno()
        if self._was_truncated(fd):
            self.offset, self.pending = 0, b""
            self.file = LogFile(self.inode, os.pread(fd, FINGERPRINT_BYTES, 0))
        while True:
            data = os.pread(fd, 1 << 20, self.offset)
            if not data:
                break
            self.offset += len(data)
            out += self._lines(data, final=False)
        if final:
            out += self._lines(b"", final=True)
        return out

    def _was_truncated(self, fd: int) -> bool:
        """Emptied in place (`logs --clear`, a writer without backups), maybe refilled since."""
        if self.offset == 0:
            return False
        if os.fstat(fd).st_size < self.offset:
            return True
        # Refilled past our offset: the byte before it is no longer the one we read last.
        expected = self.pending[-1:] or b"\n"
        return os.pread(fd, 1, self.offset - 1) != expected

    def poll(self) -> list[LogLine]:
        """Lines appended since the last poll, following rotation and late creation."""
        out: list[LogLine] = []
        if self.handle is not None:
            out += self._drain()
        try:
            current = self.log.path.stat().st_ino
        except FileNotFoundError:
            current = -1
        if current == self.inode or (self.handle is None and current == -1):
            return out
        # Rotated, deleted or (re)created: read what came after the file we hold, in order.
        newer = self._newer_files()
        if newer is None:
            return out  # rotating faster than we can walk the files: next poll
        for handle in newer:
            if self.handle is not None:
                out += self._drain(final=True)  # finished: a newer file exists
                self.remember(self.handle)
                self.handle.close()
            self.attach(handle, 0)
            out += self._drain()
        return out

    def _newer_files(self) -> list[BinaryIO] | None:
        """The files newer than the one we hold, oldest first, opened from one consistent
        view of the names (None if none could be had this time).

        Normally the file we hold is found by walking down from the current file, and
        everything walked before it is newer. If it is gone (deleted, or rotated past the
        last backup), every file still there that we have not read is new."""
        handles = snapshot(self.log, POLL_TRIES, self.inode)
        if handles is None:
            return None
        inodes = [os.fstat(h.fileno()).st_ino for h in handles]
        if self.handle is not None and self.inode in inodes:
            newer = handles[inodes.index(self.inode) + 1 :]
        else:
            newer = [
                h
                for h, inode in zip(handles, inodes, strict=True)
                if self.seen.get(inode) != _fingerprint(h)
            ]
            if newer:
                self.seen = {inode: self.seen[inode] for inode in inodes if inode in self.seen}
        for handle in handles:
            if handle not in newer:
                handle.close()
        return newer

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _fingerprint(handle: BinaryIO) -> bytes:
    """A file's first bytes (stamped to the millisecond): with its inode, names the file
    even if the inode number is later reused by another."""
    return os.pread(handle.fileno(), 64, 0)


class Follower:
    """Follow several tasks' logs from a snapshot taken at construction time.

    `backlog(n)` / `history()` give the lines before the snapshot, iterating gives every
    line appended after it; nothing is lost or repeated between the two. With `cursors`
    (and more than one log) the lines carry cursors that cover every task.
    """

    def __init__(
        self,
        logs: Iterable[TaskLog],
        poll: float = 0.05,
        stop: threading.Event | None = None,
        cursors: bool = False,
    ) -> None:
        self.poll_interval = poll
        self.stop = stop or threading.Event()
        logs = list(logs)
        catch_up(logs)
        self._logs = logs
        self._next_revive = time.monotonic() + REVIVE_EVERY
        self._tracked: list[Tracked] = []
        self._snapshot: list[tuple[str, list[Part]]] = []
        for log in logs:
            tracked = Tracked(log)
            parts = parts_of(open_all(log), complete_newest=True)
            if parts:
                # Followed from the newest file (the current one, or the newest rotated one
                # if there is no current file), after its last complete line.
                for part in parts[:-1]:
                    tracked.remember(part.handle)
                newest = parts[-1]
                # Our own descriptor of the same inode, so the snapshot can be closed.
                tracked.attach(os.fdopen(os.dup(newest.handle.fileno()), "rb"), newest.end)
            self._tracked.append(tracked)
            self._snapshot.append((log.task, parts))
        self._cursors = cursors and len(self._tracked) > 1
        self._track: Track | None = None

    def backlog(self, n: int) -> list[LogLine]:
        """The last n lines before the snapshot, all tasks merged by time."""
        tails = [tail_parts(task, parts, n) for task, parts in self._snapshot]
        self._close_snapshot()
        merged = merge([lines for _, lines in tails])
        if self._cursors:
            self._track = Track([source for source, _ in tails])
            merged = self._track.follow(merged)
        return last(merged, n)

    def history(self, since: float | None = None) -> Iterator[LogLine]:
        """Every line before the snapshot (optionally only those >= since), merged by time."""
        key = since_key(since)
        sources = [
            Source(task, Position(parts[0].file, 0) if parts else START, end_of(parts), parts)
            for task, parts in self._snapshot
        ]
        merged = merge([forward(source, 0, 0, key, growing=False) for source in sources])
        if self._cursors:
            self._track = Track(sources)
            merged = self._track.follow(merged)
        try:
            yield from merged
        finally:
            self._close_snapshot()

    def after(self, marks: Mapping[str, Mark]) -> tuple[Iterator[LogLine], tuple[str, ...]]:
        """The lines before the snapshot that follow each task's mark (all kept for a task
        without one, or whose mark is gone), merged by time; and the tasks whose mark was."""
        sources = []
        streams = []
        for task, parts in self._snapshot:
            index, offset, lost = locate(parts, marks.get(task), at_end=False)
            start = Position(parts[index].file, offset) if parts else START
            source = Source(task, start, end_of(parts), parts, lost=lost)
            sources.append(source)
            streams.append(forward(source, index, offset, b"", growing=False))
        merged = merge(streams)
        if self._cursors:
            self._track = Track(sources, marks)
            merged = self._track.follow(merged)
        return self._then_close(merged), tuple(s.task for s in sources if s.lost)

    def _then_close(self, lines: Iterator[LogLine]) -> Iterator[LogLine]:
        try:
            yield from lines
        finally:
            self._close_snapshot()

    def poll(self) -> list[LogLine]:
        """Lines appended after the snapshot (or the last poll), merged; never waits."""
        self._close_snapshot()
        return list(merge([tracked.poll() for tracked in self._tracked]))

    def _close_snapshot(self) -> None:
        for _, parts in self._snapshot:
            for part in parts:
                part.handle.close()
        self._snapshot = []

    def __iter__(self) -> Iterator[LogLine]:
        self._close_snapshot()
        try:
            while not self.stop.is_set():
                batches = [tracked.poll() for tracked in self._tracked]
                if any(batches):
                    # Each task's lines stay in file order (even if its clock went back).
                    merged = merge(batches)
                    if self._track is not None:
                        merged = self._track.follow(merged)
                    yield from merged
                else:
                    self._revive()
                    self.stop.wait(self.poll_interval)
        finally:
            for tracked in self._tracked:
                tracked.close()

    def _revive(self) -> None:
        """While idle, now and then: if the collector died, collect and start it again."""
        if time.monotonic() >= self._next_revive:
            self._next_revive = time.monotonic() + REVIVE_EVERY
            catch_up(self._logs, wait=0)

    def close(self) -> None:
        self._close_snapshot()
        for tracked in self._tracked:
            tracked.close()


def follow(
    logs: Iterable[TaskLog],
    from_end_lines: int = 100,
    poll: float = 0.05,
    stop: threading.Event | None = None,
) -> Iterator[LogLine]:
    """The last n lines (merged), then every new line as it is written, until `stop` is set.

    The snapshot that separates the two is taken by this call, not by the first `next()`.
    """
    follower = Follower(logs, poll=poll, stop=stop)
    return _backlog_then_live(follower, from_end_lines)


def _backlog_then_live(follower: Follower, n: int) -> Iterator[LogLine]:
    try:
        yield from follower.backlog(n)
        yield from follower
    finally:
        follower.close()
