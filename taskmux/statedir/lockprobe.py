"""Whether a lock file is held, looked at without holding it: cheap enough for the lean
read path (`lifecycle/readmodel.py`), which must not pay for `filelock`'s imports.

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
