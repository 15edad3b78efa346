"""The validated-config cache as the lean read path finds and trusts it.

`project.py` writes the cache (the config that last validated, with what `status` and
`inspect` read of each task: `project.task_facts`) and reads it back through
`key_prefix` and `schema_stamp` here. The lean path (`lifecycle/readmodel.py`) reads it
with this module alone: the standard library's cheapest parts, no pathlib, no
dataclasses. Whatever this cannot vouch for (no file found, a state folder that is not
ours alone, a cache of another file or schema) is None, and the full loader then says
what is wrong or validates the file again.
"""

from __future__ import annotations

import json
import os
import stat

TYPE_CHECKING = False  # the lean path: no `typing` import
if TYPE_CHECKING:
    from typing import Any

CONFIG_NAME = "taskmux.toml"
CACHE_NAME = "config-cache.json"
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def schema_stamp() -> str:
    """The installed schema.py's size and mtime, the last part of the cache's key: a
    cache written under another schema is never read on the lean path (which cannot
    afford `schema.signature()`)."""
    info = os.stat(os.path.join(os.path.dirname(__file__), "schema.py"))
    return f"{info.st_size}:{info.st_mtime_ns}"


def key_prefix(resolved: str, info: os.stat_result) -> list[object]:
    """The part of the cache's key that names the file as it is now."""
    return [resolved, info.st_ino, info.st_size, info.st_mtime_ns]


def local_config(path: str) -> str:
    """The local override beside a config: `taskmux.local.toml` beside `taskmux.toml`
    (`NAME.local.toml` beside a `-c NAME.toml`)."""
    folder, name = os.path.split(path)
    stem = name[: -len(".toml")] if name.endswith(".toml") else name
    return os.path.join(folder, f"{stem}.local.toml")


def local_stamp(path: str) -> list[int] | None:
    """The local override as it is now (None: there is none), the cache key's last part:
    an edit of it, or its coming or going, is a new config."""
    try:
        info = os.stat(local_config(path))
    except OSError:
        return None
    return [info.st_ino, info.st_size, info.st_mtime_ns]


def with_env_tables(plain: dict[str, Any], path: str) -> dict[str, Any]:
    """The cached config with its `env` tables put back from the files (the cache keeps
    them out: values may be secrets), composed as the loader composes them."""
    import tomllib

    from taskmux.config.composition import compose

    with open(path, "rb") as handle:
        main = tomllib.load(handle)
    local = None
    if local_stamp(path) is not None:
        with open(local_config(path), "rb") as handle:
            local = tomllib.load(handle)
    raw = compose(main, local).raw
    tasks = {
        name: {**body, "env": dict(raw["tasks"][name].get("env", {}))}
        for name, body in plain["tasks"].items()
    }
    return {**plain, "env": dict(raw.get("env", {})), "tasks": tasks}


def find_config(explicit: str | None) -> str | None:
    """The config file as `project.find_config` finds it, or None where that one would
    raise (it then says why)."""
    named = explicit or os.environ.get("TASKMUX_CONFIG")
    if named:
        path = os.path.expanduser(named)
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_NAME)
        if not os.path.isfile(path):
            return None
        return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    here = os.getcwd()
    while True:
        candidate = os.path.join(here, CONFIG_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def state_folder(resolved: str) -> str | None:
    """The project's state folder (as `ProjectPaths.for_config`), if it and the state
    root exist and are ours alone (E801's checks; None: the full path says what is wrong)."""
    try:
        from _sha1 import sha1  # type: ignore[import-not-found]  # hashlib loads OpenSSL
    except ImportError:  # pragma: no cover - a Python built without it
        from hashlib import sha1
    digest = sha1(resolved.encode()).hexdigest()[:10]
    folder = "".join(c if c in _SAFE else "_" for c in os.path.basename(os.path.dirname(resolved)))
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    state_root = os.path.join(base, "taskmux")
    root = os.path.join(state_root, f"{folder or 'root'}-{digest}")
    return root if _private_dir(state_root) and _private_dir(root) else None


def _private_dir(path: str) -> bool:
    me = os.geteuid()
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            if info.st_uid != me:
                return False
            info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == me and not info.st_mode & _OTHERS_WRITE


def read_trusted(path: str) -> bytes | None:
    """The file's bytes if it is a regular file of ours, one link, nobody else can write
    (as `statedir.files.read_trusted`); None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & _OTHERS_WRITE
            or info.st_nlink > 1
        ):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_current(explicit: str | None) -> tuple[str, dict[str, object]] | None:
    """The state folder and the cache of the config as it is now, written under this
    schema; None when there is none to trust."""
    found = find_config(explicit)
    if found is None:
        return None
    try:
        resolved = os.path.realpath(found)
        info = os.stat(resolved)
    except OSError:
        return None
    root = state_folder(resolved)
    raw = read_trusted(os.path.join(root, CACHE_NAME)) if root is not None else None
    if root is None or raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or "facts" not in data:
        return None  # written by an older taskmux: the full path rewrites it
    key = data.get("key")
    if not isinstance(key, list) or key[:4] != key_prefix(resolved, info):
        return None
    if key[5:] != [schema_stamp(), local_stamp(found)]:
        return None
    return root, data
