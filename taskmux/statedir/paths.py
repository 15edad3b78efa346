"""Where taskmux keeps per-project state: logs, events, locks, the daemon's files.

Everything lives outside the project tree, under `$XDG_STATE_HOME/taskmux/` (default
`~/.local/state/taskmux/`), in one folder per config file. The state root and the
project's folder are created 0700 and refused (E801) unless they are ours alone; see
`files.py` for why and how.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from taskmux.statedir.files import ensure_private_dir, open_private

try:  # the builtin module: hashlib would first load OpenSSL (~2 ms on every command)
    from _sha1 import sha1 as _sha1  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import sha1 as _sha1


def state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "taskmux"


@dataclass(frozen=True)
class ProjectPaths:
    """The files of one project's state folder (created on first use)."""

    root: Path

    @classmethod
    def for_config(cls, config_path: Path) -> ProjectPaths:
        resolved = config_path.resolve()
        digest = _sha1(str(resolved).encode()).hexdigest()[:10]
        folder = re.sub(r"[^A-Za-z0-9_.-]", "_", resolved.parent.name) or "root"
        return cls(state_root() / f"{folder}-{digest}")

    @property
    def marker_prefix(self) -> str:
        """What TASKMUX_MARKER holds before the task's name in every process of this
        project's tasks: the state folder's name, and 6 hex characters of where that
        folder lives. The name alone is the config's path, which two users can share
        (`/srv/app/taskmux.toml`, each with a state home of their own): root's `start`
        must never take the other user's processes for its own leftovers."""
        home = _sha1(str(self.root.parent).encode()).hexdigest()[:6]
        return f"{self.root.name}.{home}/"

    def marker(self, task: str) -> str:
        """The task's TASKMUX_MARKER value."""
        return self.marker_prefix + task

    @property
    def checkout_id(self) -> str:
        """4 hex characters fixed by the config's path: a second checkout's session suffix."""
        return self.root.name.rpartition("-")[2][:4]

    def ensure(self) -> ProjectPaths:
        """Create the state root and this folder (0700) if missing, and refuse (E801) either
        unless it is ours and private: two lstats on every use once they exist."""
        ensure_private_dir(self.root, levels=2)
        return self

    @property
    def config_lock(self) -> Path:
        return self.root / "config.lock"

    @property
    def supervisor_lock(self) -> Path:
        return self.root / "supervisor.lock"

    @property
    def supervisor_info(self) -> Path:
        """Who holds the supervisor lock (pid, kind, port); stale once the lock is free."""
        return self.supervisor_lock.with_suffix(".json")  # written by claim_supervision

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def daemon_state(self) -> Path:
        return self.root / "daemon.json"

    @property
    def daemon_token(self) -> Path:
        return self.root / "daemon.token"

    @property
    def daemon_log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def ui_sessions(self) -> Path:
        """The dashboard's browser sessions (hashed ids and expiries), kept across restarts."""
        return self.root / "dashboard-sessions.json"

    def log_file(self, task: str) -> Path:
        return self.root / "logs" / f"{task}.log"

    def health_lock(self, task: str) -> Path:
        """Held while a check reads the task's health streak and writes the next one."""
        return self.root / "locks" / f"{task}.health.lock"

    def task_lock(self, task: str) -> Path:
        """Held from a task's liveness check to its launch, and while marking it stopped."""
        return self.root / "locks" / f"{task}.lock"

    @property
    def stop_all_mark(self) -> Path:
        """Written by `stop` (all) before it ends the session, removed by the next launch:
        a supervisor that sees the session gone tells a stop from a loss by it."""
        return self.root / "session-ended"

    def killed_mark(self, task: str) -> Path:
        """Present while a task stays killed; outlives its window and even its session."""
        return self.root / "killed" / task

    def mark_killed(self, task: str) -> None:
        mark = self.killed_mark(task)
        ensure_private_dir(mark.parent)
        os.close(open_private(mark, os.O_WRONLY | os.O_CREAT, replace=True))

    def killed_tasks(self) -> frozenset[str]:
        try:
            return frozenset(os.listdir(self.root / "killed"))
        except FileNotFoundError:
            return frozenset()
