"""The plan of a new `taskmux.toml`: its keys, and a note per source key; the helpers
every importer shares (task names, values shown in comments, signals). Pure."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from typing import Any, Literal

Format = Literal["procfile", "process-compose"]

_TASK_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # as models.TASK_NAME_RE
_MAX_NAME = 64
# Words in a key's name that say its value may be a secret: such values are not copied
# into comments or reports.
_SECRET_WORDS = re.compile(r"pass|secret|token|key|auth|cred|env|vars|cmd", re.IGNORECASE)
_MAX_SHOWN = 80  # longest value quoted in a comment


@dataclass(frozen=True)
class Note:
    """What became of one key of the source: `target` names the taskmux key it went to,
    None when it has no equivalent (then it is a comment in the file)."""

    source: str  # e.g. "processes.api.readiness_probe.http_get"
    target: str | None  # e.g. "tasks.api.health_url"
    detail: str

    @property
    def mapped(self) -> bool:
        return self.target is not None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "detail": self.detail}


@dataclass
class TaskPlan:
    """One `[tasks.NAME]` table: keys in order, a trailing comment per key, and comment
    lines for what has no equivalent."""

    keys: dict[str, Any] = field(default_factory=dict)
    key_comments: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    """The new config: top-level keys, tasks in the source's order, and every note."""

    source_format: Format
    source_name: str
    top: dict[str, Any] = field(default_factory=dict)
    top_comments: list[str] = field(default_factory=list)
    tasks: dict[str, TaskPlan] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    # Env files to write beside taskmux.toml, readable by the owner only (0600): the
    # values that look secret, kept out of the config (file name → NAME → value).
    private_files: dict[str, dict[str, str]] = field(default_factory=dict)

    def mapped(self, source: str, target: str, detail: str) -> None:
        self.notes.append(Note(source, target, detail))

    def unmapped(self, source: str, detail: str, task: str | None = None) -> None:
        """A key with no equivalent: noted, and a comment in the task's table (or on top)."""
        self.notes.append(Note(source, None, detail))
        line = f"no equivalent: {source}: {detail}"
        if task is None:
            self.top_comments.append(line)
        else:
            self.tasks[task].comments.append(line)


def unique_names(names: list[str], plan: ImportPlan, what: str) -> list[str]:
    """Task names taskmux accepts, one per source name (renames are noted)."""
    result: list[str] = []
    taken: set[str] = set()
    for original in names:
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", original).strip("-")[:_MAX_NAME] or "task"
        if not _TASK_NAME_RE.match(name):
            name = ("_" + name)[:_MAX_NAME]
        if name in taken and name != original:
            base, number = name[: _MAX_NAME - 4], 2
            while f"{base}-{number}" in taken:
                number += 1
            name = f"{base}-{number}"
        if name != original:
            plan.mapped(
                f"{what} {original!r}", f"tasks.{name}", "renamed: task names hold A-Z a-z 0-9 - _"
            )
        taken.add(name)
        result.append(name)
    return result


def unescape_dollars(command: str, expand: bool) -> str:
    """process-compose turns `$$` into `$` before running a command; the shell would not."""
    return command.replace("$$", "$") if expand else command


def signal_name(value: Any) -> str | None:
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return signal.Signals(value).name
        text = str(value).strip().upper()
        return signal.Signals[text if text.startswith("SIG") else "SIG" + text].name
    except (ValueError, KeyError):
        return None


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shown(key: str, value: Any) -> str:
    """`key = value` for a comment, or just the key when the value may be a secret, is a
    table, or is long."""
    if _SECRET_WORDS.search(key.rsplit(".", 1)[-1]) or isinstance(value, dict | list):
        return key
    text = scalar_text(value) if value is not None else "null"
    if "\n" in text or len(text) > _MAX_SHOWN:
        return key
    return f"{key} = {text}"
