"""How deeply a config nests, and where it first nests too deeply.

tomllib parses arrays and inline tables recursively, so a value nested some hundreds
deep raises `RecursionError` (a traceback in every command); tomlkit refuses more than
100 levels. One limit, checked after every parse, keeps both the loads and the edits of
a file in agreement, and turns the mistake into one located E110.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 100  # tables, arrays and inline tables inside one another (tomlkit's own limit)

_TOKEN = re.compile(
    r'"""(?:[^\\]|\\[\s\S])*?"""'  # multi-line basic string
    r"|'''[\s\S]*?'''"  # multi-line literal string
    r'|"(?:[^"\\\n]|\\.)*"'  # basic string
    r"|'[^'\n]*'"  # literal string
    r"|#[^\n]*"  # comment
    r"|[\n\[\]{}=.]"
)


def depth(data: Any) -> int:
    """The deepest nesting of containers below the document (`x = [1]`: 1). Iterative:
    the data may be exactly what a recursive walk cannot take."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, dict | list):
                deepest = max(deepest, level + 1)
                stack.append((child, level + 1))
    return deepest


def too_deep_line(text: str, limit: int = MAX_DEPTH) -> int | None:
    """Best effort: the line where the nesting first goes over `limit` (table headers,
    dotted keys, arrays and inline tables all count, as in `depth`)."""
    line = 1
    table = 0  # the current table's depth (its header's parts)
    brackets = 0  # open `[` and `{` of the current value
    value_base = 0  # the depth of the current key's table
    key_parts = 1
    at_start = True  # at the start of a line outside any value: a `[` opens a header
    header: list[int] | None = None  # [brackets, parts] while reading a header
    for match in _TOKEN.finditer(text):
        token = match.group()
        if header is not None:
            if token == "[":
                header[0] += 1
            elif token == ".":
                header[1] += 1
            elif token in "]\n":
                table = header[1] + header[0] - 1  # `[[a]]`: the array and its table
                header = None
                if table > limit:
                    return line
        elif token == "[" and at_start and brackets == 0:
            header = [1, 1]
        elif token in ("[", "{"):
            brackets += 1
            if value_base + brackets > limit:
                return line
        elif token in ("]", "}"):
            brackets = max(0, brackets - 1)
        elif token == "." and brackets == 0 and at_start:
            key_parts += 1
        elif token == "=" and brackets == 0 and at_start:
            value_base = table + key_parts - 1
            if value_base > limit:
                return line
            at_start = False
        if token == "\n" and brackets == 0:
            at_start, key_parts = True, 1
        line += token.count("\n")
    return None
