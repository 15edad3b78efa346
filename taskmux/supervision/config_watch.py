"""Config watching: notice edits of taskmux.toml and apply them to the running tasks.

`ConfigWatcher` watches the config file's folder (editors that save by writing a new
file and renaming it over the old one must work), keeps only events about the file, and
calls back once the edits have been quiet for a moment. `Reloader` reads the file
again and applies the difference that `reload.plan` decides. `taskmux watch` and the
daemon share both.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.config.cache import local_config
from taskmux.config.project import Project, cached_project, check_file
from taskmux.config.reload import ConfigDiff, ReloadPlan, diff, plan
from taskmux.errors import TaskmuxError
from taskmux.lifecycle.core import Lifecycle, StartReport
from taskmux.runtime.timing import current

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

    from taskmux.service import Service

# Opening or reading the file (as the reload itself does) must not count as an edit.
_EDIT_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed"})


class ConfigWatcher:
    """Calls `on_change` (from a timer thread) after edits of one file settle for `debounce`."""

    def __init__(
        self, path: Path, on_change: Callable[[], object], debounce: float | None = None
    ) -> None:
        """`debounce`: seconds of quiet before `on_change` (None: the timing in force)."""
        self.on_change = on_change
        self.debounce = current().config_debounce if debounce is None else debounce
        local = Path(local_config(str(path.absolute())))  # taskmux.local.toml: merged over it
        self._targets = {str(path.absolute()), str(path.resolve()), str(local)}
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._observer: BaseObserver | None = None
        self._stopped = False

    def start(self) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                watcher.notice(event)

        self._observer = Observer()
        for folder in sorted({os.path.dirname(target) for target in self._targets}):
            self._observer.schedule(Handler(), folder, recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def notice(self, event: Any) -> None:
        """Restart the quiet-period timer if the event is an edit of the watched file."""
        if event.is_directory or event.event_type not in _EDIT_EVENTS:
            return
        paths = {os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")}
        if not paths & self._targets:
            return
        with self._lock:
            if self._stopped:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._timer = None
        self.on_change()

    def stop(self) -> None:
        """Stop watching; a pending callback is dropped. Blocks until the observer ends."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload found and did. `errors` set means the edit was invalid and ignored."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    change: ConfigDiff | None = None
    plan: ReloadPlan = field(default_factory=ReloadPlan)
    started: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failures

    @property
    def applied(self) -> bool:
        """The new config is now the one in use."""
        return not self.errors

    def describe(self) -> str:
        """One line for a log or a terminal."""
        if self.errors:
            return "config not reloaded (invalid); tasks keep running as they are"
        if self.change is None or self.change.is_empty:
            return "config reloaded: no changes"
        parts = [
            f"{verb} {', '.join(names)}"
            for verb, names in (
                ("started", self.started),
                ("stopped", self.stopped),
                ("restarted", self.restarted),
            )
            if names
        ]
        parts += [f"{name} failed ({why})" for name, why in self.failures.items()]
        if self.change.top_level:
            parts.append("changed " + ", ".join(self.change.top_level))
        if self.change.in_place:
            parts.append("new watch settings for " + ", ".join(self.change.in_place))
        return "config reloaded: " + ("; ".join(parts) or "nothing to do")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "diff": self.change.to_dict() if self.change else None,
            "started": list(self.started),
            "stopped": list(self.stopped),
            "restarted": list(self.restarted),
            "failures": self.failures,
        }


def read_project(path: Path) -> Project | list[str]:
    """The config as it is now, or the error lines `taskmux check` prints for it."""
    try:
        cached = cached_project(path)  # unchanged since it validated: no pydantic needed
        if cached is not None:
            return cached
        config, problems = check_file(path)
    except TaskmuxError as exc:  # unreadable, e.g. deleted mid-save
        return [f"error[{exc.code}]: {exc.message}"]
    if config is None:
        return [f"error[{p.code}]: {p.render()}" for p in problems if p.severity == "error"]
    return Project(path, config, [p for p in problems if p.severity == "warning"])


class Reloader:
    """Moves the running tasks to each new valid version of the file, then makes it the
    service's config in use (which the supervisor reads on its next tick)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._lock = threading.Lock()

    @property
    def lifecycle(self) -> Lifecycle:
        return self.service.lifecycle()

    def reload(self) -> ReloadOutcome:
        """Read the file again and apply the difference; blocking, one reload at a time."""
        with self._lock:
            old = self.service.lifecycle()
            found = read_project(old.project.path)
            if not isinstance(found, Project):
                return ReloadOutcome(errors=tuple(found))
            warnings = tuple(f"warning[{p.code}]: {p.render()}" for p in found.warnings)
            change = diff(old.config, found.config)
            if change.is_empty:
                return ReloadOutcome(warnings=warnings, change=change)
            new = Lifecycle(found, old.tmux, old.report, old.timing)
            running = {name for name, s in old.observe().tasks.items() if s.is_alive}
            decided = plan(change, found.config, running)
            outcome = _apply(old, new, decided)
            self.service.config.replace(found)
            return ReloadOutcome(warnings=warnings, change=change, plan=decided, **outcome)


def _apply(old: Lifecycle, new: Lifecycle, decided: ReloadPlan) -> dict[str, Any]:
    """Carry out a plan; each step's failure is recorded and the next steps still run."""
    failures: dict[str, str] = {}
    stopped: list[str] = []
    if decided.stop or decided.end_old_session:
        names = list(old.config.tasks) if decided.end_old_session else list(decided.stop)
        try:
            report = old.stop(names)
            stopped, failures = list(report.stopped), dict(report.failed)
        except TaskmuxError as exc:  # e.g. a failing global before_stop hook
            failures["stop"] = exc.message
    restarted = _started(new.restart, decided.restart, failures)
    started = _started(new.start, decided.start, failures)
    if decided.end_old_session and not failures:
        # Only now: a tmux server left without sessions exits, under the next command.
        old.end_session()
    return {
        "stopped": tuple(stopped),
        "started": tuple(started),
        "restarted": tuple(restarted),
        "failures": failures,
    }


def _started(
    action: Callable[[list[str]], StartReport], names: tuple[str, ...], failures: dict[str, str]
) -> list[str]:
    """Run a start or restart of `names` (if any) and note its failures."""
    if not names:
        return []
    try:
        report = action(list(names))
    except TaskmuxError as exc:  # e.g. a failing global before_start hook
        failures["start"] = exc.message
        return []
    failures |= report.failed | report.skipped
    return [*report.started, *report.completed, *report.already_running]
