"""The Linux calls the standard library lacks, through the C library: inotify, hole punching.

Standard library only: the collector (started by path, `python -I -S`) imports it, and so
do readers that sleep until a file changes. `ctypes` is loaded on first use.
"""

import math
import os
import select
import struct

TYPE_CHECKING = False  # `typing` costs an import on a reader's path; mypy reads this
if TYPE_CHECKING:
    import ctypes

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
WATCH = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE
_EVENT = struct.Struct("iIII")
_FALLOC_FL_KEEP_SIZE = 0x1
_FALLOC_FL_PUNCH_HOLE = 0x2

_LIBC: list["ctypes.CDLL"] = []


def _libc() -> "ctypes.CDLL":
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


class Inotify:
    """A watch on one folder through the C library (no third-party package)."""

    def __init__(self, folder: str, events: int = WATCH) -> None:
        self.fd = _libc().inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(_errno(), "inotify_init1")
        self.wd = _libc().inotify_add_watch(self.fd, os.fsencode(folder), events)
        if self.wd < 0:
            error = OSError(_errno(), "inotify_add_watch", folder)
            os.close(self.fd)
            raise error
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)

    def close(self) -> None:
        """Closing waits for the kernel to retire the instance (milliseconds, up to tens):
        a caller that watches again and again keeps one and moves its watch instead."""
        os.close(self.fd)

    def unwatch(self) -> None:
        """Stop watching the folder (cheap, unlike `close`); `rewatch` starts again."""
        if self.wd >= 0:
            _libc().inotify_rm_watch(self.fd, self.wd)
            self.wd = -1
        self.wait(0)  # what came before (and the removal's own event) is not news later

    def rewatch(self, folder: str, events: int = WATCH) -> bool:
        """Watch `folder` (after `unwatch`); False if it cannot be watched."""
        wd: int = _libc().inotify_add_watch(self.fd, os.fsencode(folder), events)
        self.wd = wd
        return wd >= 0

    def wake_on(self, fd: int) -> None:
        """Let `fd` becoming readable end a `wait` too (e.g. a `StopFlag` being set)."""
        self.poller.register(fd, select.POLLIN)

    def wait(self, timeout: float | None) -> int | None:
        """The union of the event masks that arrive within `timeout` (None: forever);
        None if none did."""
        ms = None if timeout is None else max(0, math.ceil(timeout * 1000))  # never early
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


def watch(folder: str, events: int = WATCH) -> Inotify | None:
    """A watch on `folder`, or None where there is none (not Linux, out of watches, no
    folder): the caller then looks again on its own clock."""
    try:
        return Inotify(folder, events)
    except (OSError, AttributeError):
        return None
