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
- The question a task's waiting shell asks tmux when the task has ended (`ESC [5n`, see
  `runtime/taskcmd.py`) is removed: it is not the task's output.
- A line is stamped when the collector reads it (milliseconds after it was written); bytes
  that waited longer (no collector ran) get the spool's last write time instead.
- It tells the project's supervisor, if one runs, that it started (a poke on the wake-up
  socket), so the supervisor watches its process: one killed is started again at once.
- It exits once no spool has a writer (a read lease can be taken only on a file nobody has
  open for writing) and nothing happened for `GRACE` seconds (or the grace given as its
  second argument: tests pass a short one). The panes' `cat`s close their spool when
  their window goes, which is the event that starts that check.
  Launchers touch the spool before they look for a collector (see `spool.py`), so a
  collector about to exit sees the launch and stays.

Run as `python -I -S collector.py STATE [GRACE]` (standard library only, so it starts in
a few milliseconds; its helpers are `layout.py`, `logwriter.py` and `linux.py`, it
pokes through `statedir/wakesock.py`, and reports a crashed predecessor through
`events.py`); its settings are in `STATE/collector.conf`
(`MAX_BYTES BACKUPS`), re-read whenever a launch touches a spool. State files follow the
rules of `statedir/files.py` (restated in `layout.py`, since the collector imports no
more of taskmux than that): folders 0700 and ours, files 0600, never following a symlink.
"""

import fcntl
import os
import sys
import time

if not __package__:  # started by path (`python -I -S collector.py STATE`): find the package
    sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from taskmux.logs.layout import (
    MARK_BYTES,
    Layout,
    make_folder,
    open_private,
    parse_log_mark,
    parse_read_mark,
)
from taskmux.logs.linux import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Inotify,
    punch_hole,
)
from taskmux.logs.logwriter import LogWriter

TYPE_CHECKING = False  # `typing` costs an import at the collector's start; mypy reads this
if TYPE_CHECKING:
    import signal as _signal
else:  # `signal` itself loads `enum` (a third of the start-up): the same calls, plain ints
    import _signal

GRACE = 1.0  # seconds without writers and events before the collector exits
BATCH = 1 << 20  # bytes read from one spool at a time
PUNCH_STEP = 1 << 20  # reclaim the consumed prefix once this much more of it is freeable
CATCH_UP_AGE = 1.0  # bytes older than this get the spool's write time, not "now"
_FDS_PER_SPOOL = 3  # the spool, its read mark, its log
_SPARE_FDS = 32  # the lock, the watch, the brief opens of `open_private`
ACQUIRE_TRIES = 10  # 5 ms apart: outlasts a probe of the lock, not a running collector
_BLOCK = 4096
STATUS_QUERY = b"\x1b[5n"  # written by a task's waiting shell after the task (taskcmd.py)


def _query_head(chunk: bytes) -> int:
    """How many bytes at the end of `chunk` begin STATUS_QUERY (0: none)."""
    for size in range(len(STATUS_QUERY) - 1, 0, -1):
        if chunk.endswith(STATUS_QUERY[:size]):
            return size
    return 0


_WAKE = IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE  # a writer may come or go


# Pure decisions ----------------------------------------------------------------------


def line_time(now: float, written: float) -> float:
    """When the bytes read now were written, as well as we know: now, unless they waited
    in the spool (no collector ran), then the spool's last write time."""
    return written if now - written > CATCH_UP_AGE else now


def punch_end(offset: int, punched: int, step: int = PUNCH_STEP) -> int:
    """Where the freed prefix of a spool read up to `offset` should end (block aligned);
    `punched` if not yet worth a call."""
    end = offset - offset % _BLOCK
    return end if end - punched >= step else punched


# One spool ---------------------------------------------------------------------------


