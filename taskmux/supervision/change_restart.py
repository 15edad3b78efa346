"""Restarts on file changes (SPEC §10), as the supervisor carries them out in its pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from taskmux.errors import TaskmuxError
from taskmux.supervision.filewatch import Change, should_restart

if TYPE_CHECKING:
    from taskmux.supervision.seam import Supervised


def restart_for_change(
    project: Supervised, name: str, change: Change, notify: Callable[[str], None]
) -> None:
    """Run the task's `watch_cmd` (if any; a failure leaves the task running as it is),
    then restart it the way `taskmux restart` does: hooks, port cleanup, settle window.

    Like a restart by hand, it is not counted toward `max_restarts` and clears the
    count: the files changed, so earlier crashes say little about the new code.
    """
    task = project.config.tasks.get(name)
    if task is None:
        return
    project = project.tagged(trigger="watch")  # its stop, start, … events say so
    reason = change.reason()
    details: dict[str, object] = {"files": list(change.files), "changed": change.count}
    if task.watch_cmd:
        error = project.build(name, task.watch_cmd)
        if error is not None:
            project.record("watch_cmd_failed", name, reason=reason, error=error, **details)
            notify(f"{name} left as it was: {error}")
            return
        state = project.observe().tasks.get(name)  # the build took a while
        if state is None or not should_restart(
            state.is_alive, state.manually_stopped, state.gave_up, state.started_at, change
        ):
            return
    try:
        report = project.restart(name)
    except TaskmuxError as exc:  # e.g. a failing before_stop hook
        report = None
        error = exc.message
    if report is not None and (name in report.started or name in report.completed):
        project.record("restarted", name, reason=reason, **details)
        notify(f"{name} restarted: {reason}")
        return
    if report is not None:
        error = report.failed.get(name) or report.skipped.get(name) or "it did not start"
    project.record("restart_failed", name, reason=reason, error=error, **details)
    notify(f"{name}: restart after a change failed: {error}")
