"""How an event record reads on a terminal: one line, shared by `events` and the lean path."""

from __future__ import annotations

import time

TYPE_CHECKING = False  # `typing` costs an import on a lean `events` read; mypy reads this
if TYPE_CHECKING:
    from typing import Any


def describe_event(record: dict[str, Any]) -> str:
    """One readable line for an event record."""
    when = time.strftime("%H:%M:%S", time.localtime(record.get("ts", 0)))
    task = record.get("task") or "-"
    details = {
        k: v for k, v in record.items() if k not in {"ts", "event", "task"} and v not in (None, "")
    }
    extra = " ".join(f"{k}={v}" for k, v in details.items())
    return f"{when} {task:<16} {record.get('event', '?'):<18} {extra}".rstrip()
