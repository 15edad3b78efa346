"""The supervisor's wake-up socket: `wake.sock` in the project's 0700 state folder.

Standard library only, and its lightest part: the collector (started by path,
`python -I -S`) pokes through it too, and `socket` or `contextlib` would double the
collector's start-up (`socket` loads `enum`), so this module uses `_socket` and a context
manager of its own. The listening end is `runtime/wakeup.py`, which says why the socket is
a file here.
"""

import os

TYPE_CHECKING = False  # `typing` costs an import on the collector's path; mypy reads this
if TYPE_CHECKING:
    from pathlib import Path

SOCKET_NAME = "wake.sock"
_ADDRESS_LIMIT = 107  # sun_path holds 108 bytes with the closing NUL


class Address:
    """`with Address(folder) as where`: the socket's address, its path or, for a path too
    long for a socket address, a short one through a descriptor of the folder
    (`/proc/self/fd/N/wake.sock`), closed on leaving."""

    def __init__(self, state_folder: "Path | str") -> None:
        self.state_folder = state_folder
        self.folder_fd = -1

    def __enter__(self) -> str:
        path = os.path.join(self.state_folder, SOCKET_NAME)
        if len(os.fsencode(path)) <= _ADDRESS_LIMIT:
            return path
        self.folder_fd = os.open(self.state_folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self.folder_fd}/{SOCKET_NAME}"

    def __exit__(self, *_exc: object) -> None:
        if self.folder_fd >= 0:
            os.close(self.folder_fd)
            self.folder_fd = -1


def poke(state_folder: "Path | str", what: bytes = b"w") -> bool:
    """Tell the project's supervisor, if one runs, to look again; whether one heard it."""
    import _socket

    try:
        with Address(state_folder) as where:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.sendto(what, where)
            finally:
                sock.close()
    except (OSError, AttributeError):  # nobody listens, its queue is full (it will look
        return False  # anyway), or no O_PATH (not Linux) for a long path
    return True
