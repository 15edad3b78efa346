"""What a model should read of a log: a digest (`logs --digest`, the MCP `logs` tool).

Pure: it takes lines (task, stamp, text as written) and returns a `Digest`; it reads no
file and knows no clock. The steps, in order:

1. Each line is shown as a terminal would: escape sequences dropped, `\\r` and
   cursor-to-column-one redraws resolved to their last state (a progress bar is its
   last frame).
2. Error blocks are found per task: a Python traceback from `Traceback (most recent
   call last):` through its exception line (chained ones included); a line naming
   `error`, `exception`, `traceback`, `fatal`, `panic`, an `…Error`/`…Exception` class
   or a non-zero exit, with the indented stack lines under it (Node's `    at …`, Java's,
   Go's); each with `CONTEXT_BEFORE`/`CONTEXT_AFTER` lines around it. Overlapping blocks
   merge. Blocks alike once masked (below) are shown once, the newest, with a count.
3. Repeats collapse. A line's *shape* is its task and its text with every word that
   holds a digit masked (numbers, hex ids, timestamps, versions, `15ms`). Inside an error block, a run of consecutive lines of one
   shape becomes one line with a count. Outside error blocks, every shape is shown
   once, at its newest occurrence, with the number of lines (consecutive or not) it
   stands for. Blank lines outside error blocks are dropped.
4. The budget: a token is counted as `CHARS_PER_TOKEN` characters of the rendered text
   (`Digest.text()`, headers included). Error blocks come first and whole, newest block
   first, up to `ERRORS_SHARE` of the budget (a block alone too big keeps its head and
   tail, and says how many lines it left out); the newest other lines fill the rest.
   Lines longer than `MAX_LINE_CHARS` are cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

CHARS_PER_TOKEN = 4
DEFAULT_MAX_TOKENS = 2000
CONTEXT_BEFORE = 2  # lines kept before an error line
CONTEXT_AFTER = 2  # and after it (after its stack lines)
ERRORS_SHARE = 0.75  # at most this much of the budget for error blocks, when other lines wait
MAX_LINE_CHARS = 400
MAX_STACK_LINES = 5000  # a stack longer than this is not one stack
_HEADER_ROOM = 80  # characters kept back for each of the two section headers
_MARK_ROOM = 40  # for the mark in a block cut to fit

_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erases
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]"  # two-byte escapes, charset selects
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab stays
_COLUMN_ONE = re.compile(r"\x1b\[1?G")
_ERASE_LINE = re.compile(r"\x1b\[[02]?K")

# A word with a digit in it: a number, a hex id, a timestamp, a version, `15ms`.
_MASK = re.compile(r"[0-9a-zA-Z_]*[0-9][0-9a-zA-Z_.:+-]*")
_ERROR = re.compile(
    r"(?i:(?<!\b0 )(?<!\bno )\b(?:errors?|exception|traceback|fatal|panic(?:ked)?)\b|\berr!)"
    r"|\b[A-Z]\w*(?:Error|Exception)\b"  # TypeError, NullPointerException
    r"|(?i:\bexit(?:ed)?(?: with)? (?:code|status) [1-9])"
)
_TRACEBACK = "Traceback (most recent call last)"
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_CAUSED = re.compile(r"^(?:Caused by|goroutine \d+|\[signal )")


class Line(NamedTuple):
    """One line to digest: its task, its stamp (shown in JSON only), its text as written."""

    task: str
    stamp: str
    text: str


@dataclass(frozen=True)
class Entry:
    """One line of the digest, standing for `count` lines of its shape (the newest shown);
    or, with `omitted`, a mark that that many lines of an error block were left out."""

    section: str  # "errors" or "newest"
    task: str
    text: str = ""
    count: int = 1
    stamp: str = ""
    omitted: int = 0

    def render(self, prefixed: bool) -> str:
        if self.omitted:
            return f"… {self.omitted} lines of this block left out …"
        head = f"{self.task} | " if prefixed else ""
        tail = f"  [x{self.count}]" if self.count > 1 else ""
        return head + self.text + tail

    def to_dict(self) -> dict[str, Any]:
        if self.omitted:
            return {"section": self.section, "task": self.task, "omitted": self.omitted}
        data: dict[str, Any] = {"section": self.section, "task": self.task, "ts": self.stamp}
        data["line"] = self.text
        if self.count > 1:
            data["count"] = self.count
        return data


@dataclass(frozen=True)
class Digest:
    """The digest and its counts: `lines_in` read, `lines_out` shown, `collapsed` (lines
    a shown line stands for as repeats), `left_out` (lines neither shown nor collapsed:
    over the budget, or blank), `truncated` (the budget left something out)."""

    entries: tuple[Entry, ...]
    lines_in: int
    collapsed: int
    left_out: int
    truncated: bool
    error_blocks: int  # found, before the budget
    errors_shown: int
    kinds_left_out: int  # shapes of other lines the budget left out
    cut_block: bool  # the one error block shown was too big: head and tail
    prefixed: bool  # several tasks: each line says its task
    max_tokens: int

    @property
    def lines_out(self) -> int:
        return sum(1 for entry in self.entries if not entry.omitted)

    def text(self) -> str:
        return "\n".join(render(self))

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text())

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": [entry.to_dict() for entry in self.entries],
            "lines_in": self.lines_in,
            "lines_out": self.lines_out,
            "collapsed": self.collapsed,
            "left_out": self.left_out,
            "truncated": self.truncated,
            "error_blocks": self.error_blocks,
            "tokens": self.tokens,
            "max_tokens": self.max_tokens,
        }


def estimate_tokens(text: str) -> int:
    """Tokens as counted here: one per `CHARS_PER_TOKEN` characters, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


