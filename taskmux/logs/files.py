"""Reading the persistent per-task log files: tail, read, merge, grep, follow, clear.

The files are written by the project's log collector (`collector.py`, fed by each pane's
`pipe-pane` through a spool): each line is `YYYY-MM-DDTHH:MM:SS.mmmZ ` (UTC) followed by
the pane's raw bytes and `\\n`. A file rotates by renaming `FILE` → `FILE.1` → … →
`FILE.N`; readers span the rotated files, oldest first. Every read first has the spools
caught up (`catch_up`), so a collector that is slow or not running hides no line. Nothing
here prints; every reader returns `LogLine`s.
"""

from __future__ import annotations

import base64
import calendar
import heapq
import itertools
import math
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Protocol

from taskmux.errors import InvalidCursor, InvalidPattern, PatternTooSlow, UsageError
from taskmux.statedir.files import truncate_private

try:  # the builtin module: hashlib would first load OpenSSL (~2 ms on every `logs`)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

if TYPE_CHECKING:
    import regex

STAMP_LEN = 24  # len("2024-01-31T12:00:00.000Z")
_PREFIX_LEN = STAMP_LEN + 1  # the stamp and one space
_BLOCK = 1 << 16

# Removed for display: CSI (colours, cursor moves), OSC (titles, hyperlinks; ended by BEL
# or ST), DCS/PM/APC strings, charset selects (ESC ( B), the other two-byte escapes
# (ESC =, ESC 7), and control characters a terminal does not show (tab is kept).
_ANSI_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[()*+\-./][ -~]"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f]"
)
_ERASE_LINE_RE = re.compile(r"\x1b\[[02]?K")
_COLUMN_ONE_RE = re.compile(r"\x1b\[1?G")  # cursor to column 1: a redraw, like \r
_SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class LogLine:
    """One logged line: its task, its timestamp (epoch seconds), the cleaned text, the raw bytes.

    `pos` is where the task's log has been read up to once this line is (readers set it);
    `cursor`, where every task's has, in a merged read that tracks them (`query` and
    `follow_query` with `cursors=True`). `line_cursor` turns either into a cursor string.
    """

    task: str
    ts: float
    text: str
    raw: bytes = field(repr=False)
    pos: Position | None = field(default=None, repr=False, compare=False)
    cursor: Cursor | None = field(default=None, repr=False, compare=False)

    @property
    def stamp(self) -> str:
        """The timestamp as stored: ISO-8601 UTC with milliseconds."""
        return format_stamp(self.ts)


@dataclass(frozen=True)
class TaskLog:
    """Where one task's log lives: the current file, and its rotated siblings `FILE.N`."""

    task: str
    path: Path

    def files(self) -> list[Path]:
        """The existing files of this log, oldest first (`FILE.N` … `FILE.1`, `FILE`)."""
        pattern = re.compile(re.escape(self.path.name) + r"\.(\d+)")
        try:
            names = os.listdir(self.path.parent)
        except FileNotFoundError:
            return []
        rotated = sorted(
            (int(m.group(1)), name) for name in names if (m := pattern.fullmatch(name))
        )
        found = [self.path.parent / name for _, name in reversed(rotated)]
        if self.path.name in names:
            found.append(self.path)
        return found


def catch_up(logs: Iterable[TaskLog], wait: float | None = None) -> None:
    """Have what the tasks printed so far moved from their spools into the log files
    (see `logspool.catch_up`); logs outside a state folder with spools are left as they are."""
    roots: dict[Path, list[str]] = {}
    for log in logs:
        root = log.path.parent.parent
        roots.setdefault(root, []).append(log.task)
    for root, tasks in roots.items():
        if not os.path.isdir(root / "spool"):
            continue
        from taskmux.logs import spool as logspool

        logspool.catch_up(root, tasks, logspool.CATCH_UP_WAIT if wait is None else wait)


@dataclass(frozen=True)
class Group:
    """A run of adjacent lines around grep matches; `matched[i]` tells whether line i matched."""

    lines: tuple[LogLine, ...]
    matched: tuple[bool, ...]


# Timestamps --------------------------------------------------------------------------


def format_stamp(ts: float) -> str:
    millis = round(ts * 1000)
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


_second_cache: dict[bytes, int] = {}


