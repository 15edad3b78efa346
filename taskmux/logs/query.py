"""What `taskmux logs` shows: the last lines or the last matches, then (`-f`) live ones.

The service's `logs` and `follow_logs` operations read through these; a lean `logs -n N`
without a pattern reads through `reading.tail_lines`, as `query` does.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator

from taskmux.logs.cursors import SPECIAL_CURSORS, Track, decode_cursor
from taskmux.logs.follow import Follower
from taskmux.logs.lines import Item, LogLine, TaskLog
from taskmux.logs.reading import catch_up, merge, reader, tail_lines
from taskmux.logs.redact import redact_lines
from taskmux.logs.search import Group, Pattern, Searcher, grep, grep_stream
from taskmux.logs.snapshot import open_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from taskmux.logs.digest import DigestPage


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
    if pattern is None:
        return redact_lines(tail_lines(logs, n, since, cursors), logs)
    catch_up(logs)
    readers = [reader(log.task, open_all(log), since, complete=False) for log in logs]
    try:
        lines: Iterable[LogLine] = redact_lines(merge([s for _, s in readers]), logs)
        if cursors and len(logs) > 1:
            lines = Track([source for source, _ in readers]).follow(lines)
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
        return _recent_then_live(follower, logs, n, since)
    return _grep_then_live(follower, logs, n, pattern, context, since)


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
    caught_up = redact_lines(caught_up, logs)
    return _caught_up_then_live(follower, logs, caught_up, pattern, context), lost


def _caught_up_then_live(
    follower: Follower,
    logs: list[TaskLog],
    caught_up: Iterator[LogLine],
    pattern: Searcher | None,
    context: int,
) -> Iterator[Item]:
    try:
        live = redact_lines(follower, logs)
        if pattern is None:
            yield from caught_up
            yield from live
            return
        lines = itertools.chain(caught_up, _budget_per_line(live, pattern))
        for item in grep_stream(lines, pattern, context):
            yield item[0] if item is not None else None
    finally:
        follower.close()


def _recent_then_live(
    follower: Follower, logs: list[TaskLog], n: int, since: float | None
) -> Iterator[Item]:
    try:
        backlog = follower.backlog(n)
        yield from redact_lines((x for x in backlog if since is None or x.ts >= since), logs)
        yield from redact_lines(follower, logs)
    finally:
        follower.close()


def _grep_then_live(
    follower: Follower,
    logs: list[TaskLog],
    n: int,
    pattern: Searcher,
    context: int,
    since: float | None,
) -> Iterator[Item]:
    """Secrets are hidden before the search: a pattern cannot find a line by its secret."""
    try:
        history = redact_lines(follower.history(since), logs)
        groups = grep(history, pattern, context, last_matches=n)
        yield from _flatten(groups)
        separate = bool(groups)
        live = redact_lines(follower, logs)
        for item in grep_stream(_budget_per_line(live, pattern), pattern, context):
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


def digest_query(
    logs: list[TaskLog],
    n: int,
    pattern: Searcher | None,
    context: int,
    since: float | None,
    after: str | None,
    max_tokens: int,
) -> DigestPage:
    """The digest (`digest.py`) of the last n lines (n left at the `logs` default: the
    last `DIGEST_LINES`), of those since `since`, or of those after the cursor `after`;
    with the cursor to read on from."""
    from taskmux.logs.after import read_after
    from taskmux.logs.digest import DigestPage, Line, digest
    from taskmux.operations import DIGEST_LINES, OPERATIONS

    window = DIGEST_LINES if n == OPERATIONS["logs"].default("lines") else n
    lost: tuple[str, ...] = ()
    cursor: str | None
    if after is not None:
        page = read_after(logs, after, window, pattern, context)
        items, cursor, lost = page.lines, page.cursor, page.lost
    else:
        items = tuple(query(logs, window, pattern, context, since, cursors=True))
        cursor = next_cursor(items, logs)
    lines = [Line(item.task, item.stamp, item.text) for item in items if item is not None]
    return DigestPage(digest(lines, max_tokens), cursor, lost)


def next_cursor(items: Iterable[Item], logs: list[TaskLog]) -> str:
    """The cursor to read on from after a read of the newest lines: just after the last
    line it gave (every task's place), or, when it gave none, where every log ends now."""
    from taskmux.logs.after import read_after
    from taskmux.logs.cursors import line_cursor

    last = next((item for item in reversed(list(items)) if item is not None), None)
    cursor = line_cursor(last) if last is not None else None
    return cursor if cursor is not None else str(read_after(logs, "end", 0).cursor)
