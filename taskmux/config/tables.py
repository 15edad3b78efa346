"""The small tables of taskmux.toml (`[hooks]`, `[worktree]`, `[notify]`) and the two
helpers every key's field uses: its meaning (`about`) and its range (`Bounds`).

Standard library only, like `schema.py`, which builds the task and project tables on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


def about(meaning: str, *, unset: str | None = None) -> dict[str, str]:
    """A key's meaning, kept on its field: the docs' configuration reference is rendered
    from it, so the two cannot drift. `unset` says what no value means, when not nothing."""
    return {"doc": meaning} if unset is None else {"doc": meaning, "unset": unset}


@dataclass(frozen=True)
class Bounds:
    """A numeric range for pydantic to enforce; also marks the field as strictly typed."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    min_length: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        schema = handler(source)
        for key in ("ge", "gt", "le", "min_length"):
            value = getattr(self, key)
            if value is not None:
                schema[key] = value
        return schema


@dataclass(frozen=True)
class Hooks:
    """Shell commands run around starting and stopping (globally or for one task)."""

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    before_start: str | None = field(
        default=None,
        metadata=about("shell command run before the tasks (or this task) start"),
    )
    after_start: str | None = field(
        default=None,
        metadata=about("shell command run after the tasks (or this task) started"),
    )
    before_stop: str | None = field(
        default=None,
        metadata=about("shell command run before the tasks (or this task) are stopped"),
    )
    after_stop: str | None = field(
        default=None,
        metadata=about("shell command run after the tasks (or this task) stopped"),
    )


@dataclass(frozen=True)
class WorktreeSettings:
    """`[worktree]`: what a new checkout of the project gets, and what its removal runs
    (SPEC §14, `taskmux worktree`)."""

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    copy: list[str] = field(
        default_factory=list,
        metadata=about(
            "paths relative to the project root (usually gitignored, e.g. `.env`) copied "
            "into a new checkout by `worktree add` when present"
        ),
    )
    init: list[str] = field(
        default_factory=list,
        metadata=about(
            "shell commands `worktree add` runs in order in the new checkout; each must exit 0"
        ),
    )
    teardown: list[str] = field(
        default_factory=list,
        metadata=about("shell commands `worktree remove` runs in the checkout before removing it"),
    )


def _notify_events() -> list[str]:
    return ["gave_up", "unhealthy", "crash_loop"]


@dataclass(frozen=True)
class Notify:
    """`[notify]`: who is told when something goes wrong, while a supervisor runs."""

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    on: list[str] = field(
        default_factory=_notify_events,
        metadata=about(
            "the events that notify: `gave_up`, `unhealthy`, `crash_loop` (3 exits within "
            "60 s with the same last line), `restart_failed`, `exited`, `session_lost`, "
            "`schedule_skipped`"
        ),
    )
    desktop: bool = field(
        default=False,
        metadata=about(
            "a desktop notification (`notify-send`) when one can be shown; nothing on a "
            "machine without one"
        ),
    )
    webhook: str | None = field(
        default=None,
        metadata=about("an http(s) URL the event is POSTed to as JSON (3 tries, secrets hidden)"),
    )
    command: str | None = field(
        default=None,
        metadata=about(
            "a shell command run for each notice, with the event as JSON in `TASKMUX_EVENT`"
        ),
    )

    @property
    def active(self) -> bool:
        """Whether any notice goes anywhere."""
        return bool(self.on) and (self.desktop or bool(self.webhook) or bool(self.command))