def _parse_stamp(line: bytes) -> float | None:
    """Epoch seconds of the line's stamp prefix, or None if the line has none."""
    if len(line) < _PREFIX_LEN or line[23:25] != b"Z " or line[19:20] != b".":
        return None
    second = line[:19]
    epoch = _second_cache.get(second)
    if epoch is None:
        try:
            parts = (line[0:4], line[5:7], line[8:10], line[11:13], line[14:16], line[17:19])
            epoch = calendar.timegm((*(int(p) for p in parts), 0, 0, 0))
        except ValueError:
            return None
        if len(_second_cache) > 4096:
            _second_cache.clear()
        _second_cache[second] = epoch
    try:
        return epoch + int(line[20:23]) / 1000
    except ValueError:
        return None


def parse_since(value: str, now: float | None = None) -> float:
    """`30s`, `5m`, `2h`, `1d`, `1w` ago, or an ISO-8601 date/time (local time if naive)."""
    match = _SINCE_RE.match(value)
    if match:
        amount = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        # Longer ago than 1970 is everything (and a time the clock functions can take).
        return max(0.0, (time.time() if now is None else now) - amount)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"invalid --since '{value}': use a duration like 30s, 5m, 2h, 1d or an ISO-8601 time"
        ) from None
    try:
        if moment.tzinfo is None:
            moment = moment.astimezone()  # naive means the user's local time
        return max(0.0, moment.timestamp())
    except (ValueError, OverflowError, OSError):  # year 1 in a zone east of UTC, …
        raise UsageError(f"--since '{value}' is out of range") from None


# Cleaning ----------------------------------------------------------------------------


def clean(raw: bytes) -> str:
    """What a terminal would show for one raw line: no escape codes, `\\r` redraws applied."""
    if raw.endswith(b"\r"):
        raw = raw.rstrip(b"\r")
    text = raw.decode("utf-8", "replace")
    if text.isprintable():
        return text
    if "\r" not in text and not ("G" in text and _COLUMN_ONE_RE.search(text)):
        return _ANSI_RE.sub("", text)
    shown = ""
    for segment in _COLUMN_ONE_RE.sub("\r", text).split("\r"):
        erased = _ERASE_LINE_RE.search(segment) is not None
        visible = _ANSI_RE.sub("", segment)
        # A carriage return moves to column 0 and overwrites; an erase-line clears the rest.
        shown = visible if erased else visible + shown[len(visible) :]
    return shown


_SGR_RE = re.compile(r"\x1b\[[0-9;:]*m")


def coloured(raw: bytes) -> str:
    """`clean`, but keeping the colour codes (SGR: ESC[...m) for a renderer that draws them.

    A line redrawn with `\r` (a progress bar) is shown cleaned: its colours would not
    survive the overwriting.
    """
    if raw.endswith(b"\r"):
        raw = raw.rstrip(b"\r")
    text = raw.decode("utf-8", "replace")
    if text.isprintable() or "\r" in text or ("G" in text and _COLUMN_ONE_RE.search(text)):
        return clean(raw)
    return _ANSI_RE.sub(lambda m: m.group() if _SGR_RE.fullmatch(m.group()) else "", text)


def _to_line(task: str, line: bytes, last_ts: float, pos: Position | None = None) -> LogLine:
    ts = _parse_stamp(line)
    if ts is None:  # a line without a stamp (e.g. a foreign writer): keep it, in place
        return LogLine(task, last_ts, clean(line), line, pos)
    raw = line[_PREFIX_LEN:]
    return LogLine(task, ts, clean(raw), raw, pos)


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
# Otherwise the walk is retried; `_snapshot` gives up (None) if rotations keep beating it.

REVIVE_EVERY = 1.0  # seconds between a follower's checks that the collector runs
_SNAPSHOT_TRIES = 200  # for one-off reads (tail, read_lines, the follow snapshot)
_POLL_TRIES = 5  # per poll when following: the next poll simply tries again


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


def _snapshot(log: TaskLog, tries: int, stop_inode: int = -1) -> list[BinaryIO] | None:
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


