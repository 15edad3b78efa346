"""Restart tasks when their files change (SPEC §10): which files, which folders, and when.

Three pure parts, each tested with tables: `Matcher` says which tasks a changed path
concerns (a task's `watch` globs, relative to its cwd, minus the ignores), `plan_folders`
says which folders the project's one watchdog observer must watch and how deep (both in
`config/watchglobs.py`, where `ensure` reads them too), and `Debouncer` turns a burst of
changes into one `Change` per task once the files have been quiet for a moment.
`FileWatcher` is the I/O around them; the supervisor asks it for the changes that are
due and restarts the tasks (see `Supervisor`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskmux.runtime.timing import current

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver, ObservedWatch

from taskmux.config.watchglobs import (
    DEFAULT_IGNORE as DEFAULT_IGNORE,
)
from taskmux.config.watchglobs import (
    EDIT_EVENTS as EDIT_EVENTS,
)
from taskmux.config.watchglobs import (
    EDITOR_TEMP as EDITOR_TEMP,
)
from taskmux.config.watchglobs import (
    FolderPlan as FolderPlan,
)
from taskmux.config.watchglobs import (
    Matcher as Matcher,
)
from taskmux.config.watchglobs import (
    WatchGlob as WatchGlob,
)
from taskmux.config.watchglobs import (
    WatchSpec as WatchSpec,
)
from taskmux.config.watchglobs import (
    compile_ignore as compile_ignore,
)
from taskmux.config.watchglobs import (
    is_editor_temp as is_editor_temp,
)
from taskmux.config.watchglobs import (
    plan_folders as plan_folders,
)

NAMED_FILES = 3  # changed files named in a restart's reason; the rest are counted

# When to restart -----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What changed for one task since its last restart, once the files went quiet."""

    task: str
    files: tuple[str, ...]  # the first few changed paths, relative to the task's cwd
    count: int  # distinct paths changed
    first_at: float
    last_at: float

    def reason(self) -> str:
        """`src/a.py changed`, `a.py, b.py, c.py and 17 more changed`."""
        named = ", ".join(self.files)
        more = self.count - len(self.files)
        return f"{named} and {more} more changed" if more > 0 else f"{named} changed"


@dataclass
class _Pending:
    first_at: float
    last_at: float
    files: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


class Debouncer:
    """Collects changed paths per task; a task's change is due once no new path came for
    `quiet` seconds. Pure: the time is an argument."""

    def __init__(self, quiet: float, named: int = NAMED_FILES) -> None:
        self.quiet = quiet
        self.named = named
        self._pending: dict[str, _Pending] = {}

    def add(self, task: str, path: str, now: float) -> None:
        pending = self._pending.get(task)
        if pending is None:
            pending = self._pending[task] = _Pending(now, now)
        pending.last_at = max(pending.last_at, now)
        if path not in pending.seen:
            pending.seen.add(path)
            if len(pending.files) < self.named:
                pending.files.append(path)

    def due(self, now: float, busy: Iterable[str] = ()) -> list[Change]:
        """The changes whose files have been quiet long enough (and forget them). A `busy`
        task's change stays pending, and goes on collecting, until it is not."""
        skip = set(busy)
        ready = [
            t for t, p in self._pending.items() if t not in skip and now - p.last_at >= self.quiet
        ]
        changes = []
        for task in ready:
            p = self._pending.pop(task)
            changes.append(Change(task, tuple(p.files), len(p.seen), p.first_at, p.last_at))
        return changes

    def next_due(self, busy: Iterable[str] = ()) -> float | None:
        """When the next change of a task that is not busy falls due (None: none pending)."""
        skip = set(busy)
        times = [p.last_at for t, p in self._pending.items() if t not in skip]
        return min(times) + self.quiet if times else None

    def keep_only(self, tasks: Iterable[str]) -> None:
        """Forget what is pending for tasks no longer watched."""
        keep = set(tasks)
        for task in [t for t in self._pending if t not in keep]:
            del self._pending[task]

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(self._pending)


def should_restart(
    alive: bool, stopped_by_hand: bool, gave_up: bool, started_at: float | None, change: Change
) -> bool:
    """Whether a due change restarts the task: a running task that nobody stopped, if its
    current run started before the last change (a run launched after it, by a crash
    restart or a person, already has the new files); and a task whose crash loop gave up,
    since the file just saved may be the fix. A task stopped by hand stays stopped."""
    if stopped_by_hand:
        return False
    if gave_up:
        return True
    if not alive:
        return False
    return started_at is None or change.last_at > started_at


# The observer --------------------------------------------------------------------------


