"""What the schema cannot say about schedules, cascades and `[notify]` (SPEC §15).

`every` is read here (`every_seconds`), cron expressions are checked with croniter (the
library every Python scheduler leans on: five fields, ranges, steps, names, and the
calendar's corner cases we would otherwise get wrong), and `check` gets one problem per
mistake, located by task and key like every other config problem.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from taskmux.config.schema import Notify, TaskConfig, field_names
from taskmux.errors import Problem

E_SCHEDULE = "E120"  # a cron expression or an `every` period that cannot be read
E_SCHEDULE_WITH = "E121"  # a schedule together with a key a scheduled one-shot cannot have
E_NOTIFY = "E125"  # `[notify]`: an unknown event, a webhook that is not an http(s) URL
W_UNKNOWN_KEY = "W117"

# The events a `[notify]` may name: what goes wrong, and what a person may want to hear.
NOTIFY_EVENTS = (
    "gave_up",
    "unhealthy",
    "crash_loop",
    "restart_failed",
    "exited",
    "session_lost",
    "schedule_skipped",
)
MIN_EVERY = 1.0  # seconds: a tighter loop is a service, not a schedule

_EVERY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def every_seconds(text: str) -> float | None:
    """`"30s"`, `"5m"`, `"2h"`, `"1d"`, `"500ms"` in seconds; None when it cannot be read."""
    found = _EVERY_RE.match(text)
    if found is None:
        return None
    return float(found.group(1)) * _UNIT[found.group(2)]


def cron_problem(expression: str) -> str | None:
    """Why a cron expression is refused (None when croniter reads it as five fields)."""
    from croniter import croniter

    if len(expression.split()) != 5:
        return f"must have five fields (minute hour day month weekday) (got {expression!r})"
    if not croniter.is_valid(expression):
        return f"is not a valid cron expression (got {expression!r})"
    return None


def schedule_problems(name: str, task: TaskConfig, body: dict[str, Any]) -> list[Problem]:
    """A task's `schedule`/`every` and `restart_dependents`, checked against each other
    and against what a scheduled one-shot cannot have (`body`: the table as written)."""
    problems: list[Problem] = []

    def problem(code: str, key: str, message: str) -> None:
        problems.append(Problem(code, message, task=name, key=key))

    if task.schedule is not None:
        why = cron_problem(task.schedule)
        if why is not None:
            problem(E_SCHEDULE, "schedule", why)
    if task.every is not None:
        seconds = every_seconds(task.every)
        if seconds is None:
            problem(
                E_SCHEDULE, "every", f'must be a period like "30s", "5m", "2h" (got {task.every!r})'
            )
        elif seconds < MIN_EVERY:
            problem(E_SCHEDULE, "every", f"must be at least 1s (got {task.every!r})")
    if task.schedule is not None and task.every is not None:
        problem(E_SCHEDULE_WITH, "every", "a task has either `schedule` or `every`, not both")
    if not task.is_scheduled:
        return problems
    key = "schedule" if task.schedule is not None else "every"
    if body.get("auto_start") is True:
        problem(
            E_SCHEDULE_WITH,
            "auto_start",
            f"a task with `{key}` is started by it, not by a bare `start`",
        )
    if task.restart_policy == "always" or body.get("restart_policy") == "on-failure":
        problem(
            E_SCHEDULE_WITH,
            "restart_policy",
            f'a task with `{key}` runs again at its next time; only "no" fits',
        )
    for other in ("watch", "restart_dependents"):
        if body.get(other):
            problem(E_SCHEDULE_WITH, other, f"a scheduled one-shot cannot have `{other}`")
    return problems


def depended_problems(tasks: dict[str, TaskConfig]) -> list[Problem]:
    """A task that waits for a scheduled one-shot to be `healthy` or `started` would wait
    for its next time: only `completed`/`completed_successfully` fit."""
    problems = []
    for name, task in tasks.items():
        for dep in task.depends_on:
            target = tasks.get(dep.task)
            if (
                target is not None
                and target.is_scheduled
                and dep.condition in ("healthy", "started")
            ):
                message = (
                    f"'{dep.task}' is scheduled: depend on it with condition "
                    '"completed" or "completed_successfully"'
                )
                problems.append(Problem(E_SCHEDULE_WITH, message, task=name, key="depends_on"))
    return problems


def notify_problems(raw: Any, notify: Notify | None) -> list[Problem]:
    """`[notify]`: unknown keys (a warning), unknown events, a webhook that is no URL."""
    problems: list[Problem] = []
    if isinstance(raw, dict):
        known = field_names(Notify)
        problems += [
            Problem(W_UNKNOWN_KEY, "unknown key (ignored)", "warning", key=f"notify.{key}")
            for key in raw
            if key not in known
        ]
    if notify is None:
        return problems
    for event in notify.on:
        if event not in NOTIFY_EVENTS:
            message = f"unknown event {event!r} (known: {', '.join(NOTIFY_EVENTS)})"
            problems.append(Problem(E_NOTIFY, message, key="notify.on"))
    if notify.webhook is not None:
        url = urlsplit(notify.webhook)
        if url.scheme not in ("http", "https") or not url.netloc:
            message = "must be an http:// or https:// URL with a host"
            problems.append(Problem(E_NOTIFY, message, key="notify.webhook"))
    if notify.command is not None and not notify.command.strip():
        problems.append(Problem(E_NOTIFY, "must not be blank", key="notify.command"))
    return problems


def without_auto_start(task: TaskConfig) -> TaskConfig:
    """A scheduled task as the rest of taskmux sees it: not started by a bare `start`,
    `ensure` or a reload (every one of those reads `auto_start`)."""
    import dataclasses

    return dataclasses.replace(task, auto_start=False) if task.is_scheduled else task
