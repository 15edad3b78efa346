"""What a task was launched with, as one digest: how `ensure` tells a current task from
a stale one.

The digest covers what a reload would restart a task for (every key of its table but
those applied in place, `config.reload.IN_PLACE_KEYS`, plus the top-level `env` and
`env_file`) and the bytes of every env file it reads. Only the SHA-256 is written, in
the state folder (`launched/TASK`, 0600) at each launch, so secrets in `env` tables or
env files never reach it in clear. A launch by a taskmux that wrote no digest leaves
none: such a task counts as current (nothing to compare with).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from taskmux.config.project import Project
from taskmux.config.reload import IN_PLACE_KEYS
from taskmux.config.taskenv import env_file_path
from taskmux.statedir.files import ensure_private_dir, read_trusted, write_private

FOLDER = "launched"


def digest(project: Project, name: str) -> str:
    """The task's definition as it is in `project` now (env files read as they are now)."""
    config = project.config
    task = config.tasks[name]
    table = {k: v for k, v in dataclasses.asdict(task).items() if k not in IN_PLACE_KEYS}
    shared = {"env": dict(config.env), "env_file": config.env_files}
    text = json.dumps([table, shared], sort_keys=True, default=str)
    hasher = hashlib.sha256(text.encode())
    for entry in [*config.env_files, *task.env_files]:
        path, _optional = env_file_path(project.root, entry)
        try:
            hasher.update(b"\0file\0" + path.read_bytes())
        except OSError:
            hasher.update(b"\0missing\0")
    return hasher.hexdigest()


def record_path(state_root: Path, name: str) -> Path:
    return state_root / FOLDER / name


def record(project: Project, name: str) -> None:
    """Write the digest of the definition a launch of `name` is about to run."""
    folder = project.paths.root / FOLDER
    ensure_private_dir(folder)
    write_private(record_path(project.paths.root, name), digest(project, name).encode())


def recorded(state_root: Path, name: str) -> str | None:
    """The digest the task's last launch wrote (None: none written)."""
    raw = read_trusted(record_path(state_root, name))
    return raw.decode("ascii", "replace").strip() if raw else None
