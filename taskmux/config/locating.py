"""Where in the TOML text a problem's task and key are: the line `check` and errors name.

Problems come from validating the parsed data, which has no line numbers; this finds
the line back in the text, best effort: the key's own line, else the line of the
table or inline table that holds it.
"""

from __future__ import annotations

import json
import re

from taskmux.errors import Problem

# One part of a dotted key: a quoted string or a bare key.
_PART = r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|[A-Za-z0-9_-]+'
_DOTTED = rf"(?:{_PART})(?:[ \t]*\.[ \t]*(?:{_PART}))*"
_HEADER_RE = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]")
_ASSIGN_RE = re.compile(rf"^\s*({_DOTTED})\s*=")


def _parts(dotted: str) -> tuple[str, ...]:
    """`tasks."c d".port` as ('tasks', 'c d', 'port')."""
    parts = []
    for part in re.findall(_PART, dotted):
        if part.startswith('"'):
            try:
                part = json.loads(part)  # TOML's basic-string escapes are JSON's, nearly
            except ValueError:
                part = part[1:-1]
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def locate(text: str, task: str | None, key: str | None) -> int | None:
    """Best-effort line number of a task's key (or its table header) in the TOML text."""
    owner = ("tasks", task) if task else ()
    key_parts = tuple(key.split(".")) if key else ()
    target = owner + key_parts
    table: tuple[str, ...] = ()
    parent_line: int | None = None  # the header of the table that should hold the key
    holder_line: int | None = None  # an inline table (`a = { ... }`) that holds the target
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header:
            table = _parts(header.group(1))
            if table == target and target:
                return number  # the task's own table, or `[tasks.a.env]` for the key `env`
            if table == target[:-1] and key_parts:
                parent_line = parent_line or number
            continue
        assignment = _ASSIGN_RE.match(line)
        if assignment:
            full = table + _parts(assignment.group(1))
            if target and full[: len(target)] == target:
                return number  # the key itself, or a dotted key below it (`env.NAME = …`)
            if target[: len(full)] == full and holder_line is None:
                holder_line = number
    if len(key_parts) > 1:  # `env = { NAME = ... }`: an inline table, or the table's header
        return parent_line or holder_line or locate(text, task, key_parts[0])
    if parent_line is None and holder_line is None and task and key:
        return locate(text, task, None)
    return parent_line or holder_line


def by_line(problems: list[Problem]) -> list[Problem]:
    """Problems in the order of the file; those without a line last, in the order found."""
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))
