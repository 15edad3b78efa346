"""Looking at a lock without holding it: is it held, and does the process it names run."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

from harness import wait_until

from taskmux.statedir.lockprobe import is_locked, pid_alive


def test_a_lock_is_held_only_while_someone_holds_it(tmp_path: Path) -> None:
    lock = tmp_path / "some.lock"
    assert not is_locked(lock)  # a missing file is not held, and is not created
    assert not lock.exists()
    lock.touch()
    holder = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert is_locked(lock)
    finally:
        os.close(holder)
    assert not is_locked(lock)


def test_a_zombie_or_an_ended_process_does_not_run() -> None:
    """A zombie (ended, not reaped) holds no lock any more: it counts as ended."""
    assert pid_alive(os.getpid())
    child = subprocess.Popen(["true"])
    try:
        wait_until(lambda: not pid_alive(child.pid), timeout=10)  # a zombie until reaped
        assert os.path.exists(f"/proc/{child.pid}")  # (still there: a zombie)
    finally:
        child.wait()
    assert not pid_alive(child.pid)
