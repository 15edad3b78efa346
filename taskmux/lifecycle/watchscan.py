"""Whether a task's watched files changed since its start: a bounded walk, for `ensure`.

A supervisor hears file changes as they happen (`supervision/filewatch.py`); `ensure`
may run with no supervisor at all, so it looks: below the folders the task's `watch`
patterns can match (`plan_folders`), for a matching file whose mtime is after the
task's start. The walk never enters the built-in ignored folders (`.git`,
`node_modules`, `.venv`, ...), stops at the first newer file, and looks at no more
than `budget` directory entries in one call: past that it stops and says so, and the
files it did not reach are not compared (a tree that large wants a supervisor, whose
watcher is told of changes instead of looking).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from taskmux.config.watchglobs import DEFAULT_IGNORE, Matcher, WatchSpec, plan_folders

BUDGET = 20_000  # directory entries one `ensure` looks at, over all its tasks


@dataclass
class Scan:
    """A walk's shared allowance; `cut` names the tasks whose walk it ended early."""

    budget: int = BUDGET
    cut: list[str] | None = None

    def newer(self, name: str, spec: WatchSpec, since: float) -> str | None:
        """A watched file (relative to the task's cwd) changed after `since`, or None."""
        matcher = Matcher({name: spec})
        plan = plan_folders({name: spec})
        for folder, deep in plan.folders:
            found = self._walk(matcher, spec.root, folder, deep, since)
            if found is not None or self.budget <= 0:
                if found is None:
                    self.cut = [*(self.cut or []), name]
                return found
        return None

    def _walk(
        self, matcher: Matcher, root: str, folder: str, deep: bool, since: float
    ) -> str | None:
        pending = [folder]
        while pending:
            try:
                entries = list(os.scandir(pending.pop()))
            except OSError:  # gone or unreadable meanwhile: nothing there to compare
                continue
            for entry in entries:
                self.budget -= 1
                if self.budget < 0:
                    return None
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if deep and entry.name not in DEFAULT_IGNORE:
                            pending.append(entry.path)
                        continue
                    if not matcher.tasks_for(entry.path):
                        continue
                    if entry.stat().st_mtime > since:
                        return posixpath.relpath(entry.path, root)
                except OSError:  # removed while we looked
                    continue
        return None
