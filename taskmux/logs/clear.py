"""Emptying a task's log (`logs --clear`)."""

from __future__ import annotations

from pathlib import Path

from taskmux.logs.lines import TaskLog
from taskmux.logs.reading import catch_up
from taskmux.statedir.files import truncate_private


def clear(log: TaskLog) -> list[Path]:
    """Empty a task's log: truncate the current file (a running writer keeps appending to
    it) and delete the rotated ones. Returns the files cleared."""
    catch_up([log])  # what was printed before the clear goes too
    cleared: list[Path] = []
    for path in log.files():
        try:
            if path == log.path:
                truncate_private(path)  # never through a symlink planted at its name
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        cleared.append(path)
    return cleared
