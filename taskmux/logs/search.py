"""Searching logs: a `-g` regex with a time budget, and grep with context lines.

Python's `re` cannot be interrupted, so a pattern that backtracks without end would hang
the CLI, a daemon worker or an MCP call: `Pattern` searches with the third-party `regex`
engine under one time budget per query (imported only for such patterns).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from taskmux.errors import InvalidPattern, PatternTooSlow
from taskmux.logs.lines import LogLine
from taskmux.logs.reading import count

if TYPE_CHECKING:
    import regex


@dataclass(frozen=True)
class Group:
    """A run of adjacent lines around grep matches; `matched[i]` tells whether line i matched."""

    lines: tuple[LogLine, ...]
    matched: tuple[bool, ...]


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
    context = count(context)
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