def _open_all(log: TaskLog) -> list[BinaryIO]:
    """Open every file of the log, oldest first, as they were at one moment.

    If rotations keep outrunning the walk for a while, falls back to a last unchecked
    walk (only possible while the writer rotates continuously, faster than a walk).
    """
    handles = _snapshot(log, _SNAPSHOT_TRIES)
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
    pattern = re.compile(re.escape(log.path.name) + r"\.(\d+)")
    try:
        names = os.listdir(log.path.parent)
    except FileNotFoundError:
        return 0
    return max((int(m.group(1)) for name in names if (m := pattern.fullmatch(name))), default=0)


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


class Position(NamedTuple):
    """Just after the first `offset` bytes of `file`; `file` None: before everything."""

    file: LogFile | None
    offset: int


START = Position(None, 0)


@dataclass
class _Part:
    """One file of a snapshot of a task's log, and how many of its bytes to read."""

    handle: BinaryIO
    file: LogFile
    end: int


def _parts(handles: list[BinaryIO], complete_newest: bool) -> list[_Part]:
    """Parts for handles given oldest first; with `complete_newest`, the newest file is
    read only up to its last complete line (a partial one is still being written)."""
    parts = []
    for index, handle in enumerate(handles):
        size = os.fstat(handle.fileno()).st_size
        if complete_newest and index == len(handles) - 1:
            size = _complete_end(handle.fileno(), size)
        parts.append(_Part(handle, LogFile.of(handle), size))
    return parts


def _end_of(parts: list[_Part]) -> Position:
    """Past the last complete line of the newest part (where a later read goes on)."""
    if not parts:
        return START
    newest = parts[-1]
    return Position(newest.file, _complete_end(newest.handle.fileno(), newest.end))


@dataclass
class _Source:
    """One task's lines as a reader gives them, for a cursor that tracks what was read:
    where the read started, where it ends, how far it got."""

    task: str
    start: Position
    end: Position
    parts: list[_Part] = field(default_factory=list)
    first: Position | None = None  # just before the first line given
    produced: int = 0
    exhausted: bool = False
    lost: bool = False  # the read could not start where it was asked to

    def close(self) -> None:
        for part in self.parts:
            part.handle.close()
        self.parts = []


# Tail --------------------------------------------------------------------------------


def _tail_region(fd: int, end: int, n: int) -> tuple[list[bytes], int, bool]:
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


def _tail_parts(task: str, parts: list[_Part], n: int) -> tuple[_Source, list[LogLine]]:
    """The last n lines across the parts (oldest first), each with the position after it,
    and the source they make (a line still being written ends at its own start)."""
    picked: list[tuple[_Part, list[bytes], int, bool]] = []
    wanted = n
    for part in reversed(parts):
        if wanted <= 0:
            break
        lines, start, terminated = _tail_region(part.handle.fileno(), part.end, wanted)
        picked.append((part, lines, start, terminated))
        wanted -= len(lines)
    source = _Source(task, START, _end_of(parts))
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
            if index < len(lines) - 1 or terminated:
                offset += 1
                pos = Position(part.file, offset)
            else:  # unterminated: still growing if newest, else finished
                pos = Position(part.file, begin if part is newest else offset)
            parsed = _to_line(task, line, last_ts, pos)
            last_ts = parsed.ts
            result.append(parsed)
    source.produced = len(result)
    source.exhausted = True
    if source.first is None:
        source.start = source.end
    return source, result


def _tail_handles(task: str, handles: list[BinaryIO], n: int) -> tuple[_Source, list[LogLine]]:
    return _tail_parts(task, _parts(handles, complete_newest=False), n)


def tail(log: TaskLog, n: int) -> list[LogLine]:
    """The last n lines of a task's log (reading from the end, spanning rotated files)."""
    catch_up([log])
    handles = _open_all(log)
    try:
        return _tail_handles(log.task, handles, n)[1]
    finally:
        for handle in handles:
            handle.close()


# Reading everything ------------------------------------------------------------------


def _since_key(since: float | None) -> bytes:
    return format_stamp(since).encode() if since is not None else b""


def _forward(
    source: _Source, start_index: int, offset: int, key: bytes, growing: bool
) -> Iterator[LogLine]:
    """The source's lines from `offset` in part `start_index` on, stamped at/after `key`,
    each with the position after it (with `growing`, a partial last line of the newest
    part ends at its own start). Marks the source exhausted at the end."""
    last_ts = 0.0
    parts = source.parts
    for index in range(start_index, len(parts)):
        part = parts[index]
        if key and _last_stamp(part.handle) < key:
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
            stamped = len(line) >= _PREFIX_LEN and line[23:25] == b"Z "
            if key and (line[:STAMP_LEN] < key if stamped else last_ts == 0.0):
                continue
            end = line_start if cut and not terminated else position
            parsed = _to_line(source.task, line, last_ts, Position(part.file, end))
            last_ts = parsed.ts
            if source.first is None:
                source.first = Position(part.file, line_start)
            source.produced += 1
            yield parsed
    source.exhausted = True


