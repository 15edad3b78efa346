"""A wait for "one of these files changed" that costs nothing while nothing does.

Followers of files that other processes append to (the event log under the daemon,
`start -m` and `events -f`) used to look every 0.1 to 0.2 s: a few hundred wake-ups a
minute each, for nothing, on an idle machine. Linux's inotify (through ctypes: three
libc calls) tells when a name in a folder was written, created, moved or removed; the
follower sleeps in `select` until then. Where inotify is missing (not Linux, no libc,
out of watches) `Changes.open` returns None and the caller keeps polling.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import sys
from pathlib import Path

_MODIFY = 0x002
_CLOSE_WRITE = 0x008
_MOVED_FROM = 0x040
_MOVED_TO = 0x080
_CREATE = 0x100
_DELETE = 0x200
_OVERFLOW = 0x4000
_MASK = _MODIFY | _CLOSE_WRITE | _MOVED_FROM | _MOVED_TO | _CREATE | _DELETE
_NONBLOCK = os.O_NONBLOCK
_CLOEXEC = 0o2000000
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (then `len` bytes of name)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1  # noqa: B018 - present in every glibc/musl since 2008
    except (OSError, AttributeError):
        return None
    return libc


class Changes:
    """An inotify handle on one folder, reporting changes to the names asked about."""

    def __init__(self, fd: int, names: frozenset[str]) -> None:
        self.fd = fd
        self.names = names

    @classmethod
    def open(cls, folder: Path, names: set[str] | frozenset[str]) -> Changes | None:
        """Watch `names` (file names inside `folder`); None if inotify cannot be used."""
        libc = _libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(_NONBLOCK | _CLOEXEC)
        if fd < 0:
            return None
        if libc.inotify_add_watch(fd, os.fsencode(folder), _MASK) < 0:
            os.close(fd)
            return None
        return cls(fd, frozenset(names))

    def wait(self, timeout: float) -> bool:
        """Sleep until a watched name changes or `timeout` passes; whether one changed."""
        try:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return True  # closed under us: let the caller look
        return bool(ready) and self._drain()

    def _drain(self) -> bool:
        changed = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return changed
            except OSError:
                return True
            if not data:
                return changed
            offset = 0
            while offset + _HEADER.size <= len(data):
                _wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                name = data[start : start + length].rstrip(b"\0").decode(errors="replace")
                offset = start + length
                changed = changed or bool(mask & _OVERFLOW) or name in self.names

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
