"""Find, load, edit and atomically save `taskmux.toml`.

Loading uses the standard library's tomllib (fast, for every command); editing uses
tomlkit on the document itself, so the user's comments and layout survive, under an
exclusive lock so that concurrent `add`s from parallel agents all land. The cache of
the last validated config also lets the commands that only look or stop work while a
later edit has broken the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.config.cache import (
    CACHE_NAME,
    key_prefix,
    local_config,
    local_stamp,
    with_env_tables,
)
from taskmux.config.cache import CONFIG_NAME as CONFIG_NAME
from taskmux.config.cache import schema_stamp as schema_stamp
from taskmux.config.locating import by_line, locate
from taskmux.errors import ConfigError, ConfigNotFound, Problem, TaskNotFound
from taskmux.statedir.files import read_trusted, write_private
from taskmux.statedir.paths import ProjectPaths

if TYPE_CHECKING:
    import tomlkit.toml_document

    from taskmux.config.schema import ProjectConfig, TaskConfig

_LINE_RE = re.compile(r"at line (\d+)")
_BOM = b"\xef\xbb\xbf"
_DEFAULT_SESSION = "taskmux"
_NAME_RE = re.compile(r"""^\s*name\s*=\s*["']([^"'\n]*)["']""", re.MULTILINE)
_SESSION_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")  # as models.SESSION_NAME_RE


def find_config(explicit: str | Path | None = None, start: Path | None = None) -> Path:
    """The config named by `-c`/`TASKMUX_CONFIG` (a file, or a folder holding taskmux.toml),
    else the nearest `taskmux.toml` upwards."""
    named = explicit or os.environ.get("TASKMUX_CONFIG")
    if named:
        path = Path(named).expanduser()
        if path.is_dir():  # `-c ../other-project`: the folder's own taskmux.toml
            if not (path / CONFIG_NAME).is_file():
                raise ConfigNotFound(
                    f"{path} is a folder without a {CONFIG_NAME} "
                    "(-c takes a config file, or a folder that holds one)"
                )
            path = path / CONFIG_NAME
        elif not path.is_file():
            what = "is not a regular file" if path.exists() else "does not exist"
            raise ConfigNotFound(f"config file {path} {what}")
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
class Fallback:
    """The config file is invalid or gone, and something else stands in for it (see
    load_project)."""

    error: ConfigError | ConfigNotFound  # ConfigNotFound: the file is gone
    last_valid: bool  # the last valid config stands in; False: tmux's windows (none was seen)
    last_valid_at: float | None = None  # when that config was last validated

    def describe(self, path: Path) -> str:
        """The one warning line: the file's error, and what is used instead."""
        if self.last_valid:
            when = ""
            if self.last_valid_at is not None:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.last_valid_at))
                when = f" (validated {stamp})"
            using = f"using the last valid config{when}"
        else:
            using = "no valid config was ever loaded: using the task windows tmux reports"
        error = self.error.message.replace(str(path), path.name)
        what = "is gone" if isinstance(self.error, ConfigNotFound) else "is invalid"
        return f"{path.name} {what} (error[{self.error.code}]: {error}); {using}"

    def to_dict(self) -> dict[str, object]:
        using = "last_valid_config" if self.last_valid else "tmux_windows"
        return {**self.error.to_dict(), "using": using, "last_valid_at": self.last_valid_at}


@dataclass(frozen=True)
class Project:
    """A loaded, valid config and where it came from (or, with `fallback`, a stand-in)."""

    path: Path
    config: ProjectConfig
    warnings: list[Problem] = field(default_factory=list)
    fallback: Fallback | None = None  # set: the file is invalid, `config` stands in for it

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
        """Problems found after loading (env files, `${...}`), with the config's line numbers,
        in the file's order."""
        try:
            text = self.path.read_text(encoding="utf-8")
            local = _local_file(self.path)
            raw = _parse(self.path, text) if local else {}
        except (OSError, ConfigError, ConfigNotFound):
            text, local, raw = "", None, {}
        placed = [p for p in problems if p.path]
        return by_line(
            placed + _place(self.path, raw, text, local, [p for p in problems if not p.path])
        )


def _locate_all(text: str, path: Path, problems: list[Problem]) -> list[Problem]:
    """The problems with their lines, in the file's order."""
    return by_line(
        [replace(p, line=p.line or locate(text, p.task, p.key), path=str(path)) for p in problems]
    )