class Spool:
    """One task's spool as the collector reads it: the spool, its read mark, its log."""

    def __init__(self, layout: Layout, task: str, max_bytes: int, backups: int) -> None:
        self.task = task
        self.path = layout.spool(task)
        self.fd = open_private(self.path, os.O_RDONLY)  # made by the launch, never by us
        make_folder(os.path.dirname(layout.read_mark(task)))
        self.mark_fd = open_private(layout.read_mark(task), os.O_RDWR | os.O_CREAT)
        self.inode = os.fstat(self.fd).st_ino
        mark = os.pread(self.mark_fd, MARK_BYTES, 0)
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
        if info.st_size > self.offset + len(chunk):  # more follows: a query cut by the
            chunk = chunk[: len(chunk) - _query_head(chunk)]  # batch is read whole next time
        output = chunk.replace(STATUS_QUERY, b"")
        if output and not self.writer.write(output, line_time(now, info.st_mtime)):
            return False  # the log cannot be written now: the bytes stay in the spool
        self.offset += len(chunk)
        writer = self.writer
        record = b"%d %d %d %d\n" % (self.inode, self.offset, writer.inode, writer.size)
        os.pwrite(self.mark_fd, record.ljust(MARK_BYTES), 0)
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
            fcntl.fcntl(self.fd, fcntl.F_SETSIG, _signal.SIGURG)
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

    def __init__(self, layout: Layout, lift_limit: bool = False) -> None:
        self.layout = layout
        self.spools: dict[str, Spool] = {}
        self.lock_fd = -1
        self.settings = layout.read_settings()
        # The collector process lifts its descriptor limit once it needs to; a reader
        # collecting in its own process (`collect_once`) leaves its limit alone.
        self.fd_limit = os.sysconf("SC_OPEN_MAX") if lift_limit else -1

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
        previous = os.pread(fd, 32, 0).strip()  # a pid left here: its holder crashed
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        self.lock_fd = fd
        if previous.isdigit() and int(previous) != os.getpid():
            report_crash(self.layout.root, int(previous))
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
        if 0 <= self.fd_limit < _FDS_PER_SPOOL * len(names) + _SPARE_FDS:
            _raise_file_limit()
            self.fd_limit = -1  # lifted as far as it goes: not asked again
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


def report_crash(root: str, previous: int) -> None:
    """The `collector_restarted` event: a collector died holding the lock (its pid stays
    written in it; one that exits empties it). Whoever takes the lock from it reports it,
    once, as they empty the file: a launch, a read, the supervisor, or a collector started
    meanwhile that took the lock first. The event log is not the collector's job: should
    writing it fail, collecting goes on."""
    try:
        from pathlib import Path

        from taskmux.logs.events import EventLog  # the standard library's `json`, no more

        EventLog(Path(root) / "events.jsonl").append(
            "collector_restarted", None, previous_pid=previous
        )
    except Exception:  # noqa: BLE001  (a full disk, a removed state folder: logs come first)
        pass


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


def run(root: str, grace: float = GRACE) -> int:
    """Collect until the project's panes are all gone and `grace` seconds passed with
    nothing new (see the module's docstring)."""
    layout = Layout(root)
    _signal.signal(_signal.SIGIO, _signal.SIG_IGN)  # sent if a writer opens while we hold a lease
    if not os.path.isdir(layout.spool_dir):
        return 0  # nothing to collect (or the state folder was removed)
    collector = Collector(layout, lift_limit=True)
    if not collector.acquire():
        return 0  # another collector runs
    _tell_supervisor(layout)
    watch = Inotify(layout.spool_dir)
    collector.refresh()
    collector.drain()
    check_at: float | None = time.monotonic() + grace
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
                check_at = time.monotonic() + grace
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
        check_at = time.monotonic() + grace


def _tell_supervisor(layout: Layout) -> None:
    """Poke the project's supervisor, if one runs, so it watches this process from now
    on: a `kill -9` then wakes it at once, and it starts another collector (a collector
    a launch started may not hold the lock yet when the launch's own poke is read)."""
    from taskmux.statedir.wakesock import poke  # standard library only, and light

    poke(layout.root, b"c")


def _reacquire(collector: Collector) -> bool:
    """Take the lock back, allowing for a launcher's brief probe of it."""
    for _attempt in range(10):
        if collector.acquire():
            return True
        time.sleep(0.01)
    return False


def _raise_file_limit() -> None:
    """Lift the soft descriptor limit to the hard one. Only once there are tasks enough
    to need it: `resource` would be one more import at every collector's start."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_grace(text: str) -> float | None:
    """A grace given on the command line: seconds, positive and finite; None if not."""
    try:
        grace = float(text)
    except ValueError:
        return None
    return grace if 0 < grace < float("inf") else None


def main(argv: list[str]) -> int:
    grace = parse_grace(argv[2]) if len(argv) == 3 else GRACE
    if len(argv) not in (2, 3) or grace is None:
        print("usage: collector.py STATE_FOLDER [GRACE_SECONDS]", file=sys.stderr)
        return 2
    try:
        return run(argv[1], grace)
    except FileNotFoundError:
        return 0  # the state folder was removed: nothing left to collect into


if __name__ == "__main__":
    sys.exit(main(sys.argv))