def _last_stamp(handle: BinaryIO) -> bytes:
    lines, _, _ = _tail_region(handle.fileno(), os.fstat(handle.fileno()).st_size, 1)
    return lines[0][:STAMP_LEN] if lines else b""


def _reader(
    task: str, handles: list[BinaryIO], since: float | None, complete: bool
) -> tuple[_Source, Iterator[LogLine]]:
    """Every line of the handles (oldest first; only those >= `since`) and their source,
    which owns the handles: the caller closes it."""
    parts = _parts(handles, complete_newest=complete)
    start = Position(parts[0].file, 0) if parts else START
    source = _Source(task, start, _end_of(parts), parts)
    return source, _forward(source, 0, 0, _since_key(since), not complete)


def read_lines(log: TaskLog, since: float | None = None) -> Iterator[LogLine]:
    """Every line of a task's log, oldest first across rotated files; only those >= `since`."""
    catch_up([log])
    source, lines = _reader(log.task, _open_all(log), since, complete=False)
    try:
        yield from lines
    finally:
        source.close()


def merge(streams: Iterable[Iterable[LogLine]]) -> Iterator[LogLine]:
    """Lines of several tasks in timestamp order (stable: equal stamps keep stream order)."""
    return heapq.merge(*streams, key=lambda line: line.ts)


def last(lines: Iterable[LogLine], n: int) -> list[LogLine]:
    return list(deque(lines, maxlen=_count(n))) if n > 0 else []


def _count(n: int) -> int:
    """A line count as a deque takes it: more lines than memory can hold means all of them
    (`-n 99999999999999999999` shows the whole log, as `tail` does)."""
    return max(0, min(n, sys.maxsize))


# Grep --------------------------------------------------------------------------------


SEARCH_BUDGET = 10.0  # seconds of matching one query may spend (TASKMUX_GREP_BUDGET)
_LITERAL_RE = re.compile(r"[^.^$*+?{}\[\]\\()]*")  # no metacharacter but `|`


class Searcher(Protocol):
    """What grep needs of a pattern: a compiled `re` pattern or a `Pattern`."""

    def search(self, string: str, /) -> object: ...


class Pattern:
    """A `-g` regex whose searches share one time budget.

    Python's `re` cannot be interrupted, so a pattern that backtracks without end (`(a+)+$`
    against a long line of a's) would hang the CLI, a daemon worker or an MCP call. The
    third-party `regex` engine takes a timeout per search: each search gets what is left of
    the budget, and running out raises PatternTooSlow. Words and `|` alternatives of words
    cannot backtrack, so they use `re` without the bookkeeping (a search costs a fifth).
    """

    def __init__(self, source: str, budget: float = SEARCH_BUDGET) -> None:
        self.source = source
        self.budget = budget
        self.spent = 0.0
        self._plain: re.Pattern[str] | None = None
        self._bounded: regex.Pattern[str] | None = None
        if _LITERAL_RE.fullmatch(source):
            self._plain = re.compile(source)
            return
        import regex

        try:
            self._bounded = regex.compile(source)
        except regex.error as exc:
            raise InvalidPattern(f"invalid regex {source!r}: {exc}") from None

    def search(self, string: str, /) -> object:
        """The match (truthy) or None; PatternTooSlow once the budget is spent."""
        if self._bounded is None:
            assert self._plain is not None
            return self._plain.search(string)
        left = self.budget - self.spent
        if left <= 0:
            raise self._too_slow()
        started = time.monotonic()
        try:
            return self._bounded.search(string, timeout=left)
        except TimeoutError:
            raise self._too_slow() from None
        finally:
            self.spent += time.monotonic() - started

    def renew(self) -> None:
        """A fresh budget: `-f` gives each new line its own, or a long follow would run out."""
        self.spent = 0.0

    def _too_slow(self) -> PatternTooSlow:
        self.spent = self.budget
        return PatternTooSlow(
            f"pattern {self.source!r} took longer than {self.budget:g}s to search the logs; "
            "simplify it (nested repeats such as (a+)+ backtrack without end)"
        )


