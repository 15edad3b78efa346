"""Who listens on a port, and freeing a port for a task, through /proc and the kernel's
socket diagnostics (psutil where there are none), in one place.

Whether a port's holder may be ended is decided in `port_guard.py`; this module gathers
the facts and sends the signals.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskmux.config.taskenv import MARKER_VAR
from taskmux.runtime.port_guard import Holder, Verdict, may_free_all
from taskmux.runtime.procs import outlive
from taskmux.runtime.timing import Timing, current, wait_until

if TYPE_CHECKING:  # psutil is imported where used: not on the start/stop/status paths
    import psutil

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


def _start_time(pid: int) -> float | None:
    """When `pid` started, on the wall clock, to within a clock tick (psutil's
    `create_time` adds the boot time in whole seconds: up to a second early)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            ticks = int(handle.read().rpartition(b")")[2].split()[19])
        with open("/proc/uptime", "rb") as handle:
            uptime = float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


def _facts(pid: int) -> Holder | None:
    """What a port decision needs to know about one process (None once it is gone)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        uid = proc.uids().real
    except psutil.Error:
        return None
    command, cwd, env, started = "", None, None, None
    with contextlib.suppress(psutil.Error):
        command = " ".join(proc.cmdline()) or proc.name()
    with contextlib.suppress(psutil.Error):
        cwd = proc.cwd()
    with contextlib.suppress(psutil.Error):
        env = proc.environ()
    with contextlib.suppress(psutil.Error):
        started = _start_time(pid) or proc.create_time()
    marker = env.get(MARKER_VAR) if env else None
    project = (env.get("TASKMUX_PROJECT") or env.get("TASKMUX_SESSION")) if env else None
    user = _user_name(uid)
    return Holder(pid, uid, user, command, cwd, marker or None, project or None, started)


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


ROUNDS = 4


def free_port(
    port: int,
    decide: Callable[[list[Holder]], list[Verdict]],
    timing: Timing | None = None,
) -> PortCleanup:
    """End every listener on `port` when `decide` allows all of them; wait until it is free.

    A pre-fork server (a master and workers sharing the listening socket) goes as a whole:
    the master first, so it cannot replace the workers, then everything left of the trees.
    Whatever holds the port after a round (a worker spawned meanwhile) is judged again;
    all of it within `port_deadline`.
    """
    pauses = current(timing)
    deadline = time.monotonic() + pauses.port_deadline
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
        killed |= _end_trees([h.pid for h in found if h.pid is not None], deadline, pauses)
        _wait_port_free(port, deadline, pauses)
        if time.monotonic() >= deadline:
            break
    return PortCleanup(list(killed.values()), [], port_holders(port))


def _end_trees(pids: list[int], deadline: float, pauses: Timing) -> dict[int, Holder]:
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
    _wait_gone_ps(masters, min(pauses.master_wait, left()), pauses)
    alive = gather(list(tree))  # workers a master replaced meanwhile come along
    _signal_each(alive, signal.SIGTERM)
    survivors = _wait_gone_ps(alive, min(pauses.term_wait, left()), pauses)
    if survivors:
        alive = gather([p.pid for p in survivors])
        alive.sort(key=lambda p: p.pid not in top)  # masters first
        _signal_each(alive, signal.SIGKILL)
        _wait_gone_ps(alive, min(pauses.kill_wait, left()), pauses)
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


def _wait_port_free(port: int, deadline: float, pauses: Timing) -> None:
    wait_until(
        lambda: not port_is_held(port),
        max(0.0, deadline - time.monotonic()),
        interval=pauses.port_poll_first,
        max_interval=pauses.port_poll_max,
    )


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


def _wait_gone_ps(
    procs: list[psutil.Process], timeout: float, pauses: Timing
) -> list[psutil.Process]:
    """`wait_gone` for the psutil processes port cleanup gathers."""
    return outlive(procs, timeout, _alive_ps, pauses)
