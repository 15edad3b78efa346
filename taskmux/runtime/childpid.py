"""A task's own pid: the pane runs a waiting `sh`, whose only child is the task.

Read from /proc where the kernel lists a process's children, so that `inspect` (called by
agents all the time) does not import psutil; psutil elsewhere.
"""

from __future__ import annotations

import os

_SHELLS = frozenset({"sh", "dash", "bash"})


def real_pid(pid: int | None) -> int | None:
    """The task's own process: below the pane's waiting `sh` (runtime/taskcmd.py), and
    below the task's own `sh -c` for a command that is not one program, the only child
    of each shell that has exactly one."""
    if pid is None:
        return None
    for _level in range(2):
        child = _only_child_of_shell(pid)
        if child is None:
            break
        pid = child
    return pid


def _only_child_of_shell(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            name = comm.read().rstrip(b"\n").decode("utf-8", "replace")
        if name not in _SHELLS:
            return None
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as listed:
            children = listed.read().split()
    except FileNotFoundError:  # gone, or no /proc: psutil knows other systems
        if os.path.isdir("/proc/self"):
            return None
        child = _real_pid_psutil(pid)
        return child if child != pid else None
    except OSError:
        return None
    return int(children[0]) if len(children) == 1 else None


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


def task_pid(pane_pid: int) -> int:
    """For a status row (one read per running task): the pane's waiting shell's only child,
    which is the task (or its `sh -c`); the pane's pid while there is none."""
    try:
        with open(f"/proc/{pane_pid}/task/{pane_pid}/children", "rb") as listed:
            children = listed.read().split()
    except OSError:
        return pane_pid
    return int(children[0]) if len(children) == 1 else pane_pid
