"""Feeding task panes to the project's log collector, making sure one runs, catching up.

A launch makes the task's spool (a private file in the state folder) and touches it,
pipes the pane into it with `exec cat >> SPOOL` (one `cat` per pane: about 0.15 MB, never
blocks the task, keeps appending with no taskmux process running), then starts the
collector (`collector.py`) unless one holds the project's lock. Readers call `catch_up`
first, so what is still in a spool is in the log files they read: they wait briefly for a
running collector, or, if none runs, collect it themselves and start one.

On the path of a lean `logs` read: imports only cheap standard-library modules and the
collector's own (standard library only); the state-folder checks of `statedir/` are
imported by the launch-side functions that need them.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import time

from taskmux.logs import collector
from taskmux.logs.layout import (
    MARK_BYTES,
    Layout,
    is_trusted,
    open_private,
    parse_read_mark,
    read_private,
)
from taskmux.logs.linux import IN_MODIFY, Inotify, watch
from taskmux.statedir.lockprobe import pid_alive

TYPE_CHECKING = False  # `typing` costs an import on a reader's path; mypy reads this
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterable
    from pathlib import Path

    from taskmux.statedir.paths import ProjectPaths

COLLECTOR = collector.__file__  # started by path: `python -I -S COLLECTOR STATE`
CATCH_UP_WAIT = 1.0  # how long a reader waits for a running collector to catch up
RECENT = 5.0  # a spool touched this recently may get its writer any moment
_NO_INOTIFY_PAUSE = 0.005  # where inotify is unavailable, how often a reader looks again
_spawned: list[subprocess.Popen[bytes]] = []
_spare: list[Inotify] = []  # one inotify instance kept between a reader's waits


def layout(root: Path | str) -> Layout:
    return Layout(str(root))


# Feeding (the launch's side) -------------------------------------------------------------


def pipe_command(paths: ProjectPaths, task: str) -> str:
    """What tmux pipes the pane into: an appending `cat`, replaced by nothing heavier."""
    import shlex

    return "exec cat >> " + shlex.quote(layout(paths.root).spool(task))


def configure(paths: ProjectPaths, max_bytes: int, backups: int) -> None:
    """Record the rotation settings the collector applies (read when a launch wakes it)."""
    from pathlib import Path

    from taskmux.statedir.files import ensure_private_dir, read_trusted, write_private

    data = f"{max_bytes} {backups}\n".encode()
    settings = Path(layout(paths.root).settings)
    if read_trusted(settings) != data:
        ensure_private_dir(paths.root)
        write_private(settings, data)


def prepare(paths: ProjectPaths, task: str) -> None:
    """Make the task's spool (0600, never through a symlink) before tmux's shell appends to
    it, and touch it: the touch wakes a collector about to exit (it then stays)."""
    from pathlib import Path

    from taskmux.statedir.files import ensure_private_dir
    from taskmux.statedir.files import open_private as open_checked

    spool = Path(layout(paths.root).spool(task))
    ensure_private_dir(spool.parent)
    fd = open_checked(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, replace=True)
    try:
        os.utime(fd)
    finally:
        os.close(fd)


def mark_run(paths: ProjectPaths, task: str) -> None:
    """Record where the run about to launch starts in the task's spool (its inode and
    size now, and when): a ready line rotated out of every kept log file before anyone
    looked is still found there (`run_output`)."""
    from pathlib import Path

    from taskmux.statedir.files import ensure_private_dir, write_private

    where = layout(paths.root)
    info = os.stat(where.spool(task))
    ensure_private_dir(Path(where.log_dir))
    record = f"{info.st_ino} {info.st_size} {time.time()!r}\n".encode()
    write_private(Path(where.run_start(task)), record)


def run_output(root: Path | str, task: str, run: float) -> list[bytes]:
    """The raw lines the run launched at `run` wrote to its spool and that are still there
    (a part the collector already freed reads as NULs and is left out); [] when the mark
    is not this run's (the run began before it, or the spool was replaced)."""
    where = layout(root)
    try:
        inode, offset, marked = read_private(where.run_start(task), MARK_BYTES).split()
        fd = open_private(where.spool(task), os.O_RDONLY)
    except (OSError, ValueError):
        return []
    try:
        # Every launch marks its run just before it (a wave's launch waits for its slowest
        # hook): a run that began before the mark is an older one, whose output it misses
        # (the run's time is kept to the millisecond: a millisecond of slack).
        if os.fstat(fd).st_ino != int(inode) or run + 0.001 < float(marked):
            return []
        chunks = []
        position = int(offset)
        while chunk := os.pread(fd, 1 << 20, position):
            chunks.append(chunk)
            position += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks).replace(collector.STATUS_QUERY, b"")  # not the task's output
    return [line.lstrip(b"\0") for line in data.split(b"\n") if line.strip(b"\0")]


