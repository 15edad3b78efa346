"""A task's log path without tmux: this process appends to the spool (as a pane's `cat`
does) while the real collector runs as a process of its own."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from taskmux.logs import layout
from taskmux.logs import spool as logspool
from taskmux.runtime.timing import wait_until


def collector_alive(root: Path) -> int | None:
    """The pid of the collector holding `root`'s lock, if one does."""
    pid = logspool.collector_pid(root)
    return pid if pid is not None and pid > 0 else None


def stop_collector(root: Path) -> None:
    """SIGKILL the collector of `root` if one still runs (a test's cleanup)."""
    pid = collector_alive(root)
    if pid is None:
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"collector.py" not in handle.read():
                return  # not ours after all (the lock said otherwise a moment ago)
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return
    wait_until(lambda: collector_alive(root) != pid, 10, interval=0.01)  # the lock goes with it


class Feed:
    """One task's spool in the state folder `root`, written by this process, collected
    by a real collector process into `root/logs/TASK.log`."""

    def __init__(
        self,
        root: Path,
        task: str,
        max_bytes: int = 10 << 20,
        backups: int = 3,
        start: bool = True,
        grace: float | None = None,
    ) -> None:
        self.root = root
        self.grace = grace  # the collector's, when it has no writer (None: its own)
        self.task = task
        self.layout = layout.Layout(str(root))
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
        conf = layout.open_private(self.layout.settings, os.O_WRONLY | os.O_TRUNC | os.O_CREAT)
        os.write(conf, f"{max_bytes} {backups}\n".encode())
        os.close(conf)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        layout.make_folder(self.layout.spool_dir)
        self.fd = layout.open_private(self.layout.spool(task), flags)
        if start:
            self.start()

    def start(self) -> None:
        logspool.spawn(self.root, self.grace)
        started = wait_until(lambda: collector_alive(self.root), 10, interval=0.01)
        assert started, "the collector did not start"

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def caught_up(self) -> bool:
        return not logspool.pending(self.root, [self.task])

    def wait_caught_up(self, timeout: float = 30) -> None:
        assert wait_until(self.caught_up, timeout, interval=0.01), "the collector did not catch up"

    def close(self) -> None:
        """The writer goes (as when a pane's window closes)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        stop_collector(self.root)