def _parse(path: Path, text: str) -> dict[str, Any]:
    import tomllib  # not needed when the cache answers (most reads)

    from taskmux.config.nesting import MAX_DEPTH, depth, too_deep_line

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _LINE_RE.search(str(exc))
        line = int(match.group(1)) if match else None
        problem = Problem("E110", f"invalid TOML: {exc}", line=line, path=str(path))
        raise ConfigError.from_problems([problem]) from None
    except RecursionError:  # arrays or inline tables nested some hundreds deep
        raw = None
    if raw is None or depth(raw) > MAX_DEPTH:
        message = f"invalid TOML: nested more than {MAX_DEPTH} levels deep"
        problem = Problem("E110", message, line=too_deep_line(text), path=str(path))
        raise ConfigError.from_problems([problem]) from None
    return raw


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigNotFound(f"cannot read {path}: {exc.strerror}") from None


def _decode(path: Path, data: bytes) -> str:
    """The file's text. A UTF-8 BOM (Windows editors write one) is accepted and dropped;
    anything that is not UTF-8 is E110 at the line of its first bad byte."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        message = "the file is UTF-16; save it as UTF-8"
        raise ConfigError.from_problems([Problem("E110", message, line=1, path=str(path))])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        message = (
            f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column}; save the file as UTF-8"
        )
        problem = Problem("E110", message, line=line, path=str(path))
        raise ConfigError.from_problems([problem]) from None


def _read(path: Path) -> str:
    return _decode(path, _read_bytes(path))


def check_file(path: Path) -> tuple[ProjectConfig | None, list[Problem]]:
    """Every problem in the file, errors and warnings, located; never raises for content.

    A valid config is remembered in the state folder (the cache), so commands that only
    look or stop can still work from it after a later edit breaks the file.
    """
    try:
        key: list[object] | None = _cache_key(path)
    except OSError:
        key = None  # gone or unreadable: _read says so
    try:
        text = _read(path)
        raw = _parse(path, text)
        config, problems = _composed(path, raw, text)
    except ConfigError as exc:
        return None, exc.problems
    if config is not None and key is not None:
        _cache_write(Project(path, config, _warnings(problems)), key)
    return config, problems


def _local_file(path: Path) -> tuple[Path, str, dict[str, Any]] | None:
    """`taskmux.local.toml` beside the config, read and parsed (None: there is none)."""
    local = Path(local_config(str(path)))
    if not local.exists():
        return None
    text = _read(local)
    return local, text, _parse(local, text)


def _composed(
    path: Path, raw: dict[str, Any], text: str
) -> tuple[ProjectConfig | None, list[Problem]]:
    """The file with its local override merged, `extends` and `replicas` applied
    (`composition.py`), validated; each problem located in the file that holds it."""
    from taskmux.config.composition import compose, declared_problems
    from taskmux.config.models import validate_config

    local = _local_file(path)
    composition = compose(raw, local[2] if local else None)
    config, found = validate_config(composition.raw)
    problems = declared_problems(composition, composition.problems + found)
    problems = _place(path, raw, text, local, problems)
    if config is None or any(p.severity == "error" for p in composition.problems):
        return None, problems
    return replace(config, instances=composition.instances), problems


def _place(
    path: Path,
    raw: dict[str, Any],
    text: str,
    local: tuple[Path, str, dict[str, Any]] | None,
    problems: list[Problem],
) -> list[Problem]:
    """Each problem located in the file that sets its key: the local override, or the
    config itself (which also holds what neither sets)."""
    from taskmux.config.composition import holds

    if local is None:
        return _locate_all(text, path, problems)
    local_path, local_text, local_raw = local
    placed = []
    for p in problems:
        if p.key is not None and holds(local_raw, p.task, p.key):
            own = True
        elif p.key is not None and holds(raw, p.task, p.key):
            own = False
        else:  # a key neither sets (missing, inherited): the file that has the task
            own = holds(local_raw, p.task, None) and not holds(raw, p.task, None)
        where, what = (local_path, local_text) if own else (path, text)
        placed += _locate_all(what, where, [p])
    return by_line(placed)


def _warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


def load_project(explicit: str | Path | None = None, fallback: bool = False) -> Project:
    """Find and load the config; raise ConfigError naming the first problem if invalid.

    A config that validated before and has not changed since (same inode, size and
    mtime) is read back from a cache in the state folder: no pydantic on that path.
    With `fallback` (the commands that only look or stop), an invalid file does not
    lock the user out: the last valid config stands in for it, or, when there never was
    one, a config of just the session name (the CLI then adds the windows tmux reports);
    `Project.fallback` says which, and why.
    """
    try:
        path = find_config(explicit)
    except ConfigNotFound as gone:
        if not fallback:
            raise
        return _gone(explicit, gone)
    cached = _cache_read(path, _cache_key(path))
    if cached is not None:
        return cached
    config, problems = check_file(path)
    if config is not None:
        return Project(path, config, _warnings(problems))
    error = ConfigError.from_problems(problems)
    if not fallback:
        raise error
    last = _cache_read(path, None)
    if last is not None:
        return Project(path, last.config, [], Fallback(error, True, _cache_time(path)))
    from taskmux.config.schema import ProjectConfig

    return Project(path, ProjectConfig(name=_session_guess(path)), [], Fallback(error, False))


def cached_project(path: Path) -> Project | None:
    """The config as validated when the file last had its present content (the cache),
    or None: a reader that must see edits (a reload) then validates it with `check_file`."""
    try:
        return _cache_read(path, _cache_key(path))
    except OSError:  # gone or unreadable: check_file says so
        return None


def _gone(explicit: str | Path | None, error: ConfigNotFound) -> Project:
    """A missing config file (deleted, or a branch switch moved it) handled like an
    invalid one: the last valid config of the file that was there stands in, found from
    its state folder, for `-c`'s path or the nearest folder from here upwards that has
    one; `error` again when that file never validated."""
    named = explicit or os.environ.get("TASKMUX_CONFIG")
    if named:
        path = Path(named).expanduser().absolute()
        candidates = [path / CONFIG_NAME if path.is_dir() else path]
    else:
        here = Path.cwd().absolute()
        candidates = [folder / CONFIG_NAME for folder in (here, *here.parents)]
    for candidate in candidates:
        if candidate.exists() or not ProjectPaths.for_config(candidate).root.is_dir():
            continue  # a folder taskmux never saw: no state folder is created for it
        last = _cache_read(candidate, None, file_gone=True)
        if last is None:
            break  # the nearest project taskmux knew never validated: not a parent's then
        when = _cache_time(candidate)
        return Project(candidate, last.config, [], Fallback(error, True, when))
    raise error


def _cache_time(path: Path) -> float | None:
    try:
        return _cache_file(path).stat().st_mtime
    except OSError:
        return None


def _session_guess(path: Path) -> str:
    """The session `name` an invalid file most likely means (for display and lookup)."""
    import tomllib

    try:
        text = _read_bytes(path).decode("utf-8", "replace").lstrip("\ufeff")
    except ConfigNotFound:
        return _DEFAULT_SESSION
    try:
        name = tomllib.loads(text).get("name")
    except (tomllib.TOMLDecodeError, RecursionError):
        match = _NAME_RE.search(text.split("\n[", 1)[0])
        name = match.group(1) if match else None
    return name if isinstance(name, str) and _SESSION_RE.match(name) else _DEFAULT_SESSION


def _cache_key(path: Path) -> list[object]:
    from taskmux.config.schema import signature

    resolved = str(path.resolve())
    prefix = key_prefix(resolved, os.stat(resolved))
    return [*prefix, signature(), schema_stamp(), local_stamp(str(path))]


def _cache_file(path: Path) -> Path:
    """The cache's path, in a state folder checked to be ours alone (E801 otherwise)."""
    return ProjectPaths.for_config(path).ensure().root / CACHE_NAME


