"""A task's own pid: the pane runs `sh -c COMMAND`, whose only child is the task.

Read from /proc where the kernel lists a process's children, so that `inspect` (called by
agents all the time) does not import psutil; psutil elsewhere.
"""

from __future__ import annotations

import os

_SHELLS = frozenset({"sh", "dash", "bash"})


def real_pid(pid: int | None) -> int | None:
    """The task's own process: the pane's `sh -c` wrapper's only child if it has one."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            name = comm.read().rstrip(b"\n").decode("utf-8", "replace")
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as listed:
            children = listed.read().split()
    except FileNotFoundError:  # gone, or no /proc: psutil knows other systems
        return _real_pid_psutil(pid) if not os.path.isdir("/proc/self") else pid
    except OSError:
        return pid
    if name in _SHELLS and len(children) == 1:
        return int(children[0])
    return pid


def _real_pid_psutil(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        children = proc.children()
        if proc.name() in _SHELLS and len(children) == 1:
            return children[0].pid
    except psutil.Error:
        pass
    return pid