def search_budget() -> float:
    """The search budget in seconds: TASKMUX_GREP_BUDGET if set to a positive number."""
    try:
        value = float(os.environ.get("TASKMUX_GREP_BUDGET", ""))
    except ValueError:
        return SEARCH_BUDGET
    return value if 0 < value < math.inf else SEARCH_BUDGET


def compile_pattern(pattern: str, budget: float | None = None) -> Pattern:
    """Compile a `-g` regex (with a time budget) or raise InvalidPattern with a one-line reason."""
    try:
        return Pattern(pattern, search_budget() if budget is None else budget)
    except re.error as exc:
        raise InvalidPattern(f"invalid regex {pattern!r}: {exc}") from None


def grep_stream(
    lines: Iterable[LogLine], pattern: Searcher, context: int = 0
) -> Iterator[tuple[LogLine, bool] | None]:
    """Matching lines with `context` lines around them, as (line, matched); None between groups.

    Lines are yielded as soon as they are known to belong to the output (suits `follow`).
    """
    context = _count(context)
    before: deque[LogLine] = deque(maxlen=context)
    after = 0  # context lines still owed after the last match
    skipped = False  # a line was left out since the last line yielded
    started = False
    for line in lines:
        if pattern.search(line.text):
            if started and skipped:
                yield None
            for previous in before:
                yield previous, False
            before.clear()
            yield line, True
            started, skipped, after = True, False, context
        elif after > 0:
            after -= 1
            yield line, False
        else:
            if len(before) == context:
                skipped = True  # the oldest pending line (or this one) falls out
            if context:
                before.append(line)


def grep(
    lines: Iterable[LogLine],
    pattern: Searcher,
    context: int = 0,
    last_matches: int | None = None,
) -> list[Group]:
    """Groups of matches with context, like `grep -C`; with `last_matches`, only the last N.

    Memory stays bounded by N groups even on a huge log where every line matches.
    """
    if last_matches is not None and last_matches <= 0:
        return []
    groups: deque[Group] = deque()
    matches = 0  # in `groups`
    current: list[tuple[LogLine, bool]] = []
    current_matches = 0

    def oldest_unneeded() -> bool:
        """Whether the last N matches lie entirely after the oldest group."""
        if last_matches is None or not groups:
            return False
        return matches - sum(groups[0].matched) >= last_matches

    for item in grep_stream(lines, pattern, context):
        if item is not None:
            current.append(item)
            current_matches += item[1]
            if last_matches is not None and current_matches > 2 * last_matches:
                group = _trim_front(_group(current), current_matches - last_matches, context)
                current = list(zip(group.lines, group.matched, strict=True))
                current_matches, groups, matches = last_matches, deque(), 0
            continue
        groups.append(_group(current))
        matches += current_matches
        current, current_matches = [], 0
        while oldest_unneeded():
            matches -= sum(groups.popleft().matched)
    if current:
        groups.append(_group(current))
        matches += current_matches
    while oldest_unneeded():
        matches -= sum(groups.popleft().matched)
    if last_matches is not None and groups and matches > last_matches:
        groups[0] = _trim_front(groups[0], matches - last_matches, context)
    return list(groups)


def _group(items: list[tuple[LogLine, bool]]) -> Group:
    return Group(tuple(line for line, _ in items), tuple(matched for _, matched in items))


def _trim_front(group: Group, drop: int, context: int) -> Group:
    """The group without its first `drop` matches (and the context only they needed)."""
    hits = [i for i, matched in enumerate(group.matched) if matched]
    last_dropped, first_kept = hits[drop - 1], hits[drop]
    start = max(last_dropped + 1, first_kept - context)
    return Group(group.lines[start:], group.matched[start:])


# Follow ------------------------------------------------------------------------------


