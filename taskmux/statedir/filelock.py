"""An exclusive advisory lock on a file (fcntl.flock), released by the kernel if we die.

Lock files live in the state folder: their folder is made (0700) and checked like every
state folder, and they are opened without following symlinks (statefiles.py).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from taskmux.statedir.files import ensure_private_dir, open_private


def _open(path: Path) -> int:
    ensure_private_dir(path.parent)
    return open_private(path, os.O_RDWR | os.O_CREAT)


@contextmanager
def locked(path: Path) -> Iterator[int]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block."""
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


@contextmanager
def locked_all(paths: list[Path]) -> Iterator[None]:
    """Hold several locks; taken in sorted order so two holders never deadlock."""
    with ExitStack() as stack:
        for path in sorted(set(paths)):
            stack.enter_context(locked(path))
        yield


def try_lock(path: Path) -> int | None:
    """Take an exclusive lock without waiting; return the open fd, or None if it is held.

    The caller keeps the fd open for as long as it wants the lock.
    """
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
