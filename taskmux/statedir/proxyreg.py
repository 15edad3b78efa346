"""The per-user registry of projects the URL proxy serves (SPEC §14).

One proxy serves every taskmux project of a user: whoever holds the port's lock file
(`serve-PORT.lock`, flock) binds and serves; the others only register. The registry is a
private folder (`<state root>/proxy/`, 0700) with one small JSON file per checkout, named
by its state folder: the config's path, its state folder and the session in use. The
serving proxy reads it to route `TASK.SESSION.localhost`; an entry whose config is gone
is dropped by the reader. `start` (and every supervisor) registers its checkout;
`worktree remove`/`prune` unregister theirs.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from taskmux.statedir.files import ensure_private_dir, read_trusted, write_private
from taskmux.statedir.paths import state_root


@dataclass(frozen=True)
class Entry:
    """One registered checkout."""

    config: str  # the config file's path
    root: str  # its state folder
    session: str  # the tmux session it uses (`name` or `name-XXXX`)


def registry_dir() -> Path:
    return state_root() / "proxy"


def serve_lock(port: int) -> Path:
    """Held by the process that serves the proxy on `port`."""
    return registry_dir() / f"serve-{port}.lock"


def _entry_file(root: Path | str) -> Path:
    return registry_dir() / f"{Path(root).name}.json"


def register(config: Path, root: Path, session: str) -> None:
    """Add or refresh this checkout's entry (written only when it changes: `start` calls
    it every time)."""
    folder = registry_dir()
    ensure_private_dir(folder, levels=2)
    entry = {"config": str(config), "root": str(root), "session": session}
    text = json.dumps(entry, sort_keys=True)
    path = _entry_file(root)
    if read_trusted(path) != text.encode():
        write_private(path, text)


def unregister(root: Path | str) -> None:
    with contextlib.suppress(OSError):
        _entry_file(root).unlink()


def entries() -> list[Entry]:
    """Every registered checkout whose config file still exists (others are dropped)."""
    try:
        names = sorted(os.listdir(registry_dir()))
    except OSError:
        return []
    found = []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        raw = read_trusted(registry_dir() / name)
        try:
            data = json.loads(raw or b"")
            entry = Entry(str(data["config"]), str(data["root"]), str(data["session"]))
        except (ValueError, KeyError, TypeError):
            continue
        if os.path.isfile(entry.config):
            found.append(entry)
        else:
            unregister(entry.root)
    return found


def registry_stamp() -> int:
    """Changes when an entry is added, replaced or removed (the folder's mtime)."""
    try:
        return os.stat(registry_dir()).st_mtime_ns
    except OSError:
        return 0
