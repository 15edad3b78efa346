"""The daemon's record on disk: its state file (who runs, where) and its token file.

Everything a client or `daemon status`/`daemon stop` needs about a running daemon, read
without starting one: the state file names the pid, the port and the token file; a pid
is trusted only while it is the same live process of ours, and a token file only while
it is private. No WebSockets, no service: cheap to import.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.errors import DaemonNotRunning, UnsafeStateFolder
from taskmux.runtime.timing import wait_until
from taskmux.statedir.files import file_problem, open_read, read_trusted
from taskmux.statedir.paths import ProjectPaths

if TYPE_CHECKING:
    import psutil

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class DaemonInfo:
    """What the state file says about a running daemon: enough for a script to connect."""

    pid: int
    port: int
    token_file: str
    log_file: str
    config: str
    started: float
    ui_port: int | None = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{HOST}:{self.ui_port}/" if self.ui_port else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "ui_port": self.ui_port,
            "ui_url": self.ui_url,
            "token_file": self.token_file,
            "log_file": self.log_file,
            "config": self.config,
            "started": self.started,
        }


def read_state(paths: ProjectPaths) -> DaemonInfo | None:
    """The state file's record, whether or not its daemon still runs.

    `daemon stop` signals the pid it names, so a file that is not ours alone (a symlink,
    another user's, group/other-writable) is ignored, as if absent.
    """
    raw = read_trusted(paths.daemon_state)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return DaemonInfo(
            int(data["pid"]),
            int(data["port"]),
            str(data["token_file"]),
            str(data.get("log_file", "")),
            str(data.get("config", "")),
            float(data["started"]),
            int(data["ui_port"]) if data.get("ui_port") else None,
        )
    except (ValueError, KeyError, TypeError):
        return None


def is_alive(info: DaemonInfo) -> bool:
    """The recorded pid runs, is ours, and is the same process (not a later one given the
    same pid)."""
    import psutil

    try:
        process = psutil.Process(info.pid)
        same = process.create_time() <= info.started + 1.0
        ours = process.uids().effective == os.geteuid()
        return same and ours and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def running_daemon(paths: ProjectPaths, check_token: bool = True) -> DaemonInfo:
    """The project's live daemon, or DaemonNotRunning (also for a stale state file).

    With `check_token`, a token file that is not ours alone (0600, a regular file, no
    symlink) is refused (E801): a client must not send, or trust, a token others can
    read or write. Stopping the daemon does not need the token.
    """
    info = read_state(paths)
    if info is None:
        raise DaemonNotRunning("no daemon is running for this project")
    if not is_alive(info):
        raise DaemonNotRunning(
            f"no daemon is running for this project (stale state file of pid {info.pid})"
        )
    if check_token:
        check_token_file(paths.daemon_token)
    return info


def check_token_file(path: Path) -> None:
    """Refuse (E801) a token file that is not a private (0600) regular file of ours."""
    try:
        fd = open_read(path)
    except OSError as exc:
        raise UnsafeStateFolder(
            f"the daemon's token file {path} cannot be opened safely ({exc.strerror}): "
            "stop the daemon and start it again (it writes a new token)"
        ) from None
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    problem = file_problem(info)
    if problem is None and stat.S_IMODE(info.st_mode) & 0o077:
        problem = f"is readable by others (mode {stat.S_IMODE(info.st_mode):04o})"
    if problem is not None:
        raise UnsafeStateFolder(
            f"the daemon's token file {path} {problem}: stop the daemon, remove the "
            "file and start the daemon again (it writes a new token)"
        )


def stop_daemon(paths: ProjectPaths, timeout: float = STOP_TIMEOUT) -> tuple[DaemonInfo, bool]:
    """SIGTERM the daemon, wait up to `timeout`, then SIGKILL; return (info, was forced)."""
    import psutil

    info = running_daemon(paths, check_token=False)
    try:
        process = psutil.Process(info.pid)
        process.terminate()
        if _wait_gone(process, timeout):
            return info, False
        process.kill()
        _wait_gone(process, 5.0)
    except psutil.NoSuchProcess:
        return info, False
    for leftover in (paths.daemon_state, paths.daemon_token):  # it could not clean up
        leftover.unlink(missing_ok=True)
    return info, True


def _wait_gone(process: psutil.Process, timeout: float) -> bool:
    """Whether the process ended within `timeout`."""
    return wait_until(lambda: _is_gone(process), timeout) is not None


def _is_gone(process: psutil.Process) -> bool:
    """Ended: no such process, or a zombie (only its parent can reap it, and that parent
    need not be us)."""
    import psutil

    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
