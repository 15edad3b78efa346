"""Start, stop, restart and kill tasks as SPEC §3 describes, carried out through tmux.

`Lifecycle` is a thin facade: the shared `Context` (project, tmux, paths, events,
progress, pauses; `context.py`) with the parts that do the work attached: `Launcher`
(`launch.py`), `Starter` (`start.py`), `Checks` (`checks.py`) and `Stopper` (`stop.py`).
It reports progress through a callback and returns small results; it never prints.
Options of one call (`kill_port`, `with_deps`, ...) are arguments of that call, never
state of this object: the daemon's API and its supervisor share one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskmux.config.project import Project
from taskmux.lifecycle.context import Context
from taskmux.lifecycle.results import (
    Checked,
    Death,
    Launched,
    Progress,
    StartReport,
    StopReport,
)
from taskmux.lifecycle.stop import Stopper, stop_signal_of
from taskmux.runtime.timing import Timing
from taskmux.runtime.tmux_manager import Tmux

if TYPE_CHECKING:
    from typing import Self

    from taskmux.config.schema import Condition
    from taskmux.lifecycle.checks import Checks
    from taskmux.lifecycle.health_report import HealthReport
    from taskmux.lifecycle.launch import Launcher
    from taskmux.lifecycle.start import Starter
    from taskmux.runtime.health import CheckResult
    from taskmux.runtime.port_guard import Holder
    from taskmux.runtime.state import TaskState

__all__ = [
    "Checked",
    "Death",
    "Launched",
    "Lifecycle",
    "Progress",
    "StartReport",
    "StopReport",
    "stop_signal_of",
]


class Lifecycle(Context):
    """Carries out lifecycle actions for one project on one tmux server."""

    def __init__(
        self,
        project: Project,
        tmux: Tmux,
        on_progress: Callable[[Progress], None] | None = None,
        timing: Timing | None = None,
    ) -> None:
        super().__init__(project, tmux, on_progress, timing)
        self._attach()

    def _attach(self) -> None:
        """The parts, each made on first use: a `stop`, `kill` or `remove` process never
        imports the start, launch and check modules (~50 ms). They hold nothing but the
        context, so two threads that make one at once make two equal ones."""
        self.stopper = Stopper(self)
        self._launcher: Launcher | None = None
        self._checks: Checks | None = None
        self._starter: Starter | None = None

    @property
    def launcher(self) -> Launcher:
        if self._launcher is None:
            from taskmux.lifecycle.launch import Launcher

            self._launcher = Launcher(self)
        return self._launcher

    @property
    def checks(self) -> Checks:
        if self._checks is None:
            from taskmux.lifecycle.checks import Checks

            self._checks = Checks(self)
        return self._checks

    @property
    def starter(self) -> Starter:
        if self._starter is None:
            from taskmux.lifecycle.start import Starter

            self._starter = Starter(self, self.launcher, self.checks, self.stopper)
        return self._starter

    @classmethod
    def for_project(
        cls, project: Project, on_progress: Callable[[Progress], None] | None = None
    ) -> Lifecycle:
        return cls(project, Tmux.from_env(), on_progress)

    def tagged(self, **tags: object) -> Self:
        twin = super().tagged(**tags)
        twin._attach()  # its parts append to the tagged event log
        return twin

    # Starting ------------------------------------------------------------------------

    def start(
        self,
        names: list[str] | None = None,
        with_deps: bool = False,
        deadline: float | None = None,
        kill_port: bool = False,
    ) -> StartReport:
        return self.starter.start(names, with_deps, deadline, kill_port)

    def restart(self, names: list[str] | None = None, kill_port: bool = False) -> StartReport:
        return self.starter.restart(names, kill_port)

    def launch(
        self,
        names: list[str],
        manual: bool = True,
        hooks: bool = True,
        settle: float = 0.0,
        count_restart: bool = False,
        kill_port: bool = False,
    ) -> Launched:
        return self.launcher.launch(names, manual, hooks, settle, count_restart, kill_port)

    def wait_condition(
        self,
        name: str,
        condition: Condition,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
    ) -> str | None:
        return self.starter.wait_condition(name, condition, cancel, deadline)

    # Health --------------------------------------------------------------------------

    def check(self, name: str, state: TaskState | None, count: bool = False) -> CheckResult:
        return self.checks.check(name, state, count)

    def checked(self, name: str, state: TaskState | None, count: bool = False) -> Checked:
        return self.checks.checked(name, state, count)

    def probe(
        self, name: str, state: TaskState | None, timeout: float | None = None
    ) -> CheckResult:
        return self.checks.probe(name, state, timeout)

    def health(self) -> HealthReport:
        return self.checks.health()

    # Stopping ------------------------------------------------------------------------

    def stop(self, names: list[str] | None = None, hooks: bool = True) -> StopReport:
        return self.stopper.stop(names, hooks)

    def kill(self, name: str) -> bool:
        return self.stopper.kill(name)

    def kill_if_present(self, name: str) -> bool:
        return self.stopper.kill_if_present(name)

    def end_processes(self, name: str, pid: int | None = None) -> str | None:
        return self.stopper.end_processes(name, pid)

    def end_all_processes(self, pids: dict[str, int | None]) -> dict[str, str | None]:
        return self.stopper.end_all_processes(pids)

    def note_daemonized(self, name: str, state: TaskState, wait: float = 0.0) -> list[Holder]:
        return self.stopper.note_daemonized(name, state, wait)

    def end_session(self) -> tuple[str, ...]:
        return self.stopper.end_session()

    def ended_on_purpose(self) -> bool:
        return self.stopper.ended_on_purpose()
