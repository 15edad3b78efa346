"""Whether a lock file is held, and whether the process it names runs, looked at without
holding it: cheap enough for the lean read path (`lifecycle/readmodel.py`), which must
not pay for `filelock`'s imports.

Standard library only.
"""

from __future__ import annotations

import fcntl
import os


def is_locked(path: str | os.PathLike[str]) -> bool:
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


def pid_alive(pid: int) -> bool:
    """Whether the process a lock file names still runs. A zombie does not (a holder its
    starter has not reaped yet, whose lock the kernel has already dropped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[:1] != [b"Z"]
    except OSError:
        if os.path.exists("/proc/self/stat"):
            return False  # no such process
    try:  # no /proc (macOS)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True