def _cache_read(path: Path, key: list[object] | None, file_gone: bool = False) -> Project | None:
    """The cached config if it was validated under `key` (None: under any key, i.e. the
    last valid config, whatever the file holds now). A cache someone else owns or could
    have written (it names the commands taskmux runs) is ignored and rebuilt. With
    `file_gone` the `env` tables (kept in the file only) stay empty."""
    from taskmux.config.schema import ProjectConfig

    raw = read_trusted(_cache_file(path))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if key is not None and (data["key"] != key or "facts" not in data):
            return None  # another file or schema, or written before the lean path read it
        warnings = [Problem(**p) for p in data["warnings"]]
        plain = data["config"]
        if data.get("env_tables") and not file_gone:
            plain = with_env_tables(plain, str(path))
        return Project(path, ProjectConfig.from_plain(plain), warnings)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _without_env_tables(plain: dict[str, Any]) -> dict[str, Any]:
    """The config for the cache: `env` values may be secrets, so they stay in the TOML only."""
    tasks = {name: {**body, "env": {}} for name, body in plain["tasks"].items()}
    return {**plain, "env": {}, "tasks": tasks}


def _cache_write(project: Project, key: list[object]) -> None:
    """The config for `load_project`, and what the lean read path reads of it: each
    task's `task_facts`, the session name, the warnings as printed."""
    config = project.config
    data = {
        "key": key,
        "config": _without_env_tables(config.to_plain()),
        "env_tables": bool(config.env) or any(t.env for t in config.tasks.values()),
        "warnings": [p.to_dict() for p in project.warnings],
        "session": config.name,
        "proxy_port": config.proxy_port,
        "has_env": bool(config.env) or config.env_file is not None,
        "facts": {name: task_facts(task) for name, task in config.tasks.items()},
        "warning_lines": [[p.code, p.render()] for p in project.warnings],
    }
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs speed
        write_private(_cache_file(project.path), json.dumps(data))


