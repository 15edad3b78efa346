"""The project's log collector: each task's raw spool → its timestamped, rotated log file.

Every task pane is piped (tmux `pipe-pane`) into `exec cat >> STATE/spool/TASK`: one tiny
`cat` per pane that appends to a file, so it never blocks the task and keeps writing when
no taskmux process runs. One collector per project (held by `STATE/collector.lock`) turns
the spools into the log files readers know: `STATE/logs/TASK.log`, each line prefixed with
its UTC time in milliseconds (`YYYY-MM-DDTHH:MM:SS.mmmZ `), rotated at a line boundary once
the file reaches `log_max_size_mb` (FILE → FILE.1 → … → FILE.N; with 0 backups the file
is emptied instead).

How it stays lossless and cheap:
- It sleeps on inotify (the spool folder: a write, a close, a touch, a new spool): no
  timer, no CPU while the tasks are quiet.
- After writing a batch to the log, it records how far it read (`STATE/logs/TASK.read`:
  the spool's inode and offset, the log's inode and size). A crash before that record
  repeats the batch on the next start: some lines twice (and, if the crash cut a write,
  one line cut short) rather than any lost; the next collector then starts on a fresh
  line. Otherwise it goes on where the last one stopped, mid-line if it was.
- The consumed part of a spool is freed with `fallocate(PUNCH_HOLE)` a megabyte at a
  time: offsets stay valid for the appending `cat`, the disk blocks go. Where the file system cannot punch holes,
  nothing is reclaimed (the spool grows; nothing is lost).
- A line is stamped when the collector reads it (milliseconds after it was written); bytes
  that waited longer (no collector ran) get the spool's last write time instead.
- It exits once no spool has a writer (a read lease can be taken only on a file nobody has
  open for writing) and nothing happened for `GRACE` seconds. The panes' `cat`s close
  their spool when their window goes, which is the event that starts that check.
  Launchers touch the spool before they look for a collector (see `spool.py`), so a
  collector about to exit sees the launch and stays.

Run as `python -I -S collector.py STATE` (standard library only, so it starts in a few
milliseconds); its settings are in `STATE/collector.conf` (`MAX_BYTES BACKUPS`), re-read
whenever a launch touches a spool. State files follow the rules of `statedir/files.py`
(restated, since this file imports nothing of taskmux): folders 0700 and ours, files
0600, never following a symlink.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import stat
import struct
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

GRACE = 1.0  # seconds without writers and events before the collector exits
BATCH = 1 << 20  # bytes read from one spool at a time
PUNCH_STEP = 1 << 20  # reclaim the consumed prefix once this much more of it is freeable
CATCH_UP_AGE = 1.0  # bytes older than this get the spool's write time, not "now"
DEFAULT_MAX_BYTES = 10 << 20
DEFAULT_BACKUPS = 3
ACQUIRE_TRIES = 10  # 5 ms apart: outlasts a probe of the lock, not a running collector
# A line that never ends (a `\r` progress bar) is cut once the file is this much over.
_OVERSHOOT = 4
_BLOCK = 4096

# inotify (linux/inotify.h)
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_Q_OVERFLOW = 0x4000  # events were dropped: look at the folder again
IN_IGNORED = 0x8000
_WATCH = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE
_WAKE = IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE  # a writer may come or go
_EVENT = struct.Struct("iIII")
_FALLOC_FL_KEEP_SIZE = 0x1
_FALLOC_FL_PUNCH_HOLE = 0x2


# Pure decisions ----------------------------------------------------------------------


def stamp_prefix(now: float) -> bytes:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ ` for an epoch time (UTC)."""
    millis = int(now * 1000)
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)).encode()
    return head + b".%03dZ " % (millis % 1000)


def stamp_chunk(chunk: bytes, prefix: bytes, at_line_start: bool) -> tuple[bytes, bool]:
    """The chunk with `prefix` before each line that starts in it; and whether the next
    chunk starts a line."""
    body = chunk.replace(b"\n", b"\n" + prefix)
    if at_line_start:
        body = prefix + body
    ends_line = chunk.endswith(b"\n")
    if ends_line:
        body = body[: -len(prefix)]
    return body, ends_line