# Cleaning and shapes -------------------------------------------------------------------


def visible(text: str) -> str:
    """What a terminal would show for one written line: no escapes, redraws resolved."""
    if text.isprintable():
        return text
    text = text.rstrip("\r\n")
    if "\r" not in text and not _COLUMN_ONE.search(text):
        return _CONTROL.sub("", _ESCAPE.sub("", text))
    shown = ""
    for segment in _COLUMN_ONE.sub("\r", text).split("\r"):
        erased = _ERASE_LINE.search(segment) is not None
        drawn = _CONTROL.sub("", _ESCAPE.sub("", segment))
        # A carriage return writes over the start of the line; an erase clears the rest.
        shown = drawn if erased else drawn + shown[len(drawn) :]
    return shown


def shape(text: str) -> str:
    """The line with every word that holds a digit masked: near-identical lines (they
    differ in numbers, hex ids, timestamps) share it."""
    return _MASK.sub("#", text)


def is_error(text: str) -> bool:
    """Whether the line names an error (the words first: most lines name none, and
    looking for a word costs a tenth of the pattern)."""
    low = text.lower()
    if not (
        "err" in low
        or "exception" in low
        or "traceback" in low
        or "fatal" in low
        or "panic" in low
        or "exit" in low
    ):
        return False
    return _TRACEBACK in text or _ERROR.search(text) is not None


def _cut(text: str) -> str:
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]}… [+{len(text) - MAX_LINE_CHARS} chars]"


# Error blocks --------------------------------------------------------------------------


def _traceback_end(texts: Sequence[str], start: int) -> int:
    """The index after a Python traceback that starts at `start` (chained ones too)."""
    index = start + 1
    limit = min(len(texts), start + MAX_STACK_LINES)
    while index < limit:
        text = texts[index]
        if not text or text[0] in " \t" or _TRACEBACK in text:
            index += 1
            continue
        if text.startswith(_CHAINED):
            index += 1
            continue
        index += 1  # the exception line: the traceback ends here, unless a chain follows
        ahead = index
        while ahead < len(texts) and not texts[ahead].strip():
            ahead += 1
        if ahead < len(texts) and texts[ahead].startswith(_CHAINED):
            index = ahead
            continue
        return index
    return index


def _stack_end(texts: Sequence[str], start: int) -> int:
    """The index after an error line and the stack lines under it (indented, or a
    `Caused by:`/`goroutine N` line of Java's or Go's)."""
    index = start + 1
    limit = min(len(texts), start + MAX_STACK_LINES)
    while (
        index < limit and texts[index] and (texts[index][0] in " \t" or _CAUSED.match(texts[index]))
    ):
        index += 1
    return index