def task_facts(task: TaskConfig) -> dict[str, Any]:
    """What `status` and `inspect` read of a task, as plain JSON-ready data: the service
    computes it from the config in use, the lean path reads it from the cache, and
    `lifecycle/readmodel.py` builds both paths' rows from it."""
    return {
        "command": task.command,
        "auto_start": task.auto_start,
        "port": task.port,
        "cwd": task.cwd,
        "restart_policy": task.restart_policy,
        "depends_on": task.dependencies,
        "dependencies": [{"task": d.task, "condition": d.condition} for d in task.depends_on],
        "health_check": task.health_check,
        "probe": task.probe,
        "needs_check": task.needs_check,
        "ready_log": task.ready_log,
        "health_url": task.health_url,
        "health_expect_status": task.health_expect_status,
        "health_expect_body": task.health_expect_body,
        "health_tcp": task.tcp_port,
        "health_start_period": task.health_start_period,
        "health_interval": task.health_interval,
        "health_retries": task.health_retries,
        "success_exit_codes": task.success_exit_codes,
        "stop_signal": task.stop_signal,
        "restart_delay": task.restart_delay,
        "has_env": bool(task.env) or task.env_file is not None,
        "schedule": task.schedule or (f"every {task.every}" if task.every else None),
    }


def atomic_write(path: Path, text: str, mode: int | None = None) -> None:
    """Write via a temp file in the same folder and rename: never a half-written file.
    The file keeps its mode (a new one gets 0644) unless `mode` is given."""
    import tempfile

    if mode is None:
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


def _parse_document(path: Path, text: str) -> tomlkit.toml_document.TOMLDocument:
    """The document to edit; tomllib accepted the text, but tomlkit may still refuse it."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        problem = Problem("E110", f"invalid TOML: {exc}", line=exc.line, path=str(path))
        raise ConfigError.from_problems([problem]) from None


Mutation = Callable[["tomlkit.toml_document.TOMLDocument"], None]


def edit_config(
    path: Path,
    mutate: Mutation,
    after_write: Callable[[Project], None] | None = None,
    finish: Callable[[str, str], str] | None = None,
) -> Project:
    """Apply `mutate` to the TOML document under the project lock; save only if valid.

    `after_write` runs while the lock is still held, so files derived from the config
    (the agent context block) are written in the same order as the config itself.
    `finish(read, edited)` may amend the edited text's layout (not its data) before it
    is written.
    """
    import tomlkit

    from taskmux.statedir.filelock import locked

    with locked(ProjectPaths.for_config(path).ensure().config_lock):
        data = _read_bytes(path)
        text = _decode(path, data)
        _parse(path, text)
        document = _parse_document(path, text)
        mutate(document)
        new_text = tomlkit.dumps(document)
        if finish is not None:
            new_text = finish(text, new_text)
        local = local_stamp(str(path))  # before _composed reads it
        config, problems = _composed(path, document.unwrap(), new_text)
        if config is None:
            raise ConfigError.from_problems(problems)
        bom = "\ufeff" if data.startswith(_BOM) else ""  # the file keeps its BOM
        atomic_write(path, bom + new_text)
        project = Project(path, config, _warnings(problems))
        _remember(project, (bom + new_text).encode(), local)
        if after_write is not None:
            after_write(project)
    return project


def _remember(project: Project, written: bytes, local: list[int] | None) -> None:
    """Cache the config an edit validated, so the next command need not validate it again;
    only while the file still holds what was written and its local override is as it was
    read (the key is taken first: a later edit then misses the cache)."""
    try:
        key = _cache_key(project.path)
        if key[-1] == local and _read_bytes(project.path) == written:
            _cache_write(project, key)
    except (OSError, ConfigNotFound):  # a cache that cannot be written only costs speed
        return
