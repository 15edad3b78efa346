"""A logged line: its stamp, its text as a terminal would show it, the task it came from.

The collector (`collector.py`) writes each line as `YYYY-MM-DDTHH:MM:SS.mmmZ ` (UTC)
followed by the pane's raw bytes and `\\n`, into the task's file (`TaskLog`), which
rotates `FILE` → `FILE.1` → … → `FILE.N`. Nothing here prints.

On the path of a lean `logs` read: cheap standard-library imports only (no dataclasses,
no `typing` at run time); errors and `datetime` are imported where they are needed.
"""

from __future__ import annotations

import os
import re
import time

TYPE_CHECKING = False  # `typing` costs an import on a lean `logs` read; mypy reads this
if TYPE_CHECKING:
    from pathlib import Path

    from taskmux.logs.cursors import Cursor
    from taskmux.logs.redact import Redactor
    from taskmux.logs.snapshot import Position

STAMP_LEN = 24  # len("2024-01-31T12:00:00.000Z")
PREFIX_LEN = STAMP_LEN + 1  # the stamp and one space

# Removed for display: CSI (colours, cursor moves), OSC (titles, hyperlinks; ended by BEL
# or ST), DCS/PM/APC strings, charset selects (ESC ( B), the other two-byte escapes
# (ESC =, ESC 7), and control characters a terminal does not show (tab is kept).
_ANSI = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[()*+\-./][ -~]"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f]"
)
_ERASE_LINE = r"\x1b\[[02]?K"
_COLUMN_ONE = r"\x1b\[1?G"  # cursor to column 1: a redraw, like \r
_SGR = r"\x1b\[[0-9;:]*m"
_SINCE = r"(?i)^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$"
_compiled: dict[str, re.Pattern[str]] = {}


def _re(source: str) -> re.Pattern[str]:
    """The pattern, compiled on first use: most lines are plain text and never need one
    (compiling them all would cost every `logs` call about a millisecond)."""
    found = _compiled.get(source)
    if found is None:
        found = _compiled[source] = re.compile(source)
    return found


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class LogLine:
    """One logged line: its task, its timestamp (epoch seconds), the cleaned text, the raw bytes.

    `pos` is where the task's log has been read up to once this line is (readers set it);
    `cursor`, where every task's has, in a merged read that tracks them (`query` and
    `follow_query` with `cursors=True`). `line_cursor` turns either into a cursor string.
    `partial`: the newest line, still being written (no newline yet: a prompt), which a
    tail shows and whose cursor is its own start, so a read after it gives it again whole.
    Two lines are equal when their task, time, text and bytes are (not where they were read).
    """

    __slots__ = ("cursor", "partial", "pos", "raw", "task", "text", "ts")

    def __init__(
        self,
        task: str,
        ts: float,
        text: str,
        raw: bytes,
        pos: Position | None = None,
        cursor: Cursor | None = None,
        partial: bool = False,
    ) -> None:
        self.task = task
        self.ts = ts
        self.text = text
        self.raw = raw
        self.pos = pos
        self.cursor = cursor
        self.partial = partial

    @property
    def stamp(self) -> str:
        """The timestamp as stored: ISO-8601 UTC with milliseconds."""
        return format_stamp(self.ts)

    def with_cursor(self, cursor: Cursor) -> LogLine:
        return LogLine(self.task, self.ts, self.text, self.raw, self.pos, cursor, self.partial)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogLine):
            return NotImplemented
        return (self.task, self.ts, self.text, self.raw) == (
            other.task,
            other.ts,
            other.text,
            other.raw,
        )

    def __hash__(self) -> int:
        return hash((self.task, self.ts, self.text, self.raw))

    def __repr__(self) -> str:
        return f"LogLine(task={self.task!r}, ts={self.ts!r}, text={self.text!r})"


Item = LogLine | None  # None separates non-adjacent grep groups (`--`)


