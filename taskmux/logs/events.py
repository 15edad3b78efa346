"""The lifecycle event log: one JSON line per event, shared by every taskmux process.

Each event is written with a single O_APPEND write, so concurrent writers never
interleave; the file is rotated (one backup) when it passes its size bound. It is opened
without following symlinks, in a state folder checked to be ours (statefiles.py).
"""

from __future__ import annotations

import json
import os
import time

TYPE_CHECKING = False  # `typing` costs an import on a lean `events` read; mypy reads this
if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any, BinaryIO

    from taskmux.logs.linux import Inotify

IDLE_LOOK = 1.0  # with inotify: how often a follower with nothing to read looks at `stop`
MAX_BYTES = 5 * 1024 * 1024


# Reading (cheap: the lean `events -n N` reads through these) -----------------------------


def read(path: Path) -> list[dict[str, Any]]:
    """All events, oldest first, the rotated file included."""
    records: list[dict[str, Any]] = []
    for each in (path.with_suffix(".jsonl.1"), path):
        records.extend(_parse_lines(each))
    return records


def select(
    path: Path, task: str | None = None, since: float | None = None, last: int | None = None
) -> list[dict[str, Any]]:
    """The events of one task (or all) newer than `since`, the last `last` of them."""
    records = [
        r
        for r in read(path)
        if (task is None or r.get("task") == task) and (since is None or r.get("ts", 0) >= since)
    ]
    if last is None:
        return records
    return records[-last:] if last > 0 else []


def tail(path: Path, n: int, task: str | None = None) -> list[dict[str, Any]]:
    """The last `n` events (of one task, or all), oldest first: what `events -n N` shows."""
    return select(path, task, None, n)


# Writing and following -----------------------------------------------------------------


class EventLog:
    """The project's event log: appended to by every taskmux process, read by any."""

    __slots__ = ("max_bytes", "path", "tags")

    def __init__(
        self, path: Path, max_bytes: int = MAX_BYTES, tags: tuple[tuple[str, Any], ...] = ()
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.tags = tags  # added to every record, e.g. what caused it

    def __repr__(self) -> str:
        return f"EventLog({str(self.path)!r}, max_bytes={self.max_bytes}, tags={self.tags!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventLog):
            return NotImplemented
        return (self.path, self.max_bytes, self.tags) == (other.path, other.max_bytes, other.tags)

    def __hash__(self) -> int:
        return hash((self.path, self.max_bytes, self.tags))

    def tagged(self, **tags: Any) -> EventLog:
        """The same log, each record of which also says `tags` (`trigger="watch"`)."""
        return EventLog(self.path, self.max_bytes, (*self.tags, *tags.items()))

    def append(self, event: str, task: str | None = None, **data: Any) -> dict[str, Any]:
        from taskmux.statedir.files import ensure_private_dir, named, open_private

        record = {"ts": round(time.time(), 3), "event": event, "task": task}
        record |= dict(self.tags) | data
        line = (json.dumps(record, default=str) + "\n").encode()
        ensure_private_dir(self.path.parent, levels=2)  # recreated if removed meanwhile
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, replace=True)
        try:
            os.write(fd, line)
            size = os.fstat(fd).st_size
        except OSError as exc:
            raise named(exc, self.path) from None
        finally:
            os.close(fd)
        if size > self.max_bytes:
            self._rotate()
        return record

    def _rotate(self) -> None:
        from taskmux.statedir.filelock import locked

        with locked(self.path.with_suffix(".lock")):
            if self.path.is_file() and self.path.lstat().st_size > self.max_bytes:
                os.replace(self.path, self.path.with_suffix(".jsonl.1"))

    def read(self) -> list[dict[str, Any]]:
        """All events, oldest first, the rotated file included."""
        return read(self.path)

    def select(
        self, task: str | None = None, since: float | None = None, last: int | None = None
    ) -> list[dict[str, Any]]:
        """The events of one task (or all) newer than `since`, the last `last` of them."""
        return select(self.path, task, since, last)

    def follow(
        self, poll: float = 0.2, stop: threading.Event | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield events appended from now on, across rotation, until `stop` is set.

        The one follower of the event log: `events -f`, `start -m`'s event lines and the
        daemon's push to subscribers all read through it. A file that does not exist yet
        is read from its first line once it appears. Where inotify works it sleeps until
        the file changes (looking at `stop` at least every IDLE_LOOK seconds, at once if
        it is a `StopFlag`), else it looks every `poll` seconds.
        """
        handle: BinaryIO | None = None
        inode = None
        try:  # now, not at the first next(): nothing appended after this call is missed
            handle = _open(self.path)
            inode = os.fstat(handle.fileno()).st_ino
            handle.seek(0, os.SEEK_END)
        except OSError:
            handle = None
        if stop is None:
            import threading

            stop = threading.Event()
        return self._follow(handle, inode, poll, stop)

    def _follow(
        self, handle: BinaryIO | None, inode: int | None, poll: float, stop: threading.Event
    ) -> Iterator[dict[str, Any]]:
        pending = b""
        changes = _changes_of(self.path.parent)
        waker = getattr(stop, "fileno", None)  # a `StopFlag` wakes the sleep when set
        if changes is not None and waker is not None:
            changes.wake_on(waker())
        try:
            yield from self._read_on(handle, inode, pending, poll, stop, changes)
        finally:
            if changes is not None:
                changes.close()

    def _read_on(
        self,
        handle: BinaryIO | None,
        inode: int | None,
        pending: bytes,
        poll: float,
        stop: threading.Event,
        changes: Inotify | None,
    ) -> Iterator[dict[str, Any]]:
        while not stop.is_set():
            if handle is not None:
                records, pending = _complete_lines(pending + handle.read())
                yield from records
            try:
                current = os.lstat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current is not None and current != inode:  # rotated, or created at last
                if handle is not None:  # what was written before the rename
                    yield from _complete_lines(pending + handle.read() + b"\n")[0]
                    handle.close()
                try:
                    handle = _open(self.path)
                    inode, pending = os.fstat(handle.fileno()).st_ino, b""
                except OSError:
                    handle = None
                continue
            if changes is not None:
                changes.wait(max(poll, IDLE_LOOK))
            else:
                stop.wait(poll)
        if handle is not None:
            handle.close()


def _changes_of(folder: Path) -> Inotify | None:
    """An inotify watch on the event log's folder (a write there wakes a follower), or
    None where there is none (not Linux, out of watches, no folder yet): then it polls."""
    from taskmux.logs.linux import watch  # the one inotify wrapper (standard library only)

    return watch(str(folder))


def _complete_lines(data: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The records of the complete lines in `data`, and the unfinished rest."""
    *lines, rest = data.split(b"\n")
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, rest


def _open(path: Path) -> BinaryIO:
    """Open for reading, never through a symlink (ELOOP is an OSError like absence)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    return os.fdopen(os.open(path, flags), "rb")


def _parse_lines(path: Path) -> list[dict[str, Any]]:
    try:
        with _open(path) as handle:
            raw = handle.read()
    except OSError:
        return []
    records = []
    for line in raw.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
