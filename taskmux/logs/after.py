"""Reading after a cursor (`logs --after`): the lines written since, page by page.

Every task's place comes from the cursor (`cursors.py`); a task whose place is gone
(rotated past the last backup, cleared) is read from its start and named in `lost`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from taskmux.logs.cursors import SPECIAL_CURSORS, Mark, Track, decode_cursor, locate
from taskmux.logs.lines import Item, LogLine, TaskLog
from taskmux.logs.reading import catch_up, forward, merge
from taskmux.logs.redact import redact_lines
from taskmux.logs.search import Searcher, grep_stream
from taskmux.logs.snapshot import START, Position, Source, end_of, open_all, parts_of


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
    sources: list[Source] = []
    streams: list[Iterator[LogLine]] = []
    try:
        for log in logs:
            source, stream = _after(log, marks.get(log.task), at_end=text == "end")
            sources.append(source)
            streams.append(stream)
        track = Track(sources, marks)
        lines = redact_lines(track.follow(merge(streams), snapshots=False), logs)
        taken = _take(lines, limit, pattern, context, max_bytes)
        lost = tuple(source.task for source in sources if source.lost)
        return Page(tuple(taken), track.cursor().encode(), track.more, lost)
    finally:
        for source in sources:
            source.close()


def _after(log: TaskLog, mark: Mark | None, at_end: bool) -> tuple[Source, Iterator[LogLine]]:
    """A task's complete lines after `mark` (all kept if it is None or gone; none with
    `at_end`), from one consistent view of its files."""
    parts = parts_of(open_all(log), complete_newest=True)
    index, offset, lost = locate(parts, mark, at_end)
    start = Position(parts[index].file, offset) if parts else START
    source = Source(log.task, start, end_of(parts), parts, lost=lost)
    return source, forward(source, index, offset, b"", growing=False)


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
