"""A supervisor's restart of a task left with another task's old port (issue 23).

`lifecycle/stale.py` finds the running tasks whose environment was built from a port
that has moved since; the supervisor restarts each once per run, the way `taskmux
restart` does (hooks, port cleanup, settle window), and records what it did.
"""

from __future__ import annotations

from collections.abc import Callable

from taskmux.errors import TaskmuxError
from taskmux.lifecycle.stale import why_stale
from taskmux.supervision.seam import Supervised


def restart_stale(
    project: Supervised, name: str, moved: dict[str, list[int]], notify: Callable[[str], None]
) -> None:
    """Restart one stale task; a `restarted` (or `restart_failed`) event names the port
    that moved. Not counted toward `max_restarts`: the task did not fail."""
    project = project.tagged(trigger="stale")
    reason = why_stale(moved)
    try:
        report = project.restart(name)
    except TaskmuxError as exc:  # e.g. a failing before_stop hook
        report, error = None, exc.message
    if report is not None and (name in report.started or name in report.completed):
        project.record("restarted", name, reason=reason, stale=moved)
        notify(f"{name} restarted: {reason}")
        return
    if report is not None:
        error = report.failed.get(name) or report.skipped.get(name) or "it did not start"
    project.record("restart_failed", name, reason=reason, error=error, stale=moved)
    notify(f"{name}: restart for a moved port failed: {error}")
