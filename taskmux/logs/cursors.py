"""Cursors: where each task's log has been read up to, in a form that survives rotation.

A cursor is an opaque string saying, for each task, where its log has been read up to:
(inode, offset, fingerprint of the file's first bytes), so it survives rotation (a
rename keeps the inode). `read_after` resumes there. If that file is gone (rotated past
the last backup, `logs --clear`) or is no longer the same (emptied and refilled), it
returns every line still kept and names the task in `lost`.

A cursor is carried by the lines of a read that tracks it (`Track`) and resumed by
`after.read_after` and `follow.Follower.after` (`locate`).
"""

from __future__ import annotations

import os

from taskmux.logs.snapshot import FINGERPRINT_BYTES

try:  # the builtin module: hashlib would first load OpenSSL (~2 ms on every `logs`)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

TYPE_CHECKING = False  # `typing` costs an import on a lean `logs` read; mypy reads this
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from taskmux.logs.lines import LogLine
    from taskmux.logs.search import Searcher
    from taskmux.logs.snapshot import Part, Position, Source

SPECIAL_CURSORS = ("start", "end")  # everything kept / nothing yet, only a cursor
_CURSOR_VERSION = "1"


class Mark:
    """A `Position` as a cursor carries it; inode 0 means before everything."""

    __slots__ = ("fingerprint", "inode", "offset")

    def __init__(self, inode: int = 0, offset: int = 0, fingerprint: str = "") -> None:
        self.inode = inode
        self.offset = offset
        self.fingerprint = fingerprint

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mark):
            return NotImplemented
        return (self.inode, self.offset, self.fingerprint) == (
            other.inode,
            other.offset,
            other.fingerprint,
        )

    def __hash__(self) -> int:
        return hash((self.inode, self.offset, self.fingerprint))

    def __repr__(self) -> str:
        return f"Mark(inode={self.inode}, offset={self.offset}, fingerprint={self.fingerprint!r})"


def fingerprint_of(head: bytes, offset: int) -> str:
    return blake2b(head[: min(offset, FINGERPRINT_BYTES)], digest_size=6).hexdigest()


def mark_of(position: Position) -> Mark:
    if position.file is None:
        return Mark()
    offset = position.offset
    return Mark(position.file.inode, offset, fingerprint_of(position.file.head, offset))


class Cursor:
    """Where each task's log has been read up to: positions of the tasks read, and the
    marks of tasks a cursor carried that this read did not touch (kept as they were)."""

    __slots__ = ("carried", "positions", "tasks")

    def __init__(
        self,
        tasks: tuple[str, ...],
        positions: tuple[Position, ...],
        carried: tuple[tuple[str, Mark], ...] = (),
    ) -> None:
        self.tasks = tasks
        self.positions = positions
        self.carried = carried

    def encode(self) -> str:
        marks = [*zip(self.tasks, map(mark_of, self.positions), strict=True), *self.carried]
        return encode_cursor(marks)


def encode_cursor(marks: Iterable[tuple[str, Mark]]) -> str:
    """The opaque text of a cursor: URL- and shell-safe (base64url of a small record)."""
    entries = [f"{task},{m.inode:x},{m.offset:x},{m.fingerprint}" for task, m in marks]
    body = ";".join([_CURSOR_VERSION, *entries]).encode()
    import base64

    return base64.urlsafe_b64encode(body).rstrip(b"=").decode()


def decode_cursor(text: str) -> dict[str, Mark]:
    """The marks of a cursor text; InvalidCursor (E603) if it is not one taskmux made."""
    import base64

    try:
        body = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        version, *entries = body.split(";")
        if version != _CURSOR_VERSION:
            raise ValueError(version)
        marks = {}
        for entry in entries:
            task, inode, offset, fingerprint = entry.split(",")
            mark = Mark(int(inode, 16), int(offset, 16), fingerprint)
            if not task or mark.inode < 0 or mark.offset < 0:
                raise ValueError(entry)
            marks[task] = mark
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        from taskmux.errors import InvalidCursor

        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InvalidCursor(
            f"invalid cursor {shown!r}: pass the 'cursor' or 'next_cursor' that "
            "logs --json printed, or 'start' (everything kept) or 'end' (from now on)"
        ) from None
    return marks