def run_end(root: Path | str, task: str) -> int | None:
    """Where the run last launched ends in the task's spool, once all it printed is there:
    its last bytes are its waiting shell's question (`runtime/taskcmd.py`), which tmux
    hands to the pipe after every byte written before it. None until then, and for a run
    that ended otherwise (its window killed, or its waiting shell) or another spool."""
    where = layout(root)
    query = collector.STATUS_QUERY
    try:
        inode, offset = read_private(where.run_start(task), MARK_BYTES).split()[:2]
        fd = open_private(where.spool(task), os.O_RDONLY)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        start = info.st_size - len(query)
        if info.st_ino != int(inode) or start < int(offset):
            return None  # another spool, or the run wrote nothing yet (not even the question)
        return info.st_size if os.pread(fd, len(query), start) == query else None
    except ValueError:
        return None
    finally:
        os.close(fd)


def run_logged(root: Path | str, task: str, wait: float = CATCH_UP_WAIT) -> bool:
    """Whether the log files hold everything the task's last run printed: its end is in
    the spool (`run_end`) and, once caught up as a reader would (waiting at most `wait`
    for a running collector), the collector has read that far. False while either is
    not known yet."""
    end = run_end(root, task)
    if end is None:
        return False
    catch_up(root, [task], wait)
    where = layout(root)
    try:
        inode = os.stat(where.spool(task)).st_ino
    except OSError:
        return False
    return _read_offset(where, task, inode) >= end


def lost_pipes(root: Path | str, piped: dict[str, bool]) -> dict[str, str]:
    """Which of these panes' logging is lost, and why: tmux closed the pipe (its `cat`
    died: `pane_pipe` 0), or the spool it appends to was removed (the state folder was
    deleted: the `cat` writes on into a file nobody can read). `piped`: task → pane_pipe."""
    where = layout(root)
    lost: dict[str, str] = {}
    for task, is_piped in piped.items():
        if not is_piped:
            lost[task] = "pipe closed"
        elif not os.path.exists(where.spool(task)):
            lost[task] = "spool removed"
    return lost


LOST_MARK = b"[taskmux] output lost here: the log pipe had stopped (disk full?)\n"


def mark_lost(paths: ProjectPaths, task: str) -> bool:
    """Append the line that says output is missing here to the task's spool; False if it
    cannot be written (the disk is still full: the pipe is left for a later look)."""
    from pathlib import Path

    from taskmux.statedir.files import open_private as open_checked

    try:
        fd = open_checked(Path(layout(paths.root).spool(task)), os.O_WRONLY | os.O_APPEND)
    except OSError:
        return False
    try:
        return os.write(fd, LOST_MARK) == len(LOST_MARK)
    except OSError:  # ENOSPC
        return False
    finally:
        os.close(fd)


# The collector process -------------------------------------------------------------------


def collector_pid(root: Path | str) -> int | None:
    """The pid of the collector holding the project's lock, None if none does."""
    try:
        fd = _open_lock(layout(root).lock)
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


