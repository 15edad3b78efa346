"""Process trees and port owners, through psutil, in one place.

A task's processes are its pane process, everything in that process group, their
descendants, and anything carrying the task's environment marker (children that called
setsid or double-forked escape the first three).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from taskmux.taskenv import MARKER_VAR


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def task_processes(root_pid: int | None, marker: str | None) -> list[psutil.Process]:
    """Every live process that belongs to the task (see module docstring)."""
    found: dict[int, psutil.Process] = {}
    roots: list[psutil.Process] = []
    if root_pid:
        try:
            root = psutil.Process(root_pid)
            roots.append(root)
        except psutil.Error:
            root = None
        pgid = _pgid(root_pid)
    else:
        pgid = None
    scan_env = marker is not None
    for proc in psutil.process_iter():
        try:
            if (pgid is not None and _pgid(proc.pid) == pgid) or (
                scan_env and proc.environ().get(MARKER_VAR) == marker
            ):
                found[proc.pid] = proc
        except psutil.Error:
            continue
    for parent in [*roots, *list(found.values())]:
        try:
            for child in parent.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.Error:
            continue
    for root in roots:
        found.setdefault(root.pid, root)
    return [p for p in found.values() if p.pid != os.getpid() and _alive(p)]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def send(procs: Iterable[psutil.Process], sig: int) -> None:
    """Signal each process group once (for group leaders) and every other process directly."""
    groups_done: set[int] = set()
    for proc in procs:
        pgid = _pgid(proc.pid)
        try:
            if pgid == proc.pid and pgid not in groups_done:
                groups_done.add(pgid)
                os.killpg(pgid, sig)
            elif pgid not in groups_done:
                proc.send_signal(sig)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
        except (PermissionError, psutil.AccessDenied):
            continue


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process is gone (a zombie counts as gone); return the survivors."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.05)
        alive = [p for p in alive if _alive(p)]
    return alive


STOP_TERM_WAIT = 3.0


def stop_tree(root_pid: int | None, marker: str | None, grace: float) -> str | None:
    """SIGINT → grace → SIGTERM → 3 s → SIGKILL; each wait ends when the tree is gone.

    Returns the name of the signal that finished the job, or None if nothing was running.
    """
    procs = task_processes(root_pid, marker)
    if not procs:
        return None
    steps = ((signal.SIGINT, grace), (signal.SIGTERM, STOP_TERM_WAIT), (signal.SIGKILL, 5.0))
    for sig, wait in steps:
        send(procs, sig)
        survivors = wait_gone(procs, wait)
        extra = task_processes(root_pid if survivors else None, marker)
        procs = list({p.pid: p for p in [*survivors, *extra]}.values())
        if not procs:
            return sig.name
    return "SIGKILL"


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


def real_pid(pid: int | None) -> int | None:
    """The task's own process: the pane's `sh -c` wrapper's only child if it has one."""
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        children = proc.children()
        if proc.name() in {"sh", "dash", "bash"} and len(children) == 1:
            return children[0].pid
    except psutil.Error:
        pass
    return pid


@dataclass(frozen=True)
class Listener:
    pid: int | None
    name: str


def listeners(port: int) -> list[Listener]:
    """Processes with a TCP socket listening on `port` (client connections do not count)."""
    found: dict[int | None, Listener] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        name = "?"
        if conn.pid is not None:
            with contextlib.suppress(psutil.Error):
                name = psutil.Process(conn.pid).name()
        found[conn.pid] = Listener(conn.pid, name)
    return list(found.values())


def free_port(port: int) -> list[Listener]:
    """Terminate whatever listens on `port`; return what could not be removed."""
    stubborn = []
    procs = []
    for listener in listeners(port):
        if listener.pid is None:
            stubborn.append(listener)
            continue
        try:
            proc = psutil.Process(listener.pid)
            proc.terminate()
            procs.append(proc)
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            stubborn.append(listener)
    survivors = wait_gone(procs, 3.0)
    for proc in survivors:
        try:
            proc.kill()
        except psutil.Error:
            continue
    wait_gone(survivors, 2.0)
    return stubborn + [item for item in listeners(port) if item not in stubborn]


@dataclass(frozen=True)
class PortHolder:
    """A process listening on a port, and the taskmux task it belongs to, if any."""

    pid: int
    name: str
    marker: str | None  # its TASKMUX_MARKER (None: not a taskmux task, or not readable)
    project: str | None  # its TASKMUX_PROJECT (the session of its project)
    task: str | None  # its TASKMUX_TASK
    cwd: str | None


def port_holders(port: int) -> list[PortHolder]:
    """Who listens on `port`, with their taskmux identity where their environment says it."""
    holders = []
    for listener in listeners(port):
        if listener.pid is None:
            continue
        environ: dict[str, str] = {}
        cwd = None
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(listener.pid)
            environ = process.environ()
            cwd = process.cwd()
        holders.append(
            PortHolder(
                listener.pid,
                listener.name,
                environ.get(MARKER_VAR),
                environ.get("TASKMUX_PROJECT"),
                environ.get("TASKMUX_TASK"),
                cwd,
            )
        )
    return holders
