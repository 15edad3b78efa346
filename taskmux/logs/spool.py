"""Feeding task panes to the project's log collector, and making sure one runs.

A launch makes the task's spool (a private file in the state folder) and touches it,
pipes the pane into it with `exec cat >> SPOOL` (one `cat` per pane: about 0.15 MB, never
blocks the task, keeps appending with no taskmux process running), then starts the
collector (`collector.py`) unless one holds the project's lock. Readers call `catch_up`
first, so what is still in a spool is in the log files they read: they wait briefly for a
running collector, or, if none runs, collect it themselves and start one.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from taskmux.logs import collector
from taskmux.statedir.files import ensure_private_dir, open_private, read_trusted, write_private
from taskmux.statedir.paths import ProjectPaths

if TYPE_CHECKING:
    import subprocess

COLLECTOR = Path(collector.__file__)
CATCH_UP_WAIT = 1.0  # how long a reader waits for a running collector to catch up
RECENT = 5.0  # a spool touched this recently may get its writer any moment
_spawned: list[subprocess.Popen[bytes]] = []


def layout(root: Path) -> collector.Layout:
    return collector.Layout(str(root))


def pipe_command(paths: ProjectPaths, task: str) -> str:
    """What tmux pipes the pane into: an appending `cat`, replaced by nothing heavier."""
    return "exec cat >> " + shlex.quote(layout(paths.root).spool(task))


def configure(paths: ProjectPaths, max_bytes: int, backups: int) -> None:
    """Record the rotation settings the collector applies (read when a launch wakes it)."""
    data = f"{max_bytes} {backups}\n".encode()
    settings = Path(layout(paths.root).settings)
    if read_trusted(settings) != data:
        ensure_private_dir(paths.root)
        write_private(settings, data)


def prepare(paths: ProjectPaths, task: str) -> None:
    """Make the task's spool (0600, never through a symlink) before tmux's shell appends to
    it, and touch it: the touch wakes a collector about to exit (it then stays)."""
    spool = Path(layout(paths.root).spool(task))
    ensure_private_dir(spool.parent)
    fd = open_private(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, replace=True)
    try:
        os.utime(fd)
    finally:
        os.close(fd)


def collector_pid(root: Path) -> int | None:
    """The pid of the collector holding the project's lock, None if none does."""
    lock = Path(layout(root).lock)
    try:
        fd = open_private(lock, os.O_RDWR)
    except FileNotFoundError:
        return None  # no collector ever ran here
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: two probes at
        except OSError:  # once do not take each other for a collector
            text = os.pread(fd, 32, 0).strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def ensure_collector(root: Path) -> bool:
    """Start the project's collector unless one runs; True if one was started."""
    if collector_pid(root) is not None:
        return False
    spawn(root)
    return True


def spawn(root: Path) -> None:
    """Start a detached collector (it exits at once if another took the lock meanwhile).
    Its errors go to `collector.err` in the state folder."""
    import subprocess  # not on a reader's path unless it has to start one

    global _spawned
    _spawned = [proc for proc in _spawned if proc.poll() is None]  # reap the exited ones
    err = open_private(root / "collector.err", os.O_WRONLY | os.O_APPEND | os.O_CREAT, True)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(COLLECTOR), str(root)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd="/",  # holds no project folder
            # Nothing of the caller's environment: called from inside a task, it would carry
            # that task's marker (and be stopped with it) and whatever secrets it holds.
            env={"LC_ALL": "C.UTF-8"},
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(err)
    _spawned.append(proc)


def _read_offset(where: collector.Layout, task: str, inode: int) -> int:
    """How far the collector has read the spool `inode` of the task (0: not at all)."""
    mark = read_trusted(Path(where.read_mark(task))) or b""
    marked_inode, offset = collector.parse_read_mark(mark)
    return offset if marked_inode == inode else 0


def pending(root: Path, tasks: Iterable[str]) -> dict[str, int]:
    """Tasks whose spool holds bytes the collector has not read yet, with the spool's size."""
    where = layout(root)
    found: dict[str, int] = {}
    for task in tasks:
        try:
            info = os.stat(where.spool(task))
        except OSError:
            continue
        if info.st_size > _read_offset(where, task, info.st_ino):
            found[task] = info.st_size
    return found


def catch_up(root: Path, tasks: Iterable[str], wait: float = CATCH_UP_WAIT) -> None:
    """Make what the tasks printed so far readable in their log files: if no collector
    runs, collect now (and start one for the writers still there); else wait up to `wait`
    seconds for it to read that far (past that, the rest comes when it does)."""
    tasks = list(tasks)
    targets = pending(root, tasks)
    if not targets:
        return
    writers = collector.collect_once(str(root))
    if writers is not None:
        if writers or _recently_touched(root, tasks):
            spawn(root)
        return
    deadline = time.monotonic() + wait
    while not _read_up_to(root, targets) and time.monotonic() < deadline:
        time.sleep(0.005)


def _read_up_to(root: Path, targets: dict[str, int]) -> bool:
    """Whether the collector has read each task's spool at least up to its target size."""
    where = layout(root)
    for task, size in targets.items():
        try:
            inode = os.stat(where.spool(task)).st_ino
        except OSError:
            continue
        if _read_offset(where, task, inode) < size:
            return False
    return True


def _recently_touched(root: Path, tasks: Iterable[str]) -> bool:
    now = time.time()
    for task in tasks:
        try:
            if now - os.stat(layout(root).spool(task)).st_mtime < RECENT:
                return True
        except OSError:
            continue
    return False
