"""The supervisor's wake-up socket: `wake.sock` in the project's 0700 state folder.

Standard library only: the collector (started by path, `python -I -S`) pokes through it
too. The listening end is `runtime/wakeup.py`, which says why the socket is a file here.
"""

from __future__ import annotations

import contextlib
import os
import socket

TYPE_CHECKING = False  # `typing` costs an import on the collector's path; mypy reads this
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SOCKET_NAME = "wake.sock"
_ADDRESS_LIMIT = 107  # sun_path holds 108 bytes with the closing NUL


@contextlib.contextmanager
def address(state_folder: Path | str) -> Iterator[str]:
    """The socket's address: its path, or, for a path too long for a socket address, a
    short one through a descriptor of the folder (`/proc/self/fd/N/wake.sock`)."""
    path = os.path.join(state_folder, SOCKET_NAME)
    if len(os.fsencode(path)) <= _ADDRESS_LIMIT:
        yield path
        return
    folder = os.open(state_folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{folder}/{SOCKET_NAME}"
    finally:
        os.close(folder)


def poke(state_folder: Path | str, what: bytes = b"w") -> bool:
    """Tell the project's supervisor, if one runs, to look again; whether one heard it."""
    try:
        with (
            address(state_folder) as where,
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
        ):
            sock.setblocking(False)
            sock.sendto(what, where)
    except (OSError, AttributeError):  # nobody listens, its queue is full (it will look
        return False  # anyway), or no O_PATH (not Linux) for a long path
    return True
