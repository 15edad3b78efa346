"""Pokes to a project's supervisor: "a task was just launched, look again".

A supervisor learns of deaths from the kernel (`exitwatch.py`), but a task launched by
another process (`taskmux start api`, `restart`, the daemon's API) is a new process it
does not know yet. The launching process sends one datagram to `wake.sock`, a unix
socket file in the project's state folder; the supervisor, bound to it, looks at tmux
again at once and starts watching the new process.

The socket lives in the 0700 state folder, so only its owner (and root) can reach it:
another local user's datagram is refused by the kernel before the supervisor wakes
(issue 23: a flood on the old abstract name cost the daemon 67 % of a core even though
each poke was then ignored). A poke to nobody is dropped at once (the send fails); a
poke costs about 20 µs. A state folder path too long for a socket address (108 bytes)
is reached through `/proc/self/fd/N/`; where that fails there are no pokes and the
supervisor's sweep catches up instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from taskmux.statedir.wakesock import SOCKET_NAME, Address, poke

__all__ = ["Listener", "poke"]


def _is_listened(where: str) -> bool:
    """Whether a live socket is bound at `where` (a dead supervisor leaves its file)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(where)
        except ConnectionRefusedError:
            return False
        except OSError:
            return True  # not a socket we may replace: leave it alone
    return True


class Listener:
    """The supervisor's end: a datagram socket bound to the state folder's `wake.sock`."""

    def __init__(self, sock: socket.socket, path: Path, inode: int) -> None:
        self.sock = sock
        self.path = path
        self._inode = inode

    @classmethod
    def bind(cls, state_folder: Path) -> Listener | None:
        """Listen for pokes; None where that is impossible (folder gone, one listens)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with Address(state_folder) as where:
                try:
                    sock.bind(where)
                except OSError:
                    # Only the supervision claim's holder binds, so a file left here is a
                    # dead supervisor's unless a live one still answers on it.
                    if _is_listened(where):
                        raise
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(where)
                    sock.bind(where)
                inode = os.stat(where).st_ino
        except (OSError, AttributeError):
            sock.close()
            return None
        sock.setblocking(False)
        return cls(sock, state_folder / SOCKET_NAME, inode)

    def fileno(self) -> int:
        return self.sock.fileno()

    def is_reachable(self) -> bool:
        """Whether pokes still reach this socket (its file was not removed or replaced)."""
        try:
            return os.stat(self.path).st_ino == self._inode
        except OSError:
            return False

    def drain(self) -> bool:
        """Read every waiting poke; whether there was one."""
        poked = False
        while True:
            try:
                self.sock.recv(16)
            except OSError:  # BlockingIOError once empty
                return poked
            poked = True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.is_reachable():  # ours still: free the name for the next supervisor
            with contextlib.suppress(OSError):
                os.unlink(self.path)
