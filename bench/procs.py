"""What a process costs, read from /proc: PSS, CPU time (to the nanosecond), which
processes a sandbox holds, and which of them belong to the tasks and which to the tool
that runs them."""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pss_kib(pid: int) -> int:
    """Proportional set size (KiB) of one process: shared pages split among their users."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def own_cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` (schedstat: nanoseconds, not 10 ms ticks)."""
    total = 0
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in threads:
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            open(f"/proc/{pid}/task/{tid}/schedstat") as handle,
        ):
            total += int(handle.read().split()[0])
    return total


def children_cpu_s(pid: int) -> float:
    """CPU seconds of the children `pid` has waited for (cutime + cstime: 10 ms ticks)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
        return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_s(pid: int) -> float:
    """Own CPU (ns resolution) plus reaped children's (tick resolution), in seconds."""
    return own_cpu_ns(pid) / 1e9 + children_cpu_s(pid)


def parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def name_of(pid: int) -> str:
    """A short label: tmux's server renames itself; others by their command line."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
    except OSError:
        return "?"
    if not argv:
        return "?"
    first = os.path.basename(argv[0])
    if first.startswith("tmux"):
        return "tmux server" if _session_leader(pid) else "tmux client"
    if first.startswith("python") and len(argv) > 1:
        script = next((a for a in argv[1:] if not a.startswith("-")), "")
        if "logpipe" in script:
            return "log writer (python)"
        if os.path.basename(script) == "collector.py":
            return "log collector (python)"
        if script.endswith(("taskmux", "supervisord")):
            return os.path.basename(script)
        return f"python {os.path.basename(script)}".strip()
    if "PM2" in argv[0] or "God" in argv[0]:
        return "pm2 daemon"
    return first


def _session_leader(pid: int) -> bool:
    """tmux's server daemonizes (setsid), so it leads its own session; clients do not."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rpartition(")")[2].split()[3]) == pid
    except (OSError, ValueError, IndexError):
        return False


def sandbox_processes(var: str, value: str, root: Path | str) -> list[int]:
    """Every live process of a sandbox (never this one): those carrying its environment
    marker `var=value`, and taskmux's log collectors of state folders under `root`, which
    start with an empty environment (so that no task's marker or secret reaches them)."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if collector_of(proc.cmdline(), root) or proc.environ().get(var) == value:
                found.append(proc.pid)
    return found


def collector_of(argv: list[str], root: Path | str) -> bool:
    """Whether a command line is taskmux's log collector (`python -I -S …/collector.py
    STATE`) of a state folder under `root`."""
    if len(argv) < 2 or os.path.basename(argv[-2]) != "collector.py":
        return False
    state, base = os.path.realpath(argv[-1]), os.path.realpath(root)
    return state == base or state.startswith(base + os.sep)


def descendants(roots: Iterable[int], candidates: Iterable[int]) -> set[int]:
    """`roots` and every candidate whose parent chain leads to one of them."""
    found = set(roots)
    parents = {pid: parent_of(pid) for pid in candidates}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if pid not in found and parent in found:
                found.add(pid)
                changed = True
    return found


@dataclass
class Split:
    """The sandbox's processes split into the tasks' and the tool's own."""

    tasks: set[int]
    tool: set[int]

    def pss_by_name(self) -> dict[str, int]:
        sizes: dict[str, int] = defaultdict(int)
        for pid in self.tool:
            sizes[name_of(pid)] += pss_kib(pid)
        return dict(sizes)

    def cpu_by_pid(self) -> dict[int, float]:
        return {pid: cpu_s(pid) for pid in self.tool}


def split(
    sandbox_pids: Iterable[int], task_pids: Iterable[int], exclude: Iterable[int] = ()
) -> Split:
    """Task processes are the pids the tasks wrote and their descendants; every other
    process of the sandbox (tmux server, log writers, the log collector, supervisor,
    wrappers) is the tool's."""
    every = set(sandbox_pids) - set(exclude)
    tasks = descendants(task_pids, every) & (every | set(task_pids))
    return Split(tasks, every - tasks)


def describe_kib(sizes: dict[str, int], top: int = 4) -> str:
    """`tmux server 3.1 MB, log writer (python) x100 …` (largest first)."""
    ordered = sorted(sizes.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {kib / 1024:.1f} MB" for name, kib in ordered[:top])
