"""Process trees and port owners, through /proc (psutil where there is none), in one place.

A task's processes are its pane process, everything in that process group, their
descendants, and anything carrying the task's environment marker (children that called
setsid or double-forked escape the first three), plus the trees of any processes named
for it (a server it daemonized that cleared its environment: see `lifecycle/daemonized.py`). Finding them takes a look at every
process on the machine (the marker is in each one's environment), so that look is one
`ProcessTable` shared by every task a call stops, never one per task: stopping 200 tasks
costs a few scans, not 200 of them. Who listens on a port, and freeing it, is `listeners.py`'s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from taskmux.config.taskenv import MARKER_VAR
from taskmux.runtime.timing import Timing, current, wait_until

_P = TypeVar("_P")  # a process handle: ours (`Proc`) or psutil's
_PROC = "/proc"
_MARKER_KEY = MARKER_VAR.encode() + b"="
_PF_KTHREAD = 0x00200000  # a kernel thread: no environment, never a task's


@dataclass(frozen=True)
class Proc:
    """One process as a scan saw it. `start` (its start time) tells it from a later
    process that reuses its pid, so a signal never reaches a stranger."""

    pid: int
    ppid: int
    pgid: int
    start: float
    name: str = ""
    marker: str | None = None
    zombie: bool = False  # dead, not reaped yet: never signalled, but its group still counts


def _has_proc() -> bool:
    return os.path.isfile(f"{_PROC}/self/stat")


def _read_stat(pid: int | str) -> tuple[str, list[bytes]] | None:
    """(name, the fields after it: state, ppid, pgrp, …) from /proc/PID/stat."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    head, _, rest = data.rpartition(b")")
    fields = rest.split()
    if len(fields) < 20:
        return None
    return head.partition(b"(")[2].decode(errors="replace"), fields


def _read_marker(pid: str) -> str | None:
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    at = data.find(b"\0" + _MARKER_KEY)
    if at >= 0:
        at += 1
    elif data.startswith(_MARKER_KEY):
        at = 0
    else:
        return None
    value = data[at + len(_MARKER_KEY) :].partition(b"\0")[0]
    return value.decode(errors="replace")


@dataclass
class ProcessTable:
    """Every process on the machine at one moment: parents, groups, markers."""

    procs: dict[int, Proc] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def scan(cls, markers: bool = True) -> ProcessTable:
        """Look at every live process once (`markers`: also read each one's marker)."""
        found = _scan_proc(markers) if _has_proc() else _scan_psutil(markers)
        table = cls(found)
        for proc in found.values():
            table.children.setdefault(proc.ppid, []).append(proc.pid)
        return table

    def members(
        self,
        root_pid: int | None,
        marker: str | None,
        parent: int | None = None,
        others: Iterable[int] = (),
    ) -> list[Proc]:
        """The task's live processes (see the module docstring), never this process.

        `others`: more processes of the task, found some other way; with their descendants.

        `parent`: the tmux server's pid, when `root_pid` comes from an observation that
        may be stale: the pid is taken as the task's pane process only if that process
        proves it (see `is_pane_process`), else only the marker finds the task's processes.
        """
        found: dict[int, Proc] = {}
        root = self.procs.get(root_pid) if root_pid else None
        if root is not None and parent is not None and not is_pane_process(root, marker, parent):
            root = None  # the pane's process ended and a stranger has its pid now
        pgid = root.pgid if root is not None else None
        if pgid is not None or marker is not None:
            for proc in self.procs.values():
                if proc.pgid == pgid or (marker is not None and proc.marker == marker):
                    found[proc.pid] = proc
        if root is not None:
            found[root.pid] = root
        for pid in others:
            if pid in self.procs:
                found[pid] = self.procs[pid]
        stack = list(found)
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in found:
                    found[child] = self.procs[child]
                    stack.append(child)
        me = os.getpid()
        return [p for p in found.values() if p.pid != me and not p.zombie]


def is_pane_process(proc: Proc, marker: str | None, server: int) -> bool:
    """Whether `proc` is still the task's pane process: it carries the task's marker, or
    (a program that cleared its environment) carries none and is a child of the tmux
    server. A process that reused the pid since is neither."""
    if proc.marker is not None:
        return proc.marker == marker
    return proc.ppid == server


def _scan_proc(markers: bool) -> dict[int, Proc]:
    found: dict[int, Proc] = {}
    try:
        names = os.listdir(_PROC)
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        stat = _read_stat(name)
        if stat is None:
            continue
        comm, fields = stat
        if int(fields[6]) & _PF_KTHREAD:
            continue  # a kernel thread is nobody's task
        pid = int(name)
        zombie = fields[0] in (b"Z", b"X")
        marker = _read_marker(name) if markers and not zombie else None
        ppid, pgid, start = int(fields[1]), int(fields[2]), float(fields[19])
        found[pid] = Proc(pid, ppid, pgid, start, comm, marker, zombie)
    return found


