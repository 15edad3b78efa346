"""Find, load, edit and atomically save `taskmux.toml`.

Loading uses the standard library's tomllib (fast, for every command); editing uses
tomlkit on the document itself, so the user's comments and layout survive, under an
exclusive lock so that concurrent `add`s from parallel agents all land.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.errors import ConfigError, ConfigNotFound, Problem, TaskNotFound
from taskmux.filelock import locked
from taskmux.paths import ProjectPaths

if TYPE_CHECKING:
    import tomlkit.toml_document

    from taskmux.schema import ProjectConfig, TaskConfig

CONFIG_NAME = "taskmux.toml"
_LINE_RE = re.compile(r"at line (\d+)")


def find_config(explicit: str | Path | None = None, start: Path | None = None) -> Path:
    """The config named by `-c`/`TASKMUX_CONFIG`, else the nearest `taskmux.toml` upwards."""
    named = explicit or os.environ.get("TASKMUX_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigNotFound(f"config file {path} does not exist")
        return path.absolute()
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigNotFound(
        f"no {CONFIG_NAME} in {here} or any parent folder (run 'taskmux init' to create one)"
    )


@dataclass(frozen=True)
class Project:
    """A loaded, valid config and where it came from."""

    path: Path
    config: ProjectConfig
    warnings: list[Problem] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def session(self) -> str:
        return self.config.name

    @cached_property
    def paths(self) -> ProjectPaths:
        return ProjectPaths.for_config(self.path)

    def task(self, name: str) -> TaskConfig:
        try:
            return self.config.tasks[name]
        except KeyError:
            raise TaskNotFound(f"task '{name}' not found in {self.path.name}") from None

    def check_names(self, names: list[str]) -> None:
        for name in names:
            self.task(name)

    def task_cwd(self, name: str) -> Path:
        cwd = self.task(name).cwd
        return (self.root / cwd).resolve() if cwd else self.root

    def located(self, problems: list[Problem]) -> list[Problem]:
        """Problems found after loading (env files, `${...}`), with the config's line numbers."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        return [
            p
            if p.path
            else replace(p, line=p.line or locate(text, p.task, p.key), path=str(self.path))
            for p in problems
        ]


def locate(text: str, task: str | None, key: str | None) -> int | None:
    """Best-effort line number of a task's key (or its table header) in the TOML text."""
    lines = text.splitlines()
    header_re = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    table = ""
    header_line: int | None = None
    wanted_table = f"tasks.{task}" if task else ""
    key_parts = key.split(".") if key else []
    if len(key_parts) > 1:
        wanted_table = ".".join(filter(None, [wanted_table, *key_parts[:-1]]))
    leaf = key_parts[-1] if key_parts else None
    for number, line in enumerate(lines, start=1):
        match = header_re.match(line)
        if match:
            table = match.group(1).replace('"', "").replace("'", "").replace(" ", "")
            if table == wanted_table:
                header_line = number
            continue
        if table == wanted_table and leaf and re.match(rf"^\s*{re.escape(leaf)}\s*=", line):
            return number
    if len(key_parts) > 1:  # `env = { NAME = ... }`: an inline table, or the table's header
        return header_line or locate(text, task, key_parts[0])
    if header_line is None and task:
        return locate(text, task, None) if key else None
    return header_line


def _locate_all(text: str, path: Path, problems: list[Problem]) -> list[Problem]:
    return [
        replace(p, line=p.line or locate(text, p.task, p.key), path=str(path)) for p in problems
    ]


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _LINE_RE.search(str(exc))
        line = int(match.group(1)) if match else None
        problem = Problem("E110", f"invalid TOML: {exc}", line=line, path=str(path))
        raise ConfigError.from_problems([problem]) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigNotFound(f"cannot read {path}: {exc.strerror}") from None


