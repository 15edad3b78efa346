"""Cascading restarts (SPEC §15): once a restarted task is ready again, restart the
tasks that depend on it with condition `healthy` or `started` (and theirs), in
dependency order. A dependent that only waited for a one-shot to complete has nothing
to reconnect to and is left running.

`dependents_to_restart` is pure; `restart_cascade` carries it out through a `Lifecycle`
(for `restart --cascade`, `restart_dependents = true`, and the supervisor's restarts).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from taskmux.config.deps import start_order

if TYPE_CHECKING:
    from taskmux.config.schema import ProjectConfig
    from taskmux.lifecycle.core import Lifecycle
    from taskmux.lifecycle.results import StartReport

LIVE_CONDITIONS = ("healthy", "started")  # a dependent that talks to the task while it runs
READY_TIMEOUT = 60.0  # seconds a restarted task may take to be ready before its dependents


def dependents_to_restart(config: ProjectConfig, restarted: list[str]) -> list[str]:
    """Every task that depends on one of `restarted` with a live condition, directly or
    through another such task, in dependency order (`restarted` themselves left out)."""
    found: set[str] = set()
    frontier = list(restarted)
    while frontier:
        current = frontier.pop()
        for name, task in config.tasks.items():
            if name in found or name in restarted:
                continue
            if any(d.task == current and d.condition in LIVE_CONDITIONS for d in task.depends_on):
                found.add(name)
                frontier.append(name)
    return start_order(config.graph(), found)


def cascading(config: ProjectConfig, names: list[str], cascade: bool) -> list[str]:
    """The restarted tasks whose dependents follow: all with `cascade`, else those with
    `restart_dependents = true`."""
    tasks = config.tasks
    return [n for n in names if n in tasks and (cascade or tasks[n].restart_dependents)]


def restart_with_dependents(
    lifecycle: Lifecycle, names: list[str] | None, kill_port: bool, cascade: bool
) -> StartReport:
    """`taskmux restart [--cascade]`: the restart, then the dependents of the tasks that
    cascade (none when every task was restarted: they all were)."""
    report = lifecycle.restart(names, kill_port=kill_port)
    following = cascading(lifecycle.config, names or [], cascade)
    return restart_cascade(lifecycle, following, report) if following else report


def restart_cascade(
    lifecycle: Lifecycle, names: list[str], report: StartReport, timeout: float = READY_TIMEOUT
) -> StartReport:
    """After `report` (the restart of `names`): wait until each of `names` is ready, then
    restart their dependents; the report of both. A task that does not become ready
    holds its dependents back (each named in `skipped` with why). Only dependents that
    were started and not stopped by hand are restarted."""
    config = lifecycle.config
    observation = lifecycle.observe()  # a dependent stopped by hand, or never started, stays so
    targets = [
        name
        for name in dependents_to_restart(config, names)
        if name in observation.tasks and not observation.tasks[name].manually_stopped
    ]
    if not targets:
        return report
    deadline = time.monotonic() + timeout
    for name in names:
        if name in report.failed or name in report.skipped:
            why = f"'{name}' did not restart"
        else:
            problem = lifecycle.wait_condition(name, "healthy", deadline=deadline)
            why = f"'{name}' is not ready again: {problem}" if problem else ""
        if why:
            held = dependents_to_restart(config, [name])
            skipped = {**report.skipped, **{t: why for t in held if t not in report.skipped}}
            return replace(report, skipped=skipped)
    lifecycle.events.append("cascade", None, after=names, restarting=targets)
    second = lifecycle.restart(targets)
    return merge(report, second, targets)


def merge(first: StartReport, second: StartReport, cascaded: list[str]) -> StartReport:
    """One report of a restart and the cascade after it."""
    return replace(
        first,
        started=first.started + [n for n in second.started if n not in first.started],
        completed=first.completed + second.completed,
        skipped={**first.skipped, **second.skipped},
        failed={**first.failed, **second.failed},
        died={**first.died, **second.died},
        warnings=first.warnings + second.warnings,
        error_codes={**first.error_codes, **second.error_codes},
        cascaded=cascaded,
    )