class _Tracked:
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
            parsed = _to_line(self.log.task, part, self.last_ts, end)
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
        handles = _snapshot(self.log, _POLL_TRIES, self.inode)
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
        self._tracked: list[_Tracked] = []
        self._snapshot: list[tuple[str, list[_Part]]] = []
        for log in logs:
            tracked = _Tracked(log)
            parts = _parts(_open_all(log), complete_newest=True)
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
        self._track: _Track | None = None

    def backlog(self, n: int) -> list[LogLine]:
        """The last n lines before the snapshot, all tasks merged by time."""
        tails = [_tail_parts(task, parts, n) for task, parts in self._snapshot]
        self._close_snapshot()
        merged = merge([lines for _, lines in tails])
        if self._cursors:
            self._track = _Track([source for source, _ in tails])
            merged = self._track.follow(merged)
        return last(merged, n)

    def history(self, since: float | None = None) -> Iterator[LogLine]:
        """Every line before the snapshot (optionally only those >= since), merged by time."""
        key = _since_key(since)
        sources = [
            _Source(task, Position(parts[0].file, 0) if parts else START, _end_of(parts), parts)
            for task, parts in self._snapshot
        ]
        merged = merge([_forward(source, 0, 0, key, growing=False) for source in sources])
        if self._cursors:
            self._track = _Track(sources)
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
            index, offset, lost = _locate(parts, marks.get(task), at_end=False)
            start = Position(parts[index].file, offset) if parts else START
            source = _Source(task, start, _end_of(parts), parts, lost=lost)
            sources.append(source)
            streams.append(_forward(source, index, offset, b"", growing=False))
        merged = merge(streams)
        if self._cursors:
            self._track = _Track(sources, marks)
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


def _complete_end(fd: int, size: int) -> int:
    """The offset just after the file's last complete line (a partial one is still growing)."""
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    _, start, _ = _tail_region(fd, size, 1)
    return start


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


# Clear -------------------------------------------------------------------------------


def clear(log: TaskLog) -> list[Path]:
    """Empty a task's log: truncate the current file (a running writer keeps appending to
    it) and delete the rotated ones. Returns the files cleared."""
    catch_up([log])  # what was printed before the clear goes too
    cleared: list[Path] = []
    for path in log.files():
        try:
            if path == log.path:
                truncate_private(path)  # never through a symlink planted at its name
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        cleared.append(path)
    return cleared


# What `taskmux logs` shows -----------------------------------------------------------

Item = LogLine | None  # None separates non-adjacent grep groups (`--`)


def _flatten(groups: list[Group]) -> Iterator[Item]:
    for index, group in enumerate(groups):
        if index:
            yield None
        yield from group.lines


def query(
    logs: list[TaskLog],
    n: int,
    pattern: Searcher | None = None,
    context: int = 0,
    since: float | None = None,
    cursors: bool = False,
) -> Iterator[Item]:
    """The last n lines of the tasks merged by time; with a pattern, the last n matches
    with their context, groups separated by None. With `cursors`, every line of a merged
    read carries a cursor that covers every task (`line_cursor`)."""
    tracking = cursors and len(logs) > 1
    catch_up(logs)
    if pattern is None:
        tails = []
        for log in logs:
            handles = _open_all(log)
            try:
                tails.append(_tail_handles(log.task, handles, n))
            finally:
                for handle in handles:
                    handle.close()
        merged: Iterable[LogLine] = merge([lines for _, lines in tails])
        if tracking:
            merged = _Track([source for source, _ in tails]).follow(merged)
        if since is not None:
            merged = (line for line in merged if line.ts >= since)
        return iter(last(merged, n))
    readers = [_reader(log.task, _open_all(log), since, complete=False) for log in logs]
    try:
        lines = merge([stream for _, stream in readers])
        if tracking:
            lines = _Track([source for source, _ in readers]).follow(lines)
        groups = grep(lines, pattern, context, last_matches=n)
    finally:
        for source, _ in readers:
            source.close()
    return _flatten(groups)


def follow_query(
    logs: list[TaskLog],
    n: int,
    pattern: Searcher | None = None,
    context: int = 0,
    since: float | None = None,
    poll: float = 0.05,
    stop: threading.Event | None = None,
    cursors: bool = False,
) -> Iterator[Item]:
    """`query`, then every line written afterwards (filtered by the pattern) until stopped.

    Like `follow`, the snapshot between the two is taken by this call.
    """
    follower = Follower(logs, poll=poll, stop=stop, cursors=cursors)
    if pattern is None:
        return _recent_then_live(follower, n, since)
    return _grep_then_live(follower, n, pattern, context, since)


