"""The shape of taskmux.toml as plain frozen dataclasses: every key and every default.

This module imports only the standard library, so a command that finds a cached,
already-validated config never pays for pydantic. The constraints are declared here
(`Bounds`) and enforced by `models.validate_config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

RestartPolicy = Literal["no", "on-failure", "always"]
AUTO_PORT = "auto"


@dataclass(frozen=True)
class Bounds:
    """A numeric range for pydantic to enforce; also marks the field as strictly typed."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    min_length: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        schema = handler(source)
        for key in ("ge", "gt", "le", "min_length"):
            value = getattr(self, key)
            if value is not None:
                schema[key] = value
        return schema


@dataclass(frozen=True)
class Hooks:
    """Shell commands run around starting and stopping (globally or for one task)."""

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    before_start: str | None = None
    after_start: str | None = None
    before_stop: str | None = None
    after_stop: str | None = None


@dataclass(frozen=True)
class TaskConfig:
    """One `[tasks.NAME]` table."""

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    command: Annotated[str, Bounds(min_length=1)]
    auto_start: bool = True
    cwd: str | None = None
    port: Annotated[int, Bounds(ge=1, le=65535)] | Literal["auto"] | None = None
    health_check: str | None = None
    health_interval: Annotated[float, Bounds(gt=0)] = 10.0
    health_timeout: Annotated[float, Bounds(gt=0)] = 5.0
    health_retries: Annotated[int, Bounds(ge=1)] = 3
    stop_grace_period: Annotated[float, Bounds(ge=0)] = 5.0
    restart_policy: RestartPolicy = "on-failure"
    max_restarts: Annotated[int, Bounds(ge=0)] = 5
    restart_backoff: Annotated[float, Bounds(ge=1)] = 2.0
    depends_on: list[str] = field(default_factory=list)
    hook_timeout: Annotated[float, Bounds(gt=0)] | None = None  # None: the top-level one
    hooks: Hooks = field(default_factory=Hooks)
    env: dict[str, str] = field(default_factory=dict)
    env_file: str | list[str] | None = None

    @property
    def env_files(self) -> list[str]:
        return env_file_list(self.env_file)

    @property
    def auto_port(self) -> bool:
        return self.port == AUTO_PORT

    # The development loop (SPEC §10): globs relative to `cwd`; a change to a matching file
    # restarts the running task under a supervisor. `watch_ignore` adds to the built-in
    # ignores (`filewatch.DEFAULT_IGNORE`); `watch_cmd` runs before each such restart.
    watch: list[str] = field(default_factory=list)
    watch_ignore: list[str] = field(default_factory=list)
    watch_cmd: str | None = None


@dataclass(frozen=True)
class ProjectConfig:
    """The whole file. `tasks` keeps the file's order."""

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    name: str = "taskmux"
    auto_start: bool = True
    log_max_size_mb: Annotated[float, Bounds(gt=0)] = 10.0
    log_backups: Annotated[int, Bounds(ge=0)] = 3
    hook_timeout: Annotated[float, Bounds(gt=0)] = 120.0  # seconds before a hook is killed
    hooks: Hooks = field(default_factory=Hooks)
    env: dict[str, str] = field(default_factory=dict)
    env_file: str | list[str] | None = None
    tasks: dict[str, TaskConfig] = field(default_factory=dict)

    @property
    def env_files(self) -> list[str]:
        return env_file_list(self.env_file)

    def graph(self) -> dict[str, list[str]]:
        return {name: list(task.depends_on) for name, task in self.tasks.items()}

    def to_plain(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> ProjectConfig:
        """Rebuild from `to_plain` output (a cache of a config that was validated)."""
        tasks = {
            name: TaskConfig(**{**body, "hooks": Hooks(**body["hooks"])})
            for name, body in data["tasks"].items()
        }
        return cls(**{**data, "hooks": Hooks(**data["hooks"]), "tasks": tasks})


def env_file_list(value: str | list[str] | None) -> list[str]:
    """`env_file` as written (one path or a list) as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def signature() -> str:
    """Changes whenever the schema does, so caches of validated configs expire with it."""
    parts = []
    for cls in (Hooks, TaskConfig, ProjectConfig):
        parts += [f"{f.name}:{f.type}:{_default_text(f)}" for f in dataclasses.fields(cls)]
    return "|".join(parts)


def _default_text(spec: dataclasses.Field[Any]) -> str:
    if spec.default is not dataclasses.MISSING:
        return repr(spec.default)
    if spec.default_factory is not dataclasses.MISSING:
        return getattr(spec.default_factory, "__name__", "factory")
    return "required"
