"""The digest of a task's definition, and the record of it each launch leaves: standard
library only, so that `ensure`'s lean path (`ensure_lean.py`) computes exactly what the
service path (`definition.py`) computes.

The digest covers what a reload would restart a task for: its table as the validated
config holds it (`dataclasses.asdict` of its `TaskConfig`, which is also what the
config cache stores), without the keys applied in place (`config.reload.IN_PLACE_KEYS`),
plus the top level's `env` and `env_file`, plus the bytes of every env file it reads.
Only the SHA-256 is written (`launched/TASK` in the state folder, 0600): secrets in
`env` tables or env files never reach it in clear.
"""

from __future__ import annotations

import json
import os

from taskmux.config.cache import read_trusted

TYPE_CHECKING = False  # the lean path: no `typing`
if TYPE_CHECKING:
    from typing import Any

FOLDER = "launched"
IN_PLACE = frozenset({"watch", "watch_ignore", "watch_cmd"})  # config.reload.IN_PLACE_KEYS


def _sha256(data: bytes) -> Any:
    try:  # hashlib loads OpenSSL: the built-in module costs the lean path nothing
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - Python 3.12 names it _sha2
        from hashlib import sha256
    return sha256(data)


def env_file_paths(config_dir: str, entries: list[str]) -> list[str]:
    """The files `env_file` entries name (as `config.taskenv.env_file_path` finds them)."""
    return [
        os.path.join(config_dir, os.path.expanduser(e[1:] if e.startswith("?") else e))
        for e in entries
    ]


def digest(table: dict[str, Any], env: dict[str, str], env_file: Any, files: list[str]) -> str:
    """The definition's SHA-256: `table` is the task's plain table, `env` and `env_file`
    the top level's, `files` every env file the task reads (top level's first)."""
    kept = {k: v for k, v in table.items() if k not in IN_PLACE}
    text = json.dumps([kept, {"env": env, "env_file": env_file}], sort_keys=True, default=str)
    hasher = _sha256(text.encode())
    for path in files:
        try:
            with open(path, "rb") as handle:
                hasher.update(b"\0file\0" + handle.read())
        except OSError:
            hasher.update(b"\0missing\0")
    return str(hasher.hexdigest())


def as_list(env_file: Any) -> list[str]:
    """`env_file` as written (one path, a list, or none) as a list."""
    if env_file is None:
        return []
    return [env_file] if isinstance(env_file, str) else list(env_file)


def recorded(state_root: str, name: str) -> str | None:
    """The digest the task's last launch wrote (None: none written, an older taskmux)."""
    raw = read_trusted(os.path.join(state_root, FOLDER, name))
    return raw.decode("ascii", "replace").strip() or None if raw else None


def entry(
    action: str, reason: str, port: int | None, ready: bool | None, url: str | None = None
) -> dict[str, Any]:
    """One task of the `ensure` document, on both paths (`url`: its named URL, SPEC §14)."""
    return {"action": action, "reason": reason or None, "port": port, "url": url, "ready": ready}