def check_file(path: Path) -> tuple[ProjectConfig | None, list[Problem]]:
    """Every problem in the file, errors and warnings, located; never raises for content."""
    from taskmux.models import validate_config

    text = _read(path)
    try:
        raw = _parse(path, text)
    except ConfigError as exc:
        return None, exc.problems
    config, problems = validate_config(raw)
    return config, _locate_all(text, path, problems)


def load_project(explicit: str | Path | None = None) -> Project:
    """Find and load the config; raise ConfigError naming the first problem if invalid.

    A config that validated before and has not changed since (same inode, size and
    mtime) is read back from a cache in the state folder: no pydantic on that path.
    """
    path = find_config(explicit)
    key = _cache_key(path)
    cached = _cache_read(path, key)
    if cached is not None:
        return cached
    config, problems = check_file(path)
    if config is None:
        raise ConfigError.from_problems(problems)
    project = Project(path, config, [p for p in problems if p.severity == "warning"])
    _cache_write(project, key)
    return project


def _cache_key(path: Path) -> list[object]:
    from taskmux.schema import signature

    info = path.stat()
    return [str(path.resolve()), info.st_ino, info.st_size, info.st_mtime_ns, signature()]


def _cache_file(path: Path) -> Path:
    return ProjectPaths.for_config(path).root / "config-cache.json"


def _cache_read(path: Path, key: list[object]) -> Project | None:
    from taskmux.schema import ProjectConfig

    try:
        data = json.loads(_cache_file(path).read_text(encoding="utf-8"))
        if data["key"] != key:
            return None
        warnings = [Problem(**p) for p in data["warnings"]]
        plain = data["config"]
        if data.get("env_tables"):
            plain = _with_env_tables(plain, tomllib.loads(path.read_text(encoding="utf-8")))
        return Project(path, ProjectConfig.from_plain(plain), warnings)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _without_env_tables(plain: dict[str, Any]) -> dict[str, Any]:
    """The config for the cache: `env` values may be secrets, so they stay in the TOML only."""
    tasks = {name: {**body, "env": {}} for name, body in plain["tasks"].items()}
    return {**plain, "env": {}, "tasks": tasks}


def _with_env_tables(plain: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Put the `env` tables back from the file (validated when the cache was written)."""
    tasks = {
        name: {**body, "env": dict(raw["tasks"][name].get("env", {}))}
        for name, body in plain["tasks"].items()
    }
    return {**plain, "env": dict(raw.get("env", {})), "tasks": tasks}


def _cache_write(project: Project, key: list[object]) -> None:
    config = project.config
    data = {
        "key": key,
        "config": _without_env_tables(config.to_plain()),
        "env_tables": bool(config.env) or any(t.env for t in config.tasks.values()),
        "warnings": [p.to_dict() for p in project.warnings],
    }
    try:
        target = _cache_file(project.path)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(target, json.dumps(data))
    except OSError:
        pass  # a cache that cannot be written only costs speed


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same folder and rename: never a half-written file."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Mutation = Callable[["tomlkit.toml_document.TOMLDocument"], None]


def edit_config(
    path: Path, mutate: Mutation, after_write: Callable[[Project], None] | None = None
) -> Project:
    """Apply `mutate` to the TOML document under the project lock; save only if valid.

    `after_write` runs while the lock is still held, so files derived from the config
    (the agent context block) are written in the same order as the config itself.
    """
    import tomlkit

    from taskmux.models import validate_config

    with locked(ProjectPaths.for_config(path).config_lock):
        text = _read(path)
        _parse(path, text)
        document = tomlkit.parse(text)
        mutate(document)
        new_text = tomlkit.dumps(document)
        config, problems = validate_config(document.unwrap())
        problems = _locate_all(new_text, path, problems)
        if config is None:
            raise ConfigError.from_problems(problems)
        atomic_write(path, new_text)
        project = Project(path, config, [p for p in problems if p.severity == "warning"])
        if after_write is not None:
            after_write(project)
    return project
