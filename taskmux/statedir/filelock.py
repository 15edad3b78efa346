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


def is_locked(path: Path | str) -> bool:
    """Whether someone holds the lock; creates nothing (a missing file is not held).

    It takes a shared lock for an instant, which never blocks another probe; a
    claimant racing it retries (see supervisor.claim_supervision).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
