"""Process trees and port owners, through /proc (psutil where there is none), in one place.

A task's processes are its pane process, everything in that process group, their
descendants, and anything carrying the task's environment marker (children that called
setsid or double-forked escape the first three). Finding them takes a look at every
process on the machine (the marker is in each one's environment), so that look is one
`ProcessTable` shared by every task a call stops, never one per task: stopping 200 tasks
costs a few scans, not 200 of them. Whether a port's holder may be ended is decided in
`port_guard.py`; this module gathers the facts and sends the signals.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from taskmux.config.taskenv import MARKER_VAR
from taskmux.runtime.port_guard import Holder, Verdict, may_free_all

if TYPE_CHECKING:  # psutil is imported where used: not on the start/stop/status paths
    import psutil

POLL_FIRST, POLL_MAX = 0.005, 0.05  # the first and the longest pause of a wait for exits
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

    def members(self, root_pid: int | None, marker: str | None) -> list[Proc]:
        """The task's live processes (see the module docstring), never this process."""
        found: dict[int, Proc] = {}
        root = self.procs.get(root_pid) if root_pid else None
        pgid = root.pgid if root is not None else None
        if pgid is not None or marker is not None:
            for proc in self.procs.values():
                if proc.pgid == pgid or (marker is not None and proc.marker == marker):
                    found[proc.pid] = proc
        if root is not None:
            found[root.pid] = root
        stack = list(found)
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in found:
                    found[child] = self.procs[child]
                    stack.append(child)
        me = os.getpid()
        return [p for p in found.values() if p.pid != me and not p.zombie]


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


def task_processes(root_pid: int | None, marker: str | None) -> list[Proc]:
    """Every live process that belongs to the task (one scan of its own)."""
    return ProcessTable.scan(markers=marker is not None).members(root_pid, marker)


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


def wait_gone(procs: list[Proc], timeout: float) -> list[Proc]:
    """Wait until every process is gone (a zombie counts as gone); return the survivors."""
    return _outlive(procs, timeout, alive)


def _outlive(procs: list[_P], timeout: float, is_alive: Callable[[_P], bool]) -> list[_P]:
    """Poll, at a growing interval (5 ms up to 50 ms), until none `is_alive` or the
    timeout; the ones still alive."""
    deadline = time.monotonic() + timeout
    delay = POLL_FIRST
    left = [p for p in procs if is_alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, POLL_MAX)
        left = [p for p in left if is_alive(p)]
    return left


STOP_TERM_WAIT = 3.0
# A task whose processes are all gone is looked for again (what carries its marker and
# started meanwhile): at most this often while others still run, so many tasks that
# end together share one scan.
RESCAN_EVERY = 0.1


def stop_steps(first: int, grace: float) -> list[tuple[signal.Signals, float]]:
    """The escalation: `first` (SIGINT unless the task's `stop_signal` says otherwise) →
    grace → SIGTERM → 3 s → SIGKILL; a signal already sent is not sent twice in a row."""
    steps = [(signal.Signals(first), grace)]
    if first != signal.SIGKILL:
        if first != signal.SIGTERM:
            steps.append((signal.SIGTERM, STOP_TERM_WAIT))
        steps.append((signal.SIGKILL, 5.0))
    return steps


@dataclass(frozen=True)
class StopTarget:
    """One task to stop: its pane process (None: not running), marker and escalation."""

    root_pid: int | None
    marker: str | None
    grace: float
    first: int = signal.SIGINT


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