def split_point(
    body: bytes, size: int, max_bytes: int, starts_line: bool, overshoot: int = _OVERSHOOT
) -> int | None:
    """How much of `body` still goes to a file of `size` bytes before it rotates, so that
    files hold whole lines; -1: cut an endless line here; None: do not rotate yet."""
    if size + len(body) < max_bytes:
        return None
    room = max_bytes - size
    cut = body.rfind(b"\n", 0, max(room, 0)) + 1
    if cut:
        return cut
    if starts_line and size > 0:
        return 0  # rotate before this chunk
    cut = body.find(b"\n") + 1
    if cut:
        return cut  # the line under way alone overflows the file: it ends the file
    if not starts_line and size + len(body) >= max_bytes * overshoot:
        return -1
    return None


def line_time(now: float, written: float) -> float:
    """When the bytes read now were written, as well as we know: now, unless they waited
    in the spool (no collector ran), then the spool's last write time."""
    return written if now - written > CATCH_UP_AGE else now


def punch_end(offset: int, punched: int, step: int = PUNCH_STEP) -> int:
    """Where the freed prefix of a spool read up to `offset` should end (block aligned);
    `punched` if not yet worth a call."""
    end = offset - offset % _BLOCK
    return end if end - punched >= step else punched


def parse_read_mark(data: bytes) -> tuple[int, int]:
    """(spool inode, offset read) from a `.read` file; (0, 0) if it holds nothing valid."""
    try:
        inode, offset = data.split()[:2]
        return int(inode), int(offset)
    except ValueError:
        return 0, 0


def parse_log_mark(data: bytes) -> tuple[int, int]:
    """(log inode, log size) a `.read` file recorded after the batch; (0, -1) if none."""
    try:
        inode, size = data.split()[2:4]
        return int(inode), int(size)
    except ValueError:
        return 0, -1


def parse_settings(data: bytes) -> tuple[int, int]:
    """(max bytes, backups) from `collector.conf`; the defaults if it holds nothing valid."""
    try:
        max_bytes, backups = data.split()[:2]
        return max(int(max_bytes), 1), max(int(backups), 0)
    except ValueError:
        return DEFAULT_MAX_BYTES, DEFAULT_BACKUPS


# Files of the state folder -----------------------------------------------------------


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def make_folder(folder: str) -> None:
    """Create `folder` 0700 (whatever the umask) if missing, but never its parent: the
    state folder removed under a running collector stays removed (FileNotFoundError)."""
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        return
    os.chmod(folder, 0o700)


