"""What `start -m` runs once its tasks are started: the supervisor, and a watcher that
applies edits of taskmux.toml (as the daemon does), until a stop event is set.

The face around it (cli/supervise_cmds.py) claims supervision, starts the tasks, prints
and handles signals; this part prints nothing, so a test can run it in a thread of its
own process (tests/harness.py `Project.supervise`) exactly as the command runs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskmux.supervision.config_watch import ConfigWatcher, Reloader, ReloadOutcome
from taskmux.supervision.supervisor import Supervisor

if TYPE_CHECKING:
    from types import TracebackType

    from taskmux.runtime.tmux_manager import Observation
    from taskmux.service import Service


class Monitor:
    """One project's supervision after its start. Use as a context manager: entering
    starts the config watcher and applies the edits made while the tasks were starting
    (reported like any other reload); leaving stops the watcher."""

    def __init__(
        self,
        service: Service,
        seen: Observation | None,
        on_reload: Callable[[ReloadOutcome], object],
    ) -> None:
        self.supervisor = Supervisor(service, seen=seen)
        self._reloader = Reloader(service)
        self._on_reload = on_reload
        self._watcher = ConfigWatcher(service.project.path, self._reload)

    def _reload(self) -> None:
        self._on_reload(self._reloader.reload())

    def __enter__(self) -> Monitor:
        self._watcher.start()
        caught_up = self._reloader.reload()
        if caught_up.errors or (caught_up.change is not None and not caught_up.change.is_empty):
            self._on_reload(caught_up)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._watcher.stop()

    def run(self, stop: threading.Event) -> None:
        """Supervise until `stop` is set (a signal handler sets it, then calls `wake`)."""
        self.supervisor.run(stop)

    def wake(self) -> None:
        self.supervisor.wake()
