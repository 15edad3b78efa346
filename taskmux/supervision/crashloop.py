"""Crash-loop detection (SPEC §15): three exits of a task within 60 s with the same last
line of output are one `crash_loop`, not a notice per exit. Pure: each exit is given
with its time and last line; the detector says when a loop begins, once per loop."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

EXITS = 3  # exits in a row with the same last line
WINDOW = 60.0  # seconds the three fall within


@dataclass
class CrashLoops:
    """The recent exits of every task, and the loops already told."""

    exits: int = EXITS
    window: float = WINDOW
    _recent: dict[str, deque[tuple[float, str]]] = field(default_factory=dict)
    _told: dict[str, str] = field(default_factory=dict)  # task -> the line of its told loop

    def exited(self, task: str, at: float, last_line: str) -> str | None:
        """Note an exit; the repeated line when this exit makes a new crash loop, else
        None (also for the further exits of a loop already told)."""
        recent = self._recent.setdefault(task, deque(maxlen=self.exits))
        if recent and (at - recent[-1][0] > self.window or recent[-1][1] != last_line):
            recent.clear()  # the streak is broken: a quiet minute, or another failure
            self._told.pop(task, None)
        recent.append((at, last_line))
        if len(recent) < self.exits or at - recent[0][0] > self.window:
            return None
        if self._told.get(task) == last_line:
            return None
        self._told[task] = last_line
        return last_line