class TaskLog:
    """Where one task's log lives: the current file, and its rotated siblings `FILE.N`."""

    __slots__ = ("path", "redactor", "task")

    def __init__(self, task: str, path: Path, redactor: Redactor | None = None) -> None:
        self.task = task
        self.path = path
        self.redactor = redactor  # hides the task's secrets in what is read (`redact.py`)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskLog):
            return NotImplemented
        return (self.task, self.path) == (other.task, other.path)

    def __hash__(self) -> int:
        return hash((self.task, self.path))

    def __repr__(self) -> str:
        return f"TaskLog(task={self.task!r}, path={self.path!r})"

    def files(self) -> list[Path]:
        """The existing files of this log, oldest first (`FILE.N` … `FILE.1`, `FILE`)."""
        try:
            names = os.listdir(self.path.parent)
        except FileNotFoundError:
            return []
        rotated = sorted(rotations(self.path.name, names))
        found = [self.path.parent / name for _, name in reversed(rotated)]
        if self.path.name in names:
            found.append(self.path)
        return found


def rotations(name: str, names: list[str]) -> list[tuple[int, str]]:
    """(N, `name.N`) for each rotated file of `name` among `names`."""
    prefix = name + "."
    found = []
    for each in names:
        number = each[len(prefix) :]
        if each.startswith(prefix) and number.isdigit() and number.isascii():
            found.append((int(number), each))
    return found


# Timestamps --------------------------------------------------------------------------


def format_stamp(ts: float) -> str:
    millis = round(ts * 1000)
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


_second_cache: dict[bytes, int] = {}


def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Seconds since 1970 of a UTC time (`calendar.timegm` without importing calendar)."""
    if year < 1 or not 1 <= month <= 12:
        raise ValueError("not a date")  # as timegm refuses it (the other fields just add)
    shifted = year - (month <= 2)  # days from the civil date, March-based years
    era = shifted // 400
    of_era = shifted - era * 400
    of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    of_cycle = of_era * 365 + of_era // 4 - of_era // 100 + of_year
    days = era * 146097 + of_cycle - 719468
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def parse_stamp(line: bytes) -> float | None:
    """Epoch seconds of the line's stamp prefix, or None if the line has none."""
    if len(line) < PREFIX_LEN or line[23:25] != b"Z " or line[19:20] != b".":
        return None
    second = line[:19]
    epoch = _second_cache.get(second)
    if epoch is None:
        try:
            parts = (line[0:4], line[5:7], line[8:10], line[11:13], line[14:16], line[17:19])
            epoch = _epoch(*(int(p) for p in parts))
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
    match = _re(_SINCE).match(value)
    if match:
        amount = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        # Longer ago than 1970 is everything (and a time the clock functions can take).
        return max(0.0, (time.time() if now is None else now) - amount)
    from datetime import datetime

    from taskmux.errors import UsageError

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
    ansi, column_one = _re(_ANSI), _re(_COLUMN_ONE)
    if "\r" not in text and not ("G" in text and column_one.search(text)):
        return ansi.sub("", text)
    shown = ""
    for segment in column_one.sub("\r", text).split("\r"):
        erased = _re(_ERASE_LINE).search(segment) is not None
        visible = ansi.sub("", segment)
        # A carriage return moves to column 0 and overwrites; an erase-line clears the rest.
        shown = visible if erased else visible + shown[len(visible) :]
    return shown


def coloured(raw: bytes) -> str:
    """`clean`, but keeping the colour codes (SGR: ESC[...m) for a renderer that draws them.

    A line redrawn with `\r` (a progress bar) is shown cleaned: its colours would not
    survive the overwriting.
    """
    if raw.endswith(b"\r"):
        raw = raw.rstrip(b"\r")
    text = raw.decode("utf-8", "replace")
    if text.isprintable() or "\r" in text or ("G" in text and _re(_COLUMN_ONE).search(text)):
        return clean(raw)
    sgr = _re(_SGR)
    return _re(_ANSI).sub(lambda m: m.group() if sgr.fullmatch(m.group()) else "", text)


def to_line(task: str, line: bytes, last_ts: float, pos: Position | None = None) -> LogLine:
    """A stored line (stamp, space, raw bytes) as a LogLine; one without a stamp (e.g. a
    foreign writer's) is kept in place, at the time of the line before it."""
    ts = parse_stamp(line)
    if ts is None:
        return LogLine(task, last_ts, clean(line), line, pos)
    raw = line[PREFIX_LEN:]
    return LogLine(task, ts, clean(raw), raw, pos)