def line_cursor(line: LogLine) -> str | None:
    """The cursor just after this line: every task's (a tracked merged read) or its own."""
    if line.cursor is not None:
        return line.cursor.encode()
    if line.pos is not None:
        return encode_cursor([(line.task, mark_of(line.pos))])
    return None


def line_record(
    line: LogLine, text: str, pattern: Searcher | None = None, cursor: bool = True
) -> dict[str, object]:
    """A line as every JSON read gives it (CLI, API, MCP): task, time, `text` (cleaned, or
    as the reader asked), whether it matched `pattern`, its cursor, and `partial` when it
    is still being written (a read after its cursor gives it again, whole)."""
    record: dict[str, object] = {"task": line.task, "ts": line.stamp, "line": text}
    if pattern is not None:
        record["match"] = pattern.search(line.text) is not None
    if cursor and (mark := line_cursor(line)) is not None:
        record["cursor"] = mark
    if line.partial:
        record["partial"] = True
    return record


class Track:
    """Each task's position as merged lines are consumed, in the order they are."""

    def __init__(self, sources: list[Source], carried: Mapping[str, Mark] | None = None) -> None:
        self.sources = sources
        self.tasks = tuple(source.task for source in sources)
        self._index = {task: i for i, task in enumerate(self.tasks)}
        self.positions: list[Position] | None = None
        self.consumed = [0] * len(sources)
        self.carried = tuple((t, m) for t, m in (carried or {}).items() if t not in self._index)

    def _initial(self) -> list[Position]:
        """Before any line is consumed: each source's first line (a merge has asked every
        source for one by then), else its end (it had none), else where it starts."""
        return [
            s.first if s.first is not None else (s.end if s.exhausted else s.start)
            for s in self.sources
        ]

    def follow(self, lines: Iterable[LogLine], snapshots: bool = True) -> Iterator[LogLine]:
        """The lines as they are consumed; with `snapshots`, each carrying its cursor."""
        for line in lines:
            if self.positions is None:
                self.positions = self._initial()
            index = self._index.get(line.task)
            if index is not None:
                self.consumed[index] += 1
                if line.pos is not None:
                    self.positions[index] = line.pos
            if snapshots:
                snapshot = Cursor(self.tasks, tuple(self.positions), self.carried)
                line = line.with_cursor(snapshot)
            yield line

    def _done(self, index: int) -> bool:
        source = self.sources[index]
        return source.exhausted and self.consumed[index] == source.produced

    def cursor(self) -> Cursor:
        """After every line consumed, and past the end of each source read to its end."""
        current = self.positions if self.positions is not None else self._initial()
        positions = tuple(
            source.end if self._done(i) else current[i] for i, source in enumerate(self.sources)
        )
        return Cursor(self.tasks, positions, self.carried)

    @property
    def more(self) -> bool:
        return not all(self._done(i) for i in range(len(self.sources)))


def locate(parts: list[Part], mark: Mark | None, at_end: bool) -> tuple[int, int, bool]:
    """Where to resume reading: (part, offset in it, whether the mark's place was gone)."""
    if not parts:
        return 0, 0, mark is not None and mark.inode != 0
    if at_end:
        return len(parts) - 1, parts[-1].end, False
    if mark is None or mark.inode == 0:
        return 0, 0, False
    for index, part in enumerate(parts):
        if part.file.inode == mark.inode:
            size = os.fstat(part.handle.fileno()).st_size
            same = fingerprint_of(part.file.head, mark.offset) == mark.fingerprint
            if size >= mark.offset and same:
                return index, mark.offset, False
            break  # the inode now names another file, or this one was emptied
    return 0, 0, True
