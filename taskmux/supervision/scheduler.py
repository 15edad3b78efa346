"""Scheduled one-shots under a supervisor: start each at its time (`schedule_plan.py`
decides), skip a time while the last run still goes, and keep the next times in the
state folder (`schedule.json`) so `status` in any process shows them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from taskmux.supervision.schedule_plan import Timetable, Verdict, plan

if TYPE_CHECKING:
    from taskmux.runtime.tmux_manager import Observation
    from taskmux.supervision.seam import Supervised

SCHEDULE_FILE = "schedule.json"  # {"pid": supervisor, "next": {task: epoch seconds}}

Act = Callable[..., None]  # (task, action, *args): run it in the supervisor's pool


class Scheduler:
    """The next time of every scheduled task of one supervised project."""

    def __init__(self) -> None:
        self.due: dict[str, float] = {}
        self._written: dict[str, float] | None = {}  # nothing to write while none is due

    def tick(
        self,
        project: Supervised,
        observation: Observation,
        now: float,
        busy: set[str],
        act: Act,
    ) -> list[float]:
        """Start what is due, skip what still runs; the times this tick wants a look at."""
        tables = {
            name: table
            for name, task in project.config.tasks.items()
            if (table := Timetable.of(task)) is not None
        }
        for name in list(self.due):
            if name not in tables:
                del self.due[name]  # no longer scheduled (a reload)
        wanted: list[float] = []
        for name, table in tables.items():
            state = observation.tasks.get(name)
            if name in observation.killed or (state is not None and state.manually_stopped):
                self.due.pop(name, None)  # stopped by hand: paused until started again
                continue
            running = name in busy or (state is not None and state.is_alive)
            step = plan(table, self.due.get(name), now, running)
            self.due[name] = step.next_run
            wanted.append(step.next_run)
            if step.verdict is Verdict.RUN:
                project.record(
                    "scheduled_run", name, due=_at(step.due), next_run=_at(step.next_run)
                )
                act(name, _launch, project, name)
            elif step.verdict is Verdict.SKIP:
                project.record(
                    "schedule_skipped",
                    name,
                    due=_at(step.due),
                    next_run=_at(step.next_run),
                    reason="the previous run is still running",
                )
        self._publish(project.state_root)
        return wanted

    def _publish(self, root: Path) -> None:
        """Write the next times where `status` reads them, when they changed."""
        if self.due == self._written:
            return
        self._written = dict(self.due)
        path = root / SCHEDULE_FILE
        if not self.due:
            path.unlink(missing_ok=True)
            return
        from taskmux.config.project import atomic_write

        document = {"pid": os.getpid(), "next": {n: round(t, 3) for n, t in self.due.items()}}
        atomic_write(path, json.dumps(document))

    def close(self, root: Path) -> None:
        """Supervision ends: nothing will run them, so no next time is shown."""
        self.due.clear()
        self._written = None
        (root / SCHEDULE_FILE).unlink(missing_ok=True)


def _launch(project: Supervised, name: str) -> None:
    """One scheduled run: an automatic launch (it yields to a stop by hand)."""
    launched = project.relaunch([name])
    if name in launched.failures:
        project.record("scheduled_run_failed", name, error=launched.failures[name].message)


def _at(moment: float | None) -> float | None:
    return round(moment, 3) if moment is not None else None