def follow_after(
    logs: list[TaskLog],
    after: str,
    pattern: Searcher | None = None,
    context: int = 0,
    poll: float = 0.05,
    stop: threading.Event | None = None,
    cursors: bool = False,
) -> tuple[Iterator[Item], tuple[str, ...]]:
    """The lines written after the cursor `after` (as `read_after` reads them, without a
    limit), then every line written afterwards, until stopped; and the tasks whose place
    in the cursor was gone (their lines since may be partly lost)."""
    text = after.strip()
    marks = {} if text in SPECIAL_CURSORS else decode_cursor(text)
    follower = Follower(logs, poll=poll, stop=stop, cursors=cursors)
    if text == "end":
        caught_up: Iterator[LogLine] = iter(follower.backlog(0))
        lost: tuple[str, ...] = ()
    else:
        caught_up, lost = follower.after(marks)
    return _caught_up_then_live(follower, caught_up, pattern, context), lost


def _caught_up_then_live(
    follower: Follower, caught_up: Iterator[LogLine], pattern: Searcher | None, context: int
) -> Iterator[Item]:
    try:
        if pattern is None:
            yield from caught_up
            yield from follower
            return
        lines = itertools.chain(caught_up, _budget_per_line(follower, pattern))
        for item in grep_stream(lines, pattern, context):
            yield item[0] if item is not None else None
    finally:
        follower.close()


def _recent_then_live(follower: Follower, n: int, since: float | None) -> Iterator[Item]:
    try:
        backlog = follower.backlog(n)
        yield from (line for line in backlog if since is None or line.ts >= since)
        yield from follower
    finally:
        follower.close()


def _grep_then_live(
    follower: Follower, n: int, pattern: Searcher, context: int, since: float | None
) -> Iterator[Item]:
    try:
        groups = grep(follower.history(since), pattern, context, last_matches=n)
        yield from _flatten(groups)
        separate = bool(groups)
        for item in grep_stream(_budget_per_line(follower, pattern), pattern, context):
            if separate and item is not None:
                yield None
            separate = False
            yield item[0] if item is not None else None
    finally:
        follower.close()


def _budget_per_line(lines: Iterable[LogLine], pattern: Searcher) -> Iterator[LogLine]:
    """Live lines, each searched with a fresh budget (a follow may run for days)."""
    for line in lines:
        if isinstance(pattern, Pattern):
            pattern.renew()
        yield line


# Cursors -----------------------------------------------------------------------------
#
# A cursor is an opaque string saying, for each task, where its log has been read up to:
# (inode, offset, fingerprint of the file's first bytes), so it survives rotation (a
# rename keeps the inode). `read_after` resumes there. If that file is gone (rotated past
# the last backup, `logs --clear`) or is no longer the same (emptied and refilled), it
# returns every line still kept and names the task in `lost`.

SPECIAL_CURSORS = ("start", "end")  # everything kept / nothing yet, only a cursor
_CURSOR_VERSION = "1"


@dataclass(frozen=True)
class Mark:
    """A `Position` as a cursor carries it; inode 0 means before everything."""

    inode: int = 0
    offset: int = 0
    fingerprint: str = ""


def _fingerprint_of(head: bytes, offset: int) -> str:
    return blake2b(head[: min(offset, FINGERPRINT_BYTES)], digest_size=6).hexdigest()


def mark_of(position: Position) -> Mark:
    file, offset = position
    if file is None:
        return Mark()
    return Mark(file.inode, offset, _fingerprint_of(file.head, offset))


@dataclass(frozen=True)
class Cursor:
    """Where each task's log has been read up to: positions of the tasks read, and the
    marks of tasks a cursor carried that this read did not touch (kept as they were)."""

    tasks: tuple[str, ...]
    positions: tuple[Position, ...]
    carried: tuple[tuple[str, Mark], ...] = ()

    def encode(self) -> str:
        marks = [*zip(self.tasks, map(mark_of, self.positions), strict=True), *self.carried]
        return encode_cursor(marks)


def encode_cursor(marks: Iterable[tuple[str, Mark]]) -> str:
    """The opaque text of a cursor: URL- and shell-safe (base64url of a small record)."""
    entries = [f"{task},{m.inode:x},{m.offset:x},{m.fingerprint}" for task, m in marks]
    body = ";".join([_CURSOR_VERSION, *entries]).encode()
    return base64.urlsafe_b64encode(body).rstrip(b"=").decode()


