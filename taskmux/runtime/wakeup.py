"""Pokes to a project's supervisor: "a task was just launched, look again".

A supervisor learns of deaths from the kernel (`exitwatch.py`), but a task launched by
another process (`taskmux start api`, `restart`, the daemon's API) is a new process it
does not know yet. The launching process sends one datagram to a Linux abstract socket
named after the user and the state folder; the supervisor, bound to that name, looks at
tmux again at once and starts watching the new process.

The name has no file and no permissions, so the receiver asks the kernel who sent each
datagram (SO_PASSCRED) and counts only those of its own uid: another user can neither
fake a wake-up nor learn anything from one. A poke to nobody is dropped at once (the
send fails); a poke costs about 20 µs. Without abstract names (not Linux) there are no
pokes and the supervisor's sweep catches up instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import struct
import sys
from pathlib import Path

ABSTRACT_NAMES = sys.platform.startswith("linux")
_CREDENTIALS = struct.calcsize("3i")  # struct ucred: pid, uid, gid


def wake_name(state_folder: Path) -> bytes:
    """The abstract socket name a state folder's supervisor listens on for pokes."""
    digest = hashlib.sha256(str(state_folder.absolute()).encode()).hexdigest()[:32]
    return f"\0taskmux/wake/{os.geteuid()}/{digest}".encode()


def poke(state_folder: Path) -> bool:
    """Tell the project's supervisor, if one runs, to look again; whether one heard it."""
    if not ABSTRACT_NAMES:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(b"w", wake_name(state_folder))
    except OSError:  # nobody listens, or its queue is full (it will look anyway)
        return False
    return True


class Listener:
    """The supervisor's end: a datagram socket bound to the project's wake name."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def bind(cls, state_folder: Path) -> Listener | None:
        """Listen for pokes; None where that is impossible (not Linux, name taken)."""
        if not ABSTRACT_NAMES:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            sock.bind(wake_name(state_folder))
        except OSError:  # taken: a squatter, or a supervisor of an older claim
            sock.close()
            return None
        sock.setblocking(False)
        return cls(sock)

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self) -> bool:
        """Read every waiting poke; whether one came from this user."""
        ours = False
        uid = os.geteuid()
        while True:
            try:
                _data, ancillary, _flags, _address = self.sock.recvmsg(
                    16, socket.CMSG_SPACE(_CREDENTIALS)
                )
            except (BlockingIOError, InterruptedError):
                return ours
            except OSError:
                return ours
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    _pid, sender, _gid = struct.unpack("3i", payload[:_CREDENTIALS])
                    ours = ours or sender == uid

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