def find_blocks(texts: Sequence[str]) -> list[tuple[int, int]]:
    """The error blocks of one task's lines as (start, end) index ranges, with context,
    overlapping ones merged, oldest first."""
    blocks: list[tuple[int, int]] = []
    index = 0
    while index < len(texts):
        text = texts[index]
        if not is_error(text):
            index += 1
            continue
        end = _traceback_end(texts, index) if _TRACEBACK in text else _stack_end(texts, index)
        start, stop = max(0, index - CONTEXT_BEFORE), min(len(texts), end + CONTEXT_AFTER)
        if blocks and start <= blocks[-1][1]:
            start = blocks[-1][0]
            blocks.pop()
        blocks.append((start, stop))
        index = end
    return blocks


# The digest ----------------------------------------------------------------------------


class _Block(NamedTuple):
    entries: list[Entry]  # consecutive repeats collapsed
    core: list[int]  # which entries are error or stack lines
    newest: int  # index of its last line in the input


def _collapse_runs(rows: Sequence[tuple[Line, str]], section: str) -> list[Entry]:
    """Consecutive lines of one shape as one entry (the newest text, and the count)."""
    entries: list[Entry] = []
    last_shape: str | None = None
    for line, text in rows:
        key = shape(text)
        if entries and key == last_shape:
            entries[-1] = Entry(section, line.task, _cut(text), entries[-1].count + 1, line.stamp)
        else:
            entries.append(Entry(section, line.task, _cut(text), 1, line.stamp))
        last_shape = key
    return entries


def _is_core(text: str) -> bool:
    """An error line or a stack line under one (not the context around them)."""
    return text[:1] in (" ", "\t") or is_error(text)


def _error_blocks(lines: Sequence[Line], texts: Sequence[str]) -> tuple[list[_Block], set[int]]:
    """Every error block (oldest first) and the input indexes they cover. Blocks whose
    error and stack lines are alike (masked) are one: the newest, its lines counted for
    them all."""
    by_task: dict[str, list[int]] = {}
    for index, line in enumerate(lines):
        by_task.setdefault(line.task, []).append(index)
    found: list[list[int]] = []
    for indexes in by_task.values():
        task_texts = [texts[i] for i in indexes]
        found += [indexes[start:stop] for start, stop in find_blocks(task_texts)]
    found.sort(key=lambda block: block[-1])
    covered = {index for block in found for index in block}
    alike: dict[tuple[str, ...], _Block] = {}
    for block in found:
        entries = _collapse_runs([(lines[i], texts[i]) for i in block], "errors")
        core = [index for index, entry in enumerate(entries) if _is_core(entry.text)]
        key = (lines[block[0]].task, *(shape(entries[i].text) for i in core))
        before = alike.pop(key, None)
        if before is not None:  # the same error again: the newest, counting them all
            for mine, theirs in zip(core, before.core, strict=True):
                entry, older = entries[mine], before.entries[theirs]
                entries[mine] = Entry(
                    "errors", entry.task, entry.text, entry.count + older.count, entry.stamp
                )
        alike[key] = _Block(entries, core, block[-1])
    return sorted(alike.values(), key=lambda b: b.newest), covered


def _newest_entries(lines: Sequence[Line], texts: Sequence[str], covered: set[int]) -> list[Entry]:
    """The non-blank lines outside error blocks, newest first, one entry per shape
    (its newest line, standing for every line of that shape)."""
    found: dict[tuple[str, str], list[int]] = {}  # shape: [its newest index, its lines]
    for index in range(len(lines) - 1, -1, -1):
        text = texts[index]
        if index in covered or not text or text.isspace():
            continue
        key = (lines[index].task, shape(text))
        seen = found.get(key)
        if seen is None:
            found[key] = [index, 1]
        else:
            seen[1] += 1
    return [
        Entry("newest", lines[i].task, _cut(texts[i]), count, lines[i].stamp)
        for i, count in found.values()
    ]


def _size(entries: Iterable[Entry], prefixed: bool) -> int:
    return sum(len(entry.render(prefixed)) + 1 for entry in entries)