def stop_trees(targets: Sequence[StopTarget], table: ProcessTable | None = None) -> list[Ended]:
    """Stop many tasks at once, each through its own escalation (see `stop_steps`).

    Every task gets its first signal together; each wait ends when that task's tree is
    gone, so N tasks that take G seconds each stop in about G, not N times G. What a task may
    have started meanwhile is found by a scan shared by every task that needs one at
    that moment. Returns one `Ended` per target, in order.
    """
    if not targets:
        return []
    if table is None:
        table = ProcessTable.scan(markers=any(t.marker is not None for t in targets))
    runs = []
    for target in targets:
        found = table.members(target.root_pid, target.marker)
        steps = stop_steps(target.first, target.grace)
        runs.append(_Run(target, steps, found, Ended(found=found)))
    now = time.monotonic()
    active = [r for r in runs if r.procs]
    for run in active:
        run.advance(run.procs, now)
    last_scan, delay = now, POLL_FIRST
    while active:
        waiting = [r for r in active if not r.cleared]
        if waiting:
            due = min(r.deadline for r in waiting) - time.monotonic()
            time.sleep(max(0.0, min(delay, due)))
            delay = min(delay * 2, POLL_MAX)
        now = time.monotonic()
        for run in waiting:
            run.procs = [p for p in run.procs if alive(p)]
            run.cleared = not run.procs
        overdue = [r for r in active if not r.cleared and now >= r.deadline]
        cleared = [r for r in active if r.cleared]
        all_cleared = len(cleared) == len(active)
        if not overdue and not (cleared and (all_cleared or now - last_scan >= RESCAN_EVERY)):
            continue
        need = overdue + cleared
        table = ProcessTable.scan(markers=any(r.target.marker is not None for r in need))
        last_scan = now
        for run in need:
            root = None if run.cleared else run.target.root_pid
            extra = table.members(root, run.target.marker)
            procs = list({p.pid: p for p in [*run.procs, *extra]}.values())
            if not procs:
                run.finish(run.steps[run.step][0].name, [])
            elif run.step + 1 < len(run.steps):
                run.advance(procs, now)
                delay = POLL_FIRST
            else:
                run.finish("SIGKILL", procs)
        active = [r for r in active if not r.done]
    return [r.ended for r in runs]


def kill_tree(root_pid: int | None, marker: str | None) -> bool:
    """SIGKILL every process of the task; return whether anything was running."""
    procs = task_processes(root_pid, marker)
    found = bool(procs)
    for _ in range(3):
        if not procs:
            break
        send(procs, signal.SIGKILL)
        wait_gone(procs, 2.0)
        procs = task_processes(None, marker)
    return found