def _scan_psutil(markers: bool) -> dict[int, Proc]:
    import psutil

    found: dict[int, Proc] = {}
    for proc in psutil.process_iter(["ppid", "name", "create_time", "status"]):
        info = proc.info
        pgid = _pgid(proc.pid)
        if info.get("create_time") is None or pgid is None:
            continue
        zombie = info.get("status") == psutil.STATUS_ZOMBIE
        marker = None
        if markers and not zombie:
            with contextlib.suppress(psutil.Error):
                marker = proc.environ().get(MARKER_VAR)
        found[proc.pid] = Proc(
            proc.pid,
            info["ppid"] or 0,
            pgid,
            info["create_time"],
            info["name"] or "",
            marker,
            zombie,
        )
    return found


def alive(proc: Proc) -> bool:
    """Whether the very process `proc` saw still runs (a zombie counts as gone)."""
    if _has_proc():
        stat = _read_stat(proc.pid)
        return (
            stat is not None and stat[1][0] not in (b"Z", b"X") and float(stat[1][19]) == proc.start
        )
    import psutil

    try:
        ps = psutil.Process(proc.pid)
        return ps.create_time() == proc.start and ps.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def task_processes(
    root_pid: int | None,
    marker: str | None,
    parent: int | None = None,
    others: Iterable[int] = (),
) -> list[Proc]:
    """Every live process that belongs to the task (one scan of its own)."""
    table = ProcessTable.scan(markers=marker is not None)
    return table.members(root_pid, marker, parent, others)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def send(procs: Iterable[Proc], sig: int) -> None:
    """Signal each process group once (through its leader) and every other process
    directly; a process that is no longer the one the scan saw is left alone."""
    groups_done: set[int] = set()
    for proc in sorted(procs, key=lambda p: p.pid != p.pgid):  # leaders first
        if proc.pgid in groups_done or not alive(proc):
            continue
        try:
            if proc.pid == proc.pgid:
                groups_done.add(proc.pgid)
                os.killpg(proc.pgid, sig)
            else:
                os.kill(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            continue


def wait_gone(procs: list[Proc], timeout: float, timing: Timing | None = None) -> list[Proc]:
    """Wait until every process is gone (a zombie counts as gone); return the survivors."""
    return outlive(procs, timeout, alive, timing)


def outlive(
    procs: list[_P], timeout: float, is_alive: Callable[[_P], bool], timing: Timing | None = None
) -> list[_P]:
    """Poll, at a growing interval (`exit_poll_first` up to `exit_poll_max`), until none
    `is_alive` or the timeout; the ones still alive."""
    pauses = current(timing)
    left = list(procs)

    def all_gone() -> bool:
        left[:] = [p for p in left if is_alive(p)]
        return not left

    wait_until(
        all_gone, timeout, interval=pauses.exit_poll_first, max_interval=pauses.exit_poll_max
    )
    return left


def stop_steps(
    first: int, grace: float, timing: Timing | None = None
) -> list[tuple[signal.Signals, float]]:
    """The escalation: `first` (SIGINT unless the task's `stop_signal` says otherwise) →
    grace → SIGTERM → `term_wait` → SIGKILL → `kill_wait`; a signal already sent is not
    sent twice in a row."""
    pauses = current(timing)
    steps = [(signal.Signals(first), grace)]
    if first != signal.SIGKILL:
        if first != signal.SIGTERM:
            steps.append((signal.SIGTERM, pauses.term_wait))
        steps.append((signal.SIGKILL, pauses.kill_wait))
    return steps


@dataclass(frozen=True)
class StopTarget:
    """One task to stop: its pane process (None: not running), marker and escalation."""

    root_pid: int | None
    marker: str | None
    grace: float
    first: int = signal.SIGINT
    parent: int | None = None  # the tmux server: `root_pid` must be its child (see `members`)
    others: tuple[int, ...] = ()  # more of its processes, found another way (see `members`)


@dataclass
class Ended:
    """How one task's stop went."""

    signal: str | None = None  # the signal that ended it (None: nothing was running)
    found: list[Proc] = field(default_factory=list)  # what ran when the stop began
    survivors: list[Proc] = field(default_factory=list)  # alive even after SIGKILL


@dataclass
class _Run:
    target: StopTarget
    steps: list[tuple[signal.Signals, float]]
    procs: list[Proc]
    ended: Ended
    step: int = -1
    deadline: float = 0.0
    cleared: bool = False  # every process of the current step is gone
    done: bool = False

    def advance(self, procs: list[Proc], now: float) -> None:
        """Send the next signal of the escalation to `procs`."""
        self.step += 1
        self.procs, self.cleared = procs, False
        sig, wait = self.steps[self.step]
        send(procs, sig)
        self.deadline = now + wait

    def finish(self, used: str, survivors: list[Proc]) -> None:
        self.ended.signal, self.ended.survivors, self.done = used, survivors, True


def stop_trees(
    targets: Sequence[StopTarget], table: ProcessTable | None = None, timing: Timing | None = None
) -> list[Ended]:
    """Stop many tasks at once, each through its own escalation (see `stop_steps`).

    Every task gets its first signal together; each wait ends when that task's tree is
    gone, so N tasks that take G seconds each stop in about G, not N times G. What a task may
    have started meanwhile is found by a scan shared by every task that needs one at
    that moment. Returns one `Ended` per target, in order.
    """
    if not targets:
        return []
    pauses = current(timing)
    if table is None:
        table = ProcessTable.scan(markers=any(t.marker is not None for t in targets))
    runs = []
    for target in targets:
        found = table.members(target.root_pid, target.marker, target.parent, target.others)
        steps = stop_steps(target.first, target.grace, pauses)
        runs.append(_Run(target, steps, found, Ended(found=found)))
    now = time.monotonic()
    active = [r for r in runs if r.procs]
    for run in active:
        run.advance(run.procs, now)
    last_scan = now
    while active:
        need = _next_step(active, last_scan, pauses)
        if not need:
            continue
        now = last_scan = time.monotonic()
        table = ProcessTable.scan(markers=any(r.target.marker is not None for r in need))
        for run in need:
            _escalate(run, table, now)
        active = [r for r in active if not r.done]
    return [r.ended for r in runs]


def _next_step(active: list[_Run], last_scan: float, pauses: Timing) -> list[_Run]:
    """Wait until some run needs a scan: its step's time is up with processes left, or its
    processes are gone (looked for again, for what carries its marker and started
    meanwhile, at most every `exit_rescan` while others still run, so tasks that end
    together share one scan). The runs that need one."""

    def due() -> list[_Run]:
        now = time.monotonic()
        for run in active:
            if not run.cleared:
                run.procs = [p for p in run.procs if alive(p)]
                run.cleared = not run.procs
        overdue = [r for r in active if not r.cleared and now >= r.deadline]
        cleared = [r for r in active if r.cleared]
        rescan = len(cleared) == len(active) or now - last_scan >= pauses.exit_rescan
        return overdue + cleared if overdue or (cleared and rescan) else []

    now = time.monotonic()
    timeout = max(0.0, min([r.deadline for r in active if not r.cleared], default=now) - now)
    interval, longest = pauses.exit_poll_first, pauses.exit_poll_max
    return wait_until(due, timeout, interval=interval, max_interval=longest) or []


def _escalate(run: _Run, table: ProcessTable, now: float) -> None:
    """After a scan: the run is over (nothing left, or SIGKILL was its last step), or its
    next signal goes to what is left of it and whatever carries its marker."""
    root = None if run.cleared else run.target.root_pid
    extra = table.members(root, run.target.marker, others=run.target.others)
    procs = list({p.pid: p for p in [*run.procs, *extra]}.values())
    if not procs:
        run.finish(run.steps[run.step][0].name, [])
    elif run.step + 1 < len(run.steps):
        run.advance(procs, now)
    else:
        run.finish("SIGKILL", procs)


def kill_tree(
    root_pid: int | None,
    marker: str | None,
    timing: Timing | None = None,
    parent: int | None = None,
    others: Iterable[int] = (),
) -> bool:
    """SIGKILL every process of the task; return whether anything was running.
    `parent`: the tmux server, whose child `root_pid` must be (see `ProcessTable.members`);
    `others`: more of its processes (a server it daemonized), with their descendants."""
    pauses = current(timing)
    procs = task_processes(root_pid, marker, parent, others)
    found = bool(procs)
    for _ in range(3):
        if not procs:
            break
        send(procs, signal.SIGKILL)
        wait_gone(procs, pauses.kill_wait, pauses)
        procs = task_processes(None, marker, others=others)
    return found


def marked(prefix: str, table: ProcessTable | None = None) -> dict[str, list[Proc]]:
    """Live processes that carry one of a project's markers (`prefix`: "<state folder>/"),
    by task, sorted by pid: only the top of each task's tree (a process whose parent
    carries the same marker is left out, so a server's workers do not each count)."""
    if table is None:
        table = ProcessTable.scan()
    found: dict[str, list[Proc]] = {}
    me = os.getpid()
    for proc in sorted(table.procs.values(), key=lambda p: p.pid):
        marker = proc.marker
        if marker is None or not marker.startswith(prefix) or proc.zombie or proc.pid == me:
            continue
        parent = table.procs.get(proc.ppid)
        if parent is not None and parent.marker == marker and not parent.zombie:
            continue
        found.setdefault(marker[len(prefix) :], []).append(proc)
    return found


def describe(found: Sequence[Proc], limit: int = 5) -> str:
    """`pid 12 (redis-server), pid 13 (redis-server)`, for a report line."""
    parts = [f"pid {p.pid} ({p.name})" if p.name else f"pid {p.pid}" for p in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return ", ".join(parts) + more
