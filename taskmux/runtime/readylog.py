"""Find a task's `ready_log` line in the log file taskmux already keeps (no second pipe).

A run's lines are read once: the first look reads the log since the run's start (and,
if the line is not there, what of the run its spool still holds: output enough to rotate
the line out of every kept log file before that look does not hide it), later looks only
what was appended since. The answer is cached on the task's window by the
caller (`Lifecycle`), so once the line is seen nobody reads for it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from taskmux.errors import PatternTooSlow
from taskmux.logs.follow import Follower
from taskmux.logs.lines import TaskLog, clean
from taskmux.logs.search import compile_pattern
from taskmux.logs.spool import run_output

# Log lines are stamped by the log collector to the millisecond: a line printed in the very
# millisecond of the launch must still count as this run's.
STAMP_SLACK = 0.001


class ReadyScanner:
    """Remembers, per task, how far its current run's log was searched."""

    def __init__(self) -> None:
        self._followers: dict[str, tuple[float, str, Follower]] = {}
        self._lock = threading.Lock()

    def seen(self, log: TaskLog, pattern: str, run: float, budget: float) -> bool:
        """Whether a line of the run started at `run` matches `pattern`.

        `budget`: seconds the search may spend (a pattern that backtracks without end
        counts as not seen yet, rather than hanging the check).
        """
        with self._lock:
            known = self._followers.get(log.task)
            if known is not None and (known[0], known[1]) != (run, pattern):
                known[2].close()
                known = None
            try:
                matcher = compile_pattern(pattern, budget)
                if known is None:
                    follower = Follower([log])
                    self._followers[log.task] = (run, pattern, follower)
                    lines = list(follower.history(since=run - STAMP_SLACK))
                    found = any(matcher.search(line.text) for line in lines)
                    found = found or _in_spool(log, run, matcher.search)
                else:
                    follower = known[2]
                    found = any(matcher.search(line.text) for line in follower.poll())
            except PatternTooSlow:
                self.forget(log.task)  # read again next time, with a fresh budget
                return False
            if found:
                self.forget(log.task)
            return found

    def forget(self, task: str) -> None:
        known = self._followers.pop(task, None)
        if known is not None:
            known[2].close()

    def close(self) -> None:
        for task in list(self._followers):
            self.forget(task)


def _in_spool(log: TaskLog, run: float, search: Callable[[str], object]) -> bool:
    """Whether a line the run wrote to its spool, still held there, matches (the state
    folder is the log folder's parent: `STATE/logs/TASK.log`)."""
    lines = run_output(log.path.parent.parent, log.task, run)
    return any(search(clean(raw)) for raw in lines)