class FileWatcher:
    """One watchdog observer for a project's watching tasks, feeding a `Debouncer`.

    `update` replaces what is watched (at start, and after each config reload); watchdog's
    thread calls `notice`; the supervisor collects due changes with `due` from its loop.
    Folders are re-planned from the supervisor's thread when a wanted folder appears or a
    watched one goes.
    """

    def __init__(
        self, debounce: float | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        """`debounce`: seconds of quiet before a change is due (None: the timing in force)."""
        self.clock = clock
        self._lock = threading.Lock()
        self._debouncer = Debouncer(current().file_debounce if debounce is None else debounce)
        self._specs: dict[str, WatchSpec] = {}
        self._matcher = Matcher({})
        self._observer: BaseObserver | None = None
        self._watches: dict[tuple[str, bool], ObservedWatch] = {}
        self._missing: tuple[str, ...] = ()
        self._replan = False
        self._errors: list[str] = []
        self._stopped = False
        self._planning = threading.Lock()  # one plan at a time; taken before `_lock`
        self.on_notice: Callable[[], None] | None = None  # wakes the supervisor's loop
        self.noticed = 0  # changed paths some task watches, counted since the start

    @property
    def specs(self) -> dict[str, WatchSpec]:
        with self._lock:
            return dict(self._specs)

    @property
    def folders(self) -> tuple[tuple[str, bool], ...]:
        """What is being watched now: (folder, recursive)."""
        with self._lock:
            return tuple(sorted(self._watches))

    def update(self, specs: Mapping[str, WatchSpec], ignore_dirs: Iterable[str] = ()) -> None:
        """Watch these tasks (and only these) from now on; `ignore_dirs` are never reported
        (the project's state folder, where the logs grow)."""
        active = {name: spec for name, spec in specs.items() if spec.patterns}
        with self._lock:
            if self._stopped:
                return
            self._specs = active
            self._matcher = Matcher(active, ignore_dirs)
            self._debouncer.keep_only(active)
        self._apply_plan()

    def notice(self, event: Any) -> None:
        """A watchdog event: a directory event may call for a new plan; a file event is
        matched against the tasks' patterns and counted."""
        kind = event.event_type
        if kind not in EDIT_EVENTS:
            return
        paths = [os.fsdecode(event.src_path)]
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.append(os.fsdecode(dest))
        now = self.clock()
        noticed = False
        with self._lock:
            if event.is_directory:
                if kind in ("created", "moved", "deleted") and self._touches_plan(paths):
                    self._replan = noticed = True
            else:
                for path in paths:
                    for task, relative in self._matcher.tasks_for(path):
                        self._debouncer.add(task, relative, now)
                        self.noticed += 1
                        noticed = True
        if noticed and self.on_notice is not None:
            self.on_notice()

    def _touches_plan(self, paths: list[str]) -> bool:
        for path in paths:
            for wanted in self._missing:
                if wanted == path or wanted.startswith(path.rstrip("/") + "/"):
                    return True
            if any(folder == path for folder, _ in self._watches):
                return True
        return False

    def due(self, now: float | None = None, busy: Iterable[str] = ()) -> list[Change]:
        """The changes that are due now (a `busy` task's wait); re-plans the folders first
        if a wanted one appeared or a watched one went."""
        with self._lock:
            replan, self._replan = self._replan, False
        if replan:
            self._apply_plan()
        with self._lock:
            return self._debouncer.due(self.clock() if now is None else now, busy)

    def next_due(self, busy: Iterable[str] = ()) -> float | None:
        with self._lock:
            return self._debouncer.next_due(busy)

    def take_errors(self) -> list[str]:
        """Folders that could not be watched since the last call (for an event)."""
        with self._lock:
            errors, self._errors = self._errors, []
            return errors

    def _apply_plan(self) -> None:
        """Watch the folders the current specs need, and no others.

        watchdog calls `notice` holding its observer's lock, so the observer is never
        called while `_lock` is held (the other order would deadlock); `_planning` keeps
        two plans from interleaving.
        """
        with self._planning:
            with self._lock:
                if self._stopped:
                    return
                specs, current, observer = dict(self._specs), dict(self._watches), self._observer
            plan = plan_folders(specs)
            with self._lock:
                self._missing = plan.missing
            stale = [key for key in current if key not in set(plan.folders)]
            fresh = [key for key in plan.folders if key not in current]
            if not fresh and not stale:
                return
            if observer is None:
                observer = self._start_observer()
                if observer is None:
                    return  # stopped meanwhile
            for key in stale:
                with self._lock:
                    self._watches.pop(key, None)
                # Its folder may have gone, and watchdog dropped the watch already.
                with contextlib.suppress(KeyError, OSError):
                    observer.unschedule(current[key])
            handler = self._handler()
            for folder, recursive in fresh:
                try:
                    watch = observer.schedule(handler, folder, recursive=recursive)
                except OSError as exc:  # e.g. the inotify watch limit, a folder just removed
                    with self._lock:
                        self._errors.append(f"cannot watch {folder}: {exc.strerror or exc}")
                    continue
                with self._lock:
                    self._watches[(folder, recursive)] = watch

    def _start_observer(self) -> BaseObserver | None:
        from watchdog.observers import Observer

        observer = Observer()
        observer.daemon = True
        with self._lock:  # starting waits for no event handler: safe under the lock
            if self._stopped:
                return None
            self._observer = observer
            observer.start()
        return observer

    def _handler(self) -> Any:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                watcher.notice(event)

        return Handler()

    def stop(self) -> None:
        """Stop watching (blocks until the observer's threads end); pending changes drop."""
        with self._lock:
            self._stopped = True
            observer, self._observer = self._observer, None
            self._watches = {}
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