def decode_cursor(text: str) -> dict[str, Mark]:
    """The marks of a cursor text; InvalidCursor (E603) if it is not one taskmux made."""
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


class _Track:
    """Each task's position as merged lines are consumed, in the order they are."""

    def __init__(self, sources: list[_Source], carried: Mapping[str, Mark] | None = None) -> None:
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
                line = replace(line, cursor=snapshot)
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


@dataclass(frozen=True)
class Page:
    """What `read_after` found: the lines written after the cursor (None between grep
    groups), the cursor to pass next time, whether more lines are waiting (the limit was
    reached), and the tasks whose lines since the cursor may be partly gone."""

    lines: tuple[Item, ...]
    cursor: str
    more: bool
    lost: tuple[str, ...]


def read_after(
    logs: list[TaskLog],
    after: str | None,
    limit: int = 100,
    pattern: Searcher | None = None,
    context: int = 0,
    max_bytes: int | None = None,
) -> Page:
    """The lines written after the cursor `after`, oldest first, all tasks merged by time.

    `after` is a cursor from `logs --json` (a line's `cursor`, or a `next_cursor`),
    `"start"` (everything still kept) or `"end"` (no line: only a cursor to poll from).
    A task the cursor does not cover is read from its start; tasks it covers that are not
    read keep their place in the next cursor. At most `limit` lines are returned (with
    `pattern`: `limit` matches, with up to `context` lines around each, never reaching
    back before the cursor), and reading stops once the text returned reaches about
    `max_bytes`; `more` then says so, and the next cursor resumes right there. Only
    complete lines are returned: one still being written comes with the next call.
    """
    text = (after or "start").strip()
    marks = {} if text in SPECIAL_CURSORS else decode_cursor(text)
    catch_up(logs)
    sources: list[_Source] = []
    streams: list[Iterator[LogLine]] = []
    try:
        for log in logs:
            source, stream = _after(log, marks.get(log.task), at_end=text == "end")
            sources.append(source)
            streams.append(stream)
        track = _Track(sources, marks)
        lines = track.follow(merge(streams), snapshots=False)
        taken = _take(lines, limit, pattern, context, max_bytes)
        lost = tuple(source.task for source in sources if source.lost)
        return Page(tuple(taken), track.cursor().encode(), track.more, lost)
    finally:
        for source in sources:
            source.close()


def _after(log: TaskLog, mark: Mark | None, at_end: bool) -> tuple[_Source, Iterator[LogLine]]:
    """A task's complete lines after `mark` (all kept if it is None or gone; none with
    `at_end`), from one consistent view of its files."""
    parts = _parts(_open_all(log), complete_newest=True)
    index, offset, lost = _locate(parts, mark, at_end)
    start = Position(parts[index].file, offset) if parts else START
    source = _Source(log.task, start, _end_of(parts), parts, lost=lost)
    return source, _forward(source, index, offset, b"", growing=False)


def _locate(parts: list[_Part], mark: Mark | None, at_end: bool) -> tuple[int, int, bool]:
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
            same = _fingerprint_of(part.file.head, mark.offset) == mark.fingerprint
            if size >= mark.offset and same:
                return index, mark.offset, False
            break  # the inode now names another file, or this one was emptied
    return 0, 0, True


def _take(
    lines: Iterator[LogLine],
    limit: int,
    pattern: Searcher | None,
    context: int,
    max_bytes: int | None,
) -> list[Item]:
    """Up to `limit` lines (or matches with context) and about `max_bytes` of text. A stop
    comes right after a returned line, so what was read is exactly what was returned
    (and, with a pattern, the lines that did not match)."""
    taken: list[Item] = []
    if limit <= 0:
        return taken
    size = 0
    full = max_bytes if max_bytes is not None else math.inf
    if pattern is None:
        for line in lines:
            taken.append(line)
            size += len(line.text) + 1
            if len(taken) >= limit or size >= full:
                break
        return taken
    matches = 0
    for item in grep_stream(lines, pattern, context):
        if item is None:
            taken.append(None)
            continue
        line, matched = item
        taken.append(line)
        size += len(line.text) + 1
        if matched:
            matches += 1
            if matches >= limit or size >= full:
                break
    return taken