def describe(found: Sequence[Proc], limit: int = 5) -> str:
    """`pid 12 (redis-server), pid 13 (redis-server)`, for a report line."""
    parts = [f"pid {p.pid} ({p.name})" if p.name else f"pid {p.pid}" for p in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return ", ".join(parts) + more


# Ports ---------------------------------------------------------------------------------
#
# Who listens on a port: on Linux the kernel's socket-diagnostics netlink lists the
# listening sockets (inode and owner uid) in well under a millisecond, so a free port
# costs no process scan (/proc/net/tcp walks the whole connection table: milliseconds);
# only a held port needs the scan of /proc/*/fd that maps a socket to its processes.
# Elsewhere, psutil's whole-machine net_connections.

_PROC_TCP = ("/proc/net/tcp", "/proc/net/tcp6")
_LISTEN = b"0A"
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x301
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10
_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, seq, pid
_SOCKID_SIZE = 48  # sport, dport, src[16], dst[16], interface, cookie[8]


def _listening_sockets(port: int) -> dict[int, int] | None:
    """inode -> owner uid of every socket listening on `port`; None if nothing can say."""
    try:
        return _sock_diag_listeners(port)
    except (OSError, AttributeError, struct.error):  # no netlink (not Linux, no tcp_diag)
        return _proc_net_listeners(port)


def _sock_diag_listeners(port: int) -> dict[int, int]:
    found: dict[int, int] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as link:
        link.settimeout(2.0)
        for family in (socket.AF_INET, socket.AF_INET6):
            request = struct.pack(
                "=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN
            ) + bytes(_SOCKID_SIZE)
            header = _NLMSG_HEADER.pack(
                _NLMSG_HEADER.size + len(request),
                _SOCK_DIAG_BY_FAMILY,
                _NLM_F_REQUEST_DUMP,
                family,
                0,
            )
            link.send(header + request)
            while not _read_diag_reply(link.recv(65536), port, found):
                pass
    return found


def _read_diag_reply(data: bytes, port: int, found: dict[int, int]) -> bool:
    """Add the listeners on `port` of one netlink datagram; True once the dump is done."""
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG_HEADER.unpack_from(data, offset)
        if kind == _NLMSG_DONE:
            return True
        if kind == _NLMSG_ERROR or length < _NLMSG_HEADER.size:
            raise OSError("sock_diag refused the request")
        body = offset + _NLMSG_HEADER.size  # inet_diag_msg: family, state, timer, retrans, id
        (sport,) = struct.unpack_from(">H", data, body + 4)
        if sport == port:  # then expires, rqueue, wqueue, uid, inode
            uid, inode = struct.unpack_from("=II", data, body + 4 + _SOCKID_SIZE + 12)
            found[inode] = uid
        offset += (length + 3) & ~3
    return False


def _proc_net_listeners(port: int) -> dict[int, int] | None:
    found: dict[int, int] = {}
    readable = False
    for table in _PROC_TCP:
        try:
            with open(table, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        readable = True
        for line in data.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rpartition(b":")[2], 16) == port:
                found[int(fields[9])] = int(fields[7])
    return found if readable else None


def _pids_of_sockets(inodes: Iterable[int], only_uid: int | None = None) -> dict[int, set[int]]:
    """inode -> pids holding it, from /proc/*/fd (processes this user may not read are
    skipped: without root, another user's socket has no known pid)."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    holders: dict[int, set[int]] = {inode: set() for inode in wanted.values()}
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                if only_uid is not None and entry.stat().st_uid != only_uid:
                    continue
                fds = os.listdir(f"/proc/{entry.name}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    inode = wanted.get(os.readlink(f"/proc/{entry.name}/fd/{fd}"))
                except OSError:
                    continue
                if inode is not None:
                    holders[inode].add(int(entry.name))
    return holders


def _user_name(uid: int | None) -> str | None:
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _facts(pid: int) -> Holder | None:
    """What a port decision needs to know about one process (None once it is gone)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        uid = proc.uids().real
    except psutil.Error:
        return None
    command, cwd, env = "", None, None
    with contextlib.suppress(psutil.Error):
        command = " ".join(proc.cmdline()) or proc.name()
    with contextlib.suppress(psutil.Error):
        cwd = proc.cwd()
    with contextlib.suppress(psutil.Error):
        env = proc.environ()
    marker = env.get(MARKER_VAR) if env else None
    project = (env.get("TASKMUX_PROJECT") or env.get("TASKMUX_SESSION")) if env else None
    return Holder(pid, uid, _user_name(uid), command, cwd, marker or None, project or None)


def port_holders(port: int, only_uid: int | None = None) -> list[Holder]:
    """Every process listening on TCP `port` (client connections do not count).

    A socket whose process this user cannot see is one Holder with pid None per owner.
    `only_uid` looks only at that user's processes (cheaper; for finding our own).
    """
    sockets = _listening_sockets(port)
    if sockets is None:
        return _port_holders_psutil(port)
    if not sockets:
        return []
    by_socket = _pids_of_sockets(sockets, only_uid)
    pids = sorted({pid for found in by_socket.values() for pid in found})
    holders = [h for h in map(_facts, pids) if h is not None]
    if only_uid is None:
        unseen = sorted({sockets[i] for i, found in by_socket.items() if not found})
        holders += [Holder(None, uid, _user_name(uid)) for uid in unseen]
    return holders


def _port_holders_psutil(port: int) -> list[Holder]:
    import psutil

    pids: set[int] = set()
    unseen = False
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.pid is None:
            unseen = True
        else:
            pids.add(conn.pid)
    holders = [h for h in map(_facts, sorted(pids)) if h is not None]
    return holders + ([Holder(None, None, None)] if unseen else [])


@dataclass(frozen=True)
class PortCleanup:
    """What freeing a port did: who was signalled, and what (if anything) still holds it."""

    killed: list[Holder]  # every process signalled: the listeners and their descendants
    refused: list[Verdict]  # the verdicts that kept the port held (nothing was signalled)
    remaining: list[Holder]  # still listening when the deadline passed

    @property
    def is_free(self) -> bool:
        return not self.refused and not self.remaining


PORT_DEADLINE = 10.0
ROUNDS = 4


def free_port(
    port: int, decide: Callable[[list[Holder]], list[Verdict]], timeout: float = PORT_DEADLINE
) -> PortCleanup:
    """End every listener on `port` when `decide` allows all of them; wait until it is free.

    A pre-fork server (a master and workers sharing the listening socket) goes as a whole:
    the master first, so it cannot replace the workers, then everything left of the trees.
    Whatever holds the port after a round (a worker spawned meanwhile) is judged again.
    """
    deadline = time.monotonic() + timeout
    killed: dict[int, Holder] = {}
    for _ in range(ROUNDS):
        found = port_holders(port)
        if not found:
            return PortCleanup(list(killed.values()), [], [])
        verdicts = decide(found)
        if not may_free_all(verdicts):
            return PortCleanup(
                list(killed.values()), [v for v in verdicts if not v.may_free], found
            )
        killed |= _end_trees([h.pid for h in found if h.pid is not None], deadline)
        _wait_port_free(port, deadline)
        if time.monotonic() >= deadline:
            break
    return PortCleanup(list(killed.values()), [], port_holders(port))


def _end_trees(pids: list[int], deadline: float) -> dict[int, Holder]:
    """SIGTERM the roots, then the rest of their trees, then SIGKILL what is left.

    Returns the facts of every process signalled, read before it was.
    """

    tree: dict[int, psutil.Process] = {}
    facts: dict[int, Holder] = {}

    def gather(roots: Iterable[int]) -> list[psutil.Process]:
        for pid, proc in _with_descendants(roots).items():
            if pid not in tree and (holder := _facts(pid)) is not None:
                tree[pid], facts[pid] = proc, holder
        return [p for p in tree.values() if _alive_ps(p)]

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    alive = gather(pids)
    top = {p.pid for p in alive if _parent_pid(p) not in tree}
    masters = [p for p in alive if p.pid in top]
    _signal_each(masters, signal.SIGTERM)
    _wait_gone_ps(masters, min(1.0, left()))
    alive = gather(list(tree))  # workers a master replaced meanwhile come along
    _signal_each(alive, signal.SIGTERM)
    survivors = _wait_gone_ps(alive, min(STOP_TERM_WAIT, left()))
    if survivors:
        alive = gather([p.pid for p in survivors])
        alive.sort(key=lambda p: p.pid not in top)  # masters first
        _signal_each(alive, signal.SIGKILL)
        _wait_gone_ps(alive, min(2.0, left()))
    return facts


def _with_descendants(pids: Iterable[int]) -> dict[int, psutil.Process]:
    """The live processes `pids` and all their descendants (never this process)."""
    import psutil

    found: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            family = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        for member in family:
            if member.pid != os.getpid() and _alive_ps(member):
                found.setdefault(member.pid, member)
    return found


def _parent_pid(proc: psutil.Process) -> int | None:
    import psutil

    try:
        return proc.ppid()
    except psutil.Error:
        return None


def _signal_each(procs: Iterable[psutil.Process], sig: int) -> None:
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _wait_port_free(port: int, deadline: float) -> None:
    delay = 0.01
    while port_is_held(port) and time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.1)


def port_is_held(port: int) -> bool:
    """Whether anything listens on `port` (cheap on Linux: no process scan)."""
    sockets = _listening_sockets(port)
    return bool(sockets) if sockets is not None else bool(_port_holders_psutil(port))


def own_lineage() -> frozenset[int]:
    """This process and its ancestors: never signalled to free a port."""
    import psutil

    pids = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        pids |= {p.pid for p in psutil.Process().parents()}
    return frozenset(pids)


def _alive_ps(proc: psutil.Process) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_gone_ps(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """`wait_gone` for the psutil processes port cleanup gathers."""
    return _outlive(procs, timeout, _alive_ps)