def open_private(path: str, flags: int = os.O_RDWR | os.O_APPEND | os.O_CREAT) -> int:
    """A file of ours (0600 if created) opened without trusting its name: its folder must
    be ours alone; a symlink or foreign file at the name is removed (never its target)."""
    folder, name = os.path.split(os.path.abspath(path))
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not _private(os.fstat(dir_fd)):
            raise PermissionError(errno.EACCES, "state folder is not ours alone", folder)
        for _attempt in range(3):
            mode = flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            try:
                fd = os.open(name, mode, 0o600, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                os.unlink(name, dir_fd=dir_fd)  # a planted symlink: the link goes, not its target
                continue
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and _private(info) and info.st_nlink == 1:
                return fd
            os.close(fd)
            os.unlink(name, dir_fd=dir_fd)  # not a file of ours alone: replaced by a fresh one
        raise PermissionError(errno.EACCES, "cannot make a private file", path)
    finally:
        os.close(dir_fd)


def rotate(path: str, backups: int) -> None:
    """FILE → FILE.1 → … → FILE.backups (names are renamed, never followed); tolerant of
    files removed meanwhile."""
    try:
        for index in range(backups - 1, 0, -1):
            older = f"{path}.{index}"
            if os.path.lexists(older):
                os.replace(older, f"{path}.{index + 1}")
        os.replace(path, f"{path}.1")
    except FileNotFoundError:
        pass


class Layout:
    """Where one project's log files live inside its state folder. (A plain class: the
    dataclasses module would add 2 MB to the collector's memory.)"""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root

    @property
    def spool_dir(self) -> str:
        return os.path.join(self.root, "spool")

    @property
    def lock(self) -> str:
        return os.path.join(self.root, "collector.lock")

    @property
    def settings(self) -> str:
        return os.path.join(self.root, "collector.conf")

    def spool(self, task: str) -> str:
        return os.path.join(self.root, "spool", task)

    def log(self, task: str) -> str:
        return os.path.join(self.root, "logs", f"{task}.log")

    def read_mark(self, task: str) -> str:
        return os.path.join(self.root, "logs", f"{task}.read")

    def spools(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.spool_dir) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def read_settings(self) -> tuple[int, int]:
        try:
            fd = os.open(self.settings, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return DEFAULT_MAX_BYTES, DEFAULT_BACKUPS
        try:
            if not _private(os.fstat(fd)):
                return DEFAULT_MAX_BYTES, DEFAULT_BACKUPS
            return parse_settings(os.read(fd, 256))
        finally:
            os.close(fd)


# The log file ------------------------------------------------------------------------


class LogWriter:
    """Appends stamped chunks to one task's log file, rotating it, and reopening it if it
    was removed or replaced (`logs --clear`)."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 1)
        self.backups = backups
        self.fd = -1
        self.inode = -1
        self.size = 0
        self.at_line_start = True
        self.checked = -1.0
        self.last_stamp = 0.0
        self.open()

    def open(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            make_folder(os.path.dirname(self.path))  # `logs/`, inside the state folder
            self.fd = open_private(self.path)
        except OSError:
            return  # retried on the next second; meanwhile the spool keeps the bytes
        info = os.fstat(self.fd)
        self.inode, self.size = info.st_ino, info.st_size
        self.at_line_start = True

    def resume(self) -> None:
        """Go on as the last collector left the file (mid-line if it was)."""
        if self.fd >= 0 and self.size:
            self.at_line_start = os.pread(self.fd, 1, self.size - 1) == b"\n"

    def end_line(self) -> None:
        """Before a new collector's first write: a file left mid-line (by a collector that
        died while writing, whose batch comes again) is ended there."""
        if self.fd >= 0 and self.size and os.pread(self.fd, 1, self.size - 1) != b"\n":
            self.put(b"\n")

    def check_file(self) -> None:
        """At most once a second: reopen if the file was deleted or replaced."""
        now = time.monotonic()
        if self.fd >= 0 and 0 <= now - self.checked < 1.0:
            return
        self.checked = now
        try:
            moved = os.lstat(self.path).st_ino != self.inode
        except OSError:
            moved = True
        if moved or self.fd < 0:
            self.open()

    def put(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return False  # disk full or similar: this batch is retried later
            view = view[written:]
        self.size += len(data)
        return True

    def write(self, chunk: bytes, now: float) -> bool:
        """Stamp and append `chunk`; False if it could not be written (retry it later).
        Stamps never go back within a file's lines (a clock step, a catch-up)."""
        self.check_file()
        if self.fd < 0:
            return False
        now = self.last_stamp = max(now, self.last_stamp)
        if os.fstat(self.fd).st_size == 0:
            self.at_line_start = True  # emptied (`logs --clear`): a fresh line
        prefix = stamp_prefix(now)
        starts_line = self.at_line_start
        body, ends_line = stamp_chunk(chunk, prefix, starts_line)
        while True:
            self.size = os.fstat(self.fd).st_size  # someone may have truncated the file
            cut = split_point(body, self.size, self.max_bytes, starts_line)
            if cut is None:
                break
            if cut < 0:  # an endless line (a `\r` progress bar): end it here
                if not self.put(b"\n"):
                    return False
                body = prefix + body
            else:
                if not self.put(body[:cut]):
                    return False
                body = body[cut:]
            if self.backups <= 0:
                os.ftruncate(self.fd, 0)  # the file we hold, not whatever the name holds now
            else:
                rotate(self.path, self.backups)
            self.open()
            if self.fd < 0:
                return False
            starts_line = True
        if not self.put(body):
            return False
        self.at_line_start = ends_line
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# One spool ---------------------------------------------------------------------------


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    """The C library, loaded on first use (readers that only compare offsets never do)."""
    import ctypes

    if not _LIBC:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        libc.fallocate.restype = ctypes.c_int
        _LIBC.append(libc)
    return _LIBC[0]


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def punch_hole(fd: int, start: int, end: int) -> bool:
    """Free the blocks of [start, end) keeping the file's size; False if unsupported."""
    mode = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
    result: int = _libc().fallocate(fd, mode, start, end - start)
    return result == 0


class Spool:
    """One task's spool as the collector reads it: the spool, its read mark, its log."""

    def __init__(self, layout: Layout, task: str, max_bytes: int, backups: int) -> None:
        self.task = task
        self.path = layout.spool(task)
        self.fd = open_private(self.path, os.O_RDONLY)  # made by the launch, never by us
        make_folder(os.path.dirname(layout.read_mark(task)))
        self.mark_fd = open_private(layout.read_mark(task), os.O_RDWR | os.O_CREAT)
        self.inode = os.fstat(self.fd).st_ino
        mark = os.pread(self.mark_fd, 96, 0)
        inode, offset = parse_read_mark(mark)
        if inode != self.inode or offset > os.fstat(self.fd).st_size:
            offset = 0
        if offset == 0:
            offset = _first_data(self.fd)  # a lost mark: skip what was already freed
        self.offset = offset
        self.punched = offset - offset % _BLOCK
        self.can_punch = True
        self.writer = LogWriter(layout.log(task), max_bytes, backups)
        if parse_log_mark(mark) == (self.writer.inode, self.writer.size):
            self.writer.resume()  # left as recorded: an unfinished line goes on
        else:
            self.writer.end_line()  # a batch was cut (it comes again): start on a fresh line

    def collect(self, now: float) -> bool:
        """Move one batch from the spool to the log; True if more is waiting."""
        info = os.fstat(self.fd)
        if info.st_size <= self.offset:
            return False
        chunk = os.pread(self.fd, BATCH, self.offset)
        if not chunk:
            return False
        if not self.writer.write(chunk, line_time(now, info.st_mtime)):
            return False  # the log cannot be written now: the bytes stay in the spool
        self.offset += len(chunk)
        writer = self.writer
        record = b"%d %d %d %d\n" % (self.inode, self.offset, writer.inode, writer.size)
        os.pwrite(self.mark_fd, record.ljust(96), 0)
        self._reclaim()
        return info.st_size > self.offset

    def _reclaim(self) -> None:
        """Free the consumed prefix. Through a descriptor of its own, opened for the call:
        a read lease (`has_writer`) is refused while any descriptor is open for writing."""
        end = punch_end(self.offset, self.punched)
        if end <= self.punched or not self.can_punch:
            return
        try:
            fd = open_private(self.path, os.O_WRONLY)
        except OSError:
            return
        try:
            self.can_punch = punch_hole(fd, self.punched, end)
        finally:
            os.close(fd)
        if self.can_punch:
            self.punched = end

    def has_writer(self) -> bool:
        """Whether any process has the spool open for writing (a pane's `cat`). A read
        lease is refused exactly then; where leases are unavailable, assume a writer.
        A writer opening while we hold it makes the kernel signal us: SIGURG, ignored
        unless handled (SIGIO would end a reader's process)."""
        try:
            fcntl.fcntl(self.fd, fcntl.F_SETSIG, signal.SIGURG)
            fcntl.fcntl(self.fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError:
            return True  # EAGAIN: a writer; anything else: leases unavailable here
        fcntl.fcntl(self.fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False

    def current(self) -> bool:
        """Whether the spool's name still holds the file we read."""
        try:
            return os.lstat(self.path).st_ino == self.inode
        except OSError:
            return False

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.mark_fd)
        self.writer.close()


def _first_data(fd: int) -> int:
    try:
        return os.lseek(fd, 0, os.SEEK_DATA)
    except OSError:  # ENXIO: no data at all (all freed, or empty)
        return os.fstat(fd).st_size


# The collector -----------------------------------------------------------------------


class Collector:
    """All spools of one project, collected while it holds the project's collector lock."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.spools: dict[str, Spool] = {}
        self.lock_fd = -1
        self.settings = layout.read_settings()

    def acquire(self) -> bool:
        """Take the collector lock (recording our pid in it); False if another has it."""
        fd = open_private(self.layout.lock, os.O_RDWR | os.O_CREAT)
        for attempt in range(ACQUIRE_TRIES):  # a probe (`logspool.collector_pid`) holds
            try:  # the lock for microseconds; a collector holds it for good
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if attempt == ACQUIRE_TRIES - 1:
                    os.close(fd)
                    return False
                time.sleep(0.005)
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        self.lock_fd = fd
        return True

    def release(self) -> None:
        if self.lock_fd >= 0:
            os.ftruncate(self.lock_fd, 0)
            os.close(self.lock_fd)  # closing the only descriptor drops the flock
            self.lock_fd = -1

    def refresh(self) -> None:
        """Open newly made spools, drop removed ones, pick up changed settings."""
        settings = self.layout.read_settings()
        if settings != self.settings:
            self.settings = settings
            for spool in self.spools.values():
                spool.writer.max_bytes, spool.writer.backups = settings
        names = set(self.layout.spools())
        for name in list(self.spools):
            if name not in names or not self.spools[name].current():
                self.spools.pop(name).close()  # removed, or replaced by a fresh spool
        for name in names - set(self.spools):
            try:
                self.spools[name] = Spool(self.layout, name, *self.settings)
            except OSError:
                continue  # not a file we trust, or gone meanwhile: looked at again later

    def drain(self) -> None:
        """Collect every spool until none has bytes waiting (round robin by batch)."""
        busy = list(self.spools.values())
        while busy:
            now = time.time()
            busy = [spool for spool in busy if spool.collect(now)]

    def has_writers(self) -> bool:
        return any(spool.has_writer() for spool in self.spools.values())

    def close(self) -> None:
        for spool in self.spools.values():
            spool.close()
        self.spools = {}
        self.release()


def collect_once(root: str) -> bool | None:
    """Collect every spool of the project now, in this process (a reader's fallback when
    no collector runs). None if a collector holds the lock; else whether any spool still
    has a writer (then a collector should run)."""
    collector = Collector(Layout(root))
    if not collector.acquire():
        return None
    try:
        collector.refresh()
        collector.drain()
        return collector.has_writers()
    finally:
        collector.close()


class Inotify:
    """A watch on one folder through the C library (no third-party package)."""

    def __init__(self, folder: str) -> None:
        self.fd = _libc().inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(_errno(), "inotify_init1")
        if _libc().inotify_add_watch(self.fd, os.fsencode(folder), _WATCH) < 0:
            error = OSError(_errno(), "inotify_add_watch", folder)
            os.close(self.fd)
            raise error
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)

    def close(self) -> None:
        os.close(self.fd)

    def wait(self, timeout: float | None) -> int | None:
        """The union of the event masks that arrive within `timeout` (None: forever);
        None if none did."""
        ms = None if timeout is None else max(0, int(timeout * 1000))
        if not self.poller.poll(ms):
            return None
        mask = 0
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return mask
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, event, _cookie, length = _EVENT.unpack_from(data, offset)
                mask |= event
                offset += _EVENT.size + length


def run(root: str) -> int:
    """Collect until the project's panes are all gone (see the module's docstring)."""
    layout = Layout(root)
    signal.signal(signal.SIGIO, signal.SIG_IGN)  # sent if a writer opens while we hold a lease
    _raise_file_limit()
    if not os.path.isdir(layout.spool_dir):
        return 0  # nothing to collect (or the state folder was removed)
    collector = Collector(layout)
    if not collector.acquire():
        return 0  # another collector runs
    watch = Inotify(layout.spool_dir)
    collector.refresh()
    collector.drain()
    check_at: float | None = time.monotonic() + GRACE
    while True:
        timeout = None if check_at is None else check_at - time.monotonic()
        mask = watch.wait(timeout)
        if mask is not None and mask & (IN_DELETE_SELF | IN_IGNORED):
            collector.close()  # the spool folder is gone (the state folder removed)
            return 0
        if mask is not None:
            if mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_ATTRIB | IN_Q_OVERFLOW):
                collector.refresh()
            collector.drain()
            if mask & _WAKE:
                check_at = time.monotonic() + GRACE
            continue
        if check_at is None or time.monotonic() < check_at:
            continue
        if collector.has_writers():
            check_at = None  # until a writer closes its spool
            continue
        collector.drain()
        collector.release()
        # A launch touches its spool before it looks for us: anything now is a new task.
        if watch.wait(0) is None or not _reacquire(collector):
            collector.close()
            return 0
        collector.refresh()
        collector.drain()
        check_at = time.monotonic() + GRACE


def _reacquire(collector: Collector) -> bool:
    """Take the lock back, allowing for a launcher's brief probe of it."""
    for _attempt in range(10):
        if collector.acquire():
            return True
        time.sleep(0.01)
    return False


def _raise_file_limit() -> None:
    """Three descriptors per task: lift the soft limit to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: collector.py STATE_FOLDER", file=sys.stderr)
        return 2
    try:
        return run(argv[1])
    except FileNotFoundError:
        return 0  # the state folder was removed: nothing left to collect into


if __name__ == "__main__":
    sys.exit(main(sys.argv))
