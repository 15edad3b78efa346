"""What the service's read operations return: plain frozen records with `to_dict()`.

Kept apart from `Service` so the faces (and their fakes in tests) can name a result
without the service's own imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import re

    from taskmux.logs.lines import Item


@dataclass(frozen=True)
class StatusResult:
    session: str
    session_running: bool
    tasks: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # about the session: renamed by hand, lost (`session_notes`)
    urls_served: bool | None = None  # whether the URL proxy runs (None: no URL shown)

    def to_dict(self) -> dict[str, Any]:
        from taskmux.lifecycle.readmodel import status_document  # the lean path's too

        lists = (list(self.tasks), list(self.warnings), list(self.notes))
        return status_document(self.session, self.session_running, *lists, served=self.urls_served)


@dataclass(frozen=True)
class InspectResult:
    record: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.record)


@dataclass(frozen=True)
class LogsResult:
    """Log lines (None between grep groups), and the pattern they were filtered with.

    Every bounded read is a page: `next_cursor` to poll with, `more` when the limit held
    lines back (after a cursor), `lost` for tasks whose place in the cursor was gone.
    """

    items: tuple[Item, ...]
    pattern: re.Pattern[str] | Any | None = None
    next_cursor: str | None = None
    more: bool = False
    lost: tuple[str, ...] = ()
    ansi: bool = False  # lines keep their colour codes

    def records(self, cursors: bool = True) -> list[dict[str, Any]]:
        return [self.record(item, cursors) for item in self.items if item is not None]

    def text(self, item: Any) -> str:
        """The line as shown: cleaned, or with its colour codes when `ansi` was asked for."""
        if self.ansi:
            from taskmux.logs.lines import coloured

            return coloured(item.raw)
        return str(item.text)

    def record(self, item: Any, cursor: bool = True) -> dict[str, Any]:
        from taskmux.logs.cursors import line_record

        return line_record(item, self.text(item), self.pattern, cursor)

    def to_dict(self) -> dict[str, Any]:
        """One shape for every bounded read: the lines (each with its `cursor`), the
        cursor to read on from, whether lines were held back, and whose place was lost."""
        return {
            "lines": self.records(),
            "next_cursor": self.next_cursor,
            "more": self.more,
            "lost": list(self.lost),
        }


@dataclass(frozen=True)
class ClearResult:
    paths: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"cleared": list(self.paths)}


@dataclass(frozen=True)
class EventsResult:
    events: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"events": list(self.events)}


@dataclass(frozen=True)
class EnvResult:
    """`taskmux env`: every task's port, and a task's whole environment (secrets too)."""

    session: str
    task: str | None
    ports: dict[str, int]
    exported: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "task": self.task,
            "ports": self.ports,
            "env": self.exported,
        }


@dataclass(frozen=True)
class EditResult:
    """What `add` or `remove` changed in taskmux.toml."""

    task: str
    config: str
    action: str
    was_running: bool = False
    local: str | None = None  # the local override beside the file, left as it is

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"task": self.task, "config": self.config, self.action: True}
        if self.action == "removed":
            data["killed"] = self.was_running
        if self.local is not None:
            data["local_override"] = self.local
        return data

    def note(self) -> str:
        """What a person should know besides the edit (an untouched local override)."""
        if self.local is None:
            return ""
        return f" (in {Path(self.config).name} only; {self.local} is merged over it, unchanged)"


@dataclass(frozen=True)
class KillResults:
    """`kill` of a name that stands for several tasks (`@GROUP`, a replicated task)."""

    results: tuple[Any, ...]  # each one task's `KillResult`

    @property
    def was_running(self) -> bool:
        return any(result.was_running for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": [result.to_dict() for result in self.results]}