def _trim(block: _Block, room: int, prefixed: bool) -> list[Entry]:
    """A block too big for `room` characters: as many of its first and last lines as fit,
    taken in turn, and a mark for the lines between."""
    entries = block.entries
    head: list[Entry] = []
    tail: list[Entry] = []
    room -= _MARK_ROOM
    low, high = 0, len(entries) - 1
    while low <= high:
        from_head = len(head) <= len(tail)
        nxt = entries[low] if from_head else entries[high]
        cost = len(nxt.render(prefixed)) + 1
        if cost > room:
            break
        room -= cost
        if from_head:
            head.append(nxt)
            low += 1
        else:
            tail.insert(0, nxt)
            high -= 1
    omitted = sum(entry.count for entry in entries[low : high + 1])
    mark = Entry("errors", entries[0].task, omitted=omitted)
    return [*head, mark, *tail]


def digest(lines: Sequence[Line], max_tokens: int = DEFAULT_MAX_TOKENS) -> Digest:
    """The digest of `lines` (oldest first) within `max_tokens` (see the module's doc)."""
    texts = [visible(line.text) for line in lines]
    prefixed = len({line.task for line in lines}) > 1
    blocks, covered = _error_blocks(lines, texts)
    newest = _newest_entries(lines, texts, covered)
    budget = max(0, max_tokens * CHARS_PER_TOKEN - 2 * _HEADER_ROOM)
    shown_blocks, trimmed = _fit_blocks(
        blocks, int(budget * ERRORS_SHARE) if newest else budget, prefixed
    )
    used = sum(_size(block, prefixed) for block in shown_blocks)
    kept: list[Entry] = []
    for entry in newest:  # newest first
        used += len(entry.render(prefixed)) + 1
        if used > budget:
            break
        kept.append(entry)
    kept.reverse()
    entries = tuple(entry for block in shown_blocks for entry in block) + tuple(kept)
    represented = sum(entry.count for entry in entries if not entry.omitted)
    shown = sum(1 for entry in entries if not entry.omitted)
    return Digest(
        entries=entries,
        lines_in=len(lines),
        collapsed=represented - shown,
        left_out=len(lines) - represented,
        truncated=trimmed or len(shown_blocks) < len(blocks) or len(kept) < len(newest),
        error_blocks=len(blocks),
        errors_shown=len(shown_blocks),
        kinds_left_out=len(newest) - len(kept),
        cut_block=trimmed,
        prefixed=prefixed,
        max_tokens=max_tokens,
    )


def _fit_blocks(
    blocks: Sequence[_Block], room: int, prefixed: bool
) -> tuple[list[list[Entry]], bool]:
    """The newest error blocks that fit in `room` characters, whole, oldest first; if not
    even the newest fits, its head and tail (and True: a block was cut)."""
    shown: list[list[Entry]] = []
    used = 0
    for block in reversed(blocks):
        cost = _size(block.entries, prefixed)
        if used + cost <= room:
            shown.insert(0, block.entries)
            used += cost
            continue
        if not shown and room > 2 * _MARK_ROOM:
            return [_trim(block, room, prefixed)], True
        break
    return shown, False


# Rendering -----------------------------------------------------------------------------


def render(digest: Digest) -> list[str]:
    """The digest as text lines: the errors section (when there are errors), then the
    newest lines; each section's header says what the budget left out of it."""
    out: list[str] = []
    prefixed = digest.prefixed
    if digest.error_blocks:
        plural = "s" if digest.error_blocks != 1 else ""
        header = f"## errors: {digest.errors_shown} of {digest.error_blocks} block{plural}"
        if digest.errors_shown < digest.error_blocks:
            header += f" ({digest.error_blocks - digest.errors_shown} older left out)"
        out.append(header + (" (cut to fit)" if digest.cut_block else ""))
        out += [e.render(prefixed) for e in digest.entries if e.section == "errors"]
    header = "## newest lines (repeats counted)"
    if digest.kinds_left_out:
        header += f" ({digest.kinds_left_out} older kinds of line left out)"
    out.append(header)
    out += [e.render(prefixed) for e in digest.entries if e.section == "newest"]
    return out


@dataclass(frozen=True)
class DigestPage:
    """A digest of what was read, the cursor to read on after it (`after`), and the tasks
    whose place in a given cursor was gone (their lines since may be partly lost)."""

    digest: Digest
    next_cursor: str | None
    lost: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.digest.to_dict(), "next_cursor": self.next_cursor, "lost": list(self.lost)}