def _open_lock(path: str) -> int:
    """The lock file, opened only if it is a file of ours alone; else `statedir` refuses
    it (E801, naming the fix)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    else:
        if is_trusted(os.fstat(fd)):
            return fd
        os.close(fd)
    from pathlib import Path

    from taskmux.statedir.files import open_private as open_checked

    return open_checked(Path(path), os.O_RDWR)


def ensure_collector(root: Path) -> bool:
    """Start the project's collector unless one runs; True if one was started. One that
    died holding its lock is reported (`collector_restarted`)."""
    if collector_pid(root) is not None:
        return False
    previous = crashed_collector(root)
    spawn(root)
    if previous is not None:
        record_restart(root, previous)
    return True


def crashed_collector(root: Path | str) -> int | None:
    """The pid of a collector that died holding the lock (`kill -9`, the OOM killer): it
    stays written in the lock file, which a collector exiting cleanly empties. The caller
    that finds it empties it, so one crash is reported once; None if there was none (or
    a collector holds the lock)."""
    try:
        fd = _open_lock(layout(root).lock)
    except FileNotFoundError:
        return None
    try:
        if not _lock_unless_held(fd):
            return None  # a collector runs
        try:
            text = os.pread(fd, 32, 0).strip()
            if not text.isdigit():
                return None
            os.ftruncate(fd, 0)
            return int(text)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_unless_held(fd: int) -> bool:
    """Take the lock for good unless a collector holds it. A probe (`collector_pid`, a
    `status` in another shell) holds it for microseconds: while the pid written in it is
    dead, the lock is tried again for a while, or the crash would go unreported (the
    collector started next would write over the dead one's pid)."""
    for _ in range(collector.ACQUIRE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            text = os.pread(fd, 32, 0).strip()
            if not text.isdigit() or pid_alive(int(text)):
                return False  # a running collector (or one taking the lock right now)
            time.sleep(0.005)
    return False


def restart_crashed(root: Path | str) -> bool:
    """Start a collector in place of one that died holding the lock, and record it; False
    (and nothing done) if none did, or a collector runs."""
    previous = crashed_collector(root)
    if previous is None:
        return False
    spawn(root)
    record_restart(root, previous)
    return True


def record_restart(root: Path | str, previous: int) -> None:
    """The `collector_restarted` event, whoever found the crash (a launch, a read, the
    supervisor; a collector that takes the lock from a dead one reports it itself)."""
    collector.report_crash(str(root), previous)


def spawn(root: Path | str, grace: float | None = None) -> None:
    """Start a detached collector (it exits at once if another took the lock meanwhile).
    Its errors go to `collector.err` in the state folder. `grace`: how long it stays with
    no writer and nothing new (None: its own `collector.GRACE`; tests pass a short one)."""
    import subprocess  # not on a reader's path unless it has to start one

    global _spawned
    _spawned = [proc for proc in _spawned if proc.poll() is None]  # reap the exited ones
    err = open_private(os.path.join(root, "collector.err"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", COLLECTOR, str(root)]
            + ([] if grace is None else [repr(grace)]),
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


# Catching up (the reader's side) ---------------------------------------------------------


def _read_offset(where: Layout, task: str, inode: int) -> int:
    """How far the collector has read the spool `inode` of the task (0: not at all)."""
    marked_inode, offset = parse_read_mark(read_private(where.read_mark(task), MARK_BYTES))
    return offset if marked_inode == inode else 0


def pending(root: Path | str, tasks: Iterable[str]) -> dict[str, int]:
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


def catch_up(root: Path | str, tasks: Iterable[str], wait: float = CATCH_UP_WAIT) -> None:
    """Make what the tasks printed so far readable in their log files: if no collector
    runs, collect now (and start one for the writers still there); else wait up to `wait`
    seconds for it to read that far (past that, the rest comes when it does)."""
    tasks = list(tasks)
    targets = pending(root, tasks)
    if not targets:
        # Nothing waits now (the tasks are quiet, or the collector died right after its
        # last batch), yet its death is found here as on any other read.
        restart_crashed(root)
        return
    if collector_pid(root) is None:  # (a running one would hold the lock for good)
        previous = crashed_collector(root)
        writers = collector.collect_once(str(root))
        if writers is not None and (writers or previous or _recently_touched(root, tasks)):
            spawn(root)
        if previous is not None:
            record_restart(root, previous)
        if writers is not None:
            return
    if wait > 0:
        _wait_read(root, targets, wait)


def _wait_read(root: Path | str, targets: dict[str, int], seconds: float) -> None:
    """Sleep until the running collector has read each target, or `seconds` pass: woken
    by its writes in `logs/` (a batch, then its read mark), not by a clock."""
    changes = _watch_logs(layout(root).log_dir)
    deadline = time.monotonic() + seconds
    try:
        while not _read_up_to(root, targets):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if changes is not None:
                changes.wait(left)
            else:
                time.sleep(min(left, _NO_INOTIFY_PAUSE))
    finally:
        if changes is not None:
            _put_back(changes)


def _watch_logs(folder: str) -> Inotify | None:
    """A watch on `folder` for a reader's wait: the spare instance, moved there, if this
    process kept one (closing an instance costs milliseconds: every read would pay them)."""
    try:
        spare = _spare.pop()
    except IndexError:
        return watch(folder, IN_MODIFY)
    if spare.rewatch(folder, IN_MODIFY):
        return spare
    _spare.append(spare)
    return None  # no folder to watch (or no watch left): the caller looks on its own clock


def _put_back(changes: Inotify) -> None:
    """Keep one unwatched instance for the next wait (one a process: no instance is held
    per project, and no event queues up while nobody waits); close any other."""
    changes.unwatch()
    if _spare:
        changes.close()
    else:
        _spare.append(changes)


def _read_up_to(root: Path | str, targets: dict[str, int]) -> bool:
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


def _recently_touched(root: Path | str, tasks: Iterable[str]) -> bool:
    now = time.time()
    for task in tasks:
        try:
            if now - os.stat(layout(root).spool(task)).st_mtime < RECENT:
                return True
        except OSError:
            continue
    return False
