"""MkDocs hook: the configuration reference, rendered from the config dataclasses at build time.

Every key, its type, its default and its meaning come from `taskmux/config/schema.py` (and `tables.py`)
(the meaning from each field's `about(...)` metadata), so the page cannot drift from the
code. The page `reference/configuration.md` holds the prose; this fills in the tables.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, get_args, get_origin, get_type_hints

from taskmux.config import schema

MARKER = "<!-- config-reference -->"

# (dataclass, heading, anchor, what the table is in the file)
SECTIONS: tuple[tuple[type[Any], str, str, str], ...] = (
    (schema.ProjectConfig, "Top level", "top-level", "The keys at the top of `taskmux.toml`."),
    (
        schema.TaskConfig,
        "Per task: `[tasks.NAME]`",
        "tasks",
        "One table per task. NAME holds letters, digits, `-` and `_`, starts with a letter or "
        "`_`, and has at most 64 characters: tmux takes longer names, but a task's name also "
        "names its log and lock files (E116).",
    ),
    (
        schema.Hooks,
        "Hooks: `[hooks]` and `[tasks.NAME.hooks]`",
        "hooks",
        "Shell commands run around starting and stopping: the top-level table for the whole "
        "project, a task's own for that task. How they run: "
        "[Hooks](../configuration.md#hooks).",
    ),
    (
        schema.WorktreeSettings,
        "Worktrees: `[worktree]`",
        "worktree",
        "What `taskmux worktree add` copies and runs in a new checkout, and what `worktree "
        "remove` runs before removing one: [Worktrees and URLs](../worktrees.md).",
    ),
    (
        schema.Dependency,
        "Dependencies: entries of `depends_on`",
        "dependencies",
        'Each entry is a task name (condition `healthy`) or a `{task = "NAME", condition = '
        '"..."}` table. What each condition waits for, and when it can no longer be met: '
        "[Dependency conditions](../configuration.md#dependency-conditions).",
    ),
    (
        schema.Notify,
        "Notices: `[notify]`",
        "notify",
        "Whom a supervisor (`start -m`, `daemon`) tells when something goes wrong: "
        "[Notifications](../configuration.md#notifications).",
    ),
)

_SCALARS: dict[Any, tuple[str, str]] = {
    str: ("string", "strings"),
    int: ("int", "ints"),
    float: ("float", "floats"),
    bool: ("bool", "bools"),
}
_TABLES: dict[Any, tuple[str, str]] = {
    schema.Hooks: ("table ([hooks](#hooks))", "tables"),
    schema.WorktreeSettings: ("table ([worktree](#worktree))", "tables"),
    schema.Dependency: (
        "task name or table",
        "task names or `{task, condition}` tables ([dependencies](#dependencies))",
    ),
    schema.TaskConfig: ("table ([per task](#tasks))", "tables ([per task](#tasks))"),
    schema.Notify: ("table ([notify](#notify))", "tables"),
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _toml(value: Any) -> str:
    """A default as it would be written in taskmux.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return repr(value)


def _bounded(text: str, bounds: schema.Bounds) -> str:
    if bounds.ge is not None and bounds.le is not None:
        text += f" {_number(bounds.ge)}\N{EN DASH}{_number(bounds.le)}"
    elif bounds.ge is not None:
        text += f" >= {_number(bounds.ge)}"
    elif bounds.gt is not None:
        text += f" > {_number(bounds.gt)}"
    if bounds.min_length:
        text += ", not empty"
    return text


def type_text(annotation: Any, plural: bool = False) -> str:
    """A field's type in words: `int 1-65535, or "auto"`, `list of strings`."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is typing.Annotated:
        text = type_text(args[0], plural)
        for extra in args[1:]:
            if isinstance(extra, schema.Bounds):
                text = _bounded(text, extra)
        return text
    if origin in (typing.Union, types.UnionType):
        return ", or ".join(type_text(arg, plural) for arg in args if arg is not type(None))
    if origin is Literal:
        return ", ".join(f"`{_toml(arg)}`" for arg in args)
    if origin is list:
        return "list of " + type_text(args[0], plural=True)
    if origin is dict:
        return "table of " + type_text(args[1], plural=True)
    names = _SCALARS.get(annotation) or _TABLES.get(annotation)
    if names is None:
        raise TypeError(f"no words for the type {annotation!r}: add it to the docs hook")
    return names[1] if plural else names[0]


def default_text(spec: dataclasses.Field[Any]) -> str:
    unset = spec.metadata.get("unset")
    if spec.default is not dataclasses.MISSING:
        value = spec.default
    elif spec.default_factory is not dataclasses.MISSING:
        value = spec.default_factory()
    else:
        return "required"
    if value is None or value == {} or dataclasses.is_dataclass(value):
        return str(unset) if unset else "none"
    return f"`{_toml(value)}`"


def _cell(text: str) -> str:
    """Text for a table cell: pipes outside code spans escaped (Python-Markdown leaves the
    ones inside code spans alone, and would show the backslash there)."""
    parts = text.replace("\n", " ").split("`")
    return "`".join(
        part if index % 2 else part.replace("|", "\\|") for index, part in enumerate(parts)
    )


def render_section(cls: type[Any]) -> str:
    """One table: every field of `cls`, in declaration order."""
    hints = get_type_hints(cls, include_extras=True)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for spec in dataclasses.fields(cls):
        if spec.metadata.get("internal"):
            continue  # filled in by the loader, not a key of the file
        meaning = spec.metadata.get("doc", "")
        cells = (f"`{spec.name}`", type_text(hints[spec.name]), default_text(spec), meaning)
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(rows)


def render() -> str:
    """The whole reference: one heading and one table per section."""
    parts = []
    for cls, heading, anchor, intro in SECTIONS:
        parts += [f"## {heading} {{#{anchor}}}", "", intro, "", render_section(cls), ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: put the rendered tables where the page has the marker."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())
