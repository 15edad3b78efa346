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
Condition = Literal["started", "healthy", "completed", "completed_successfully"]
ProbeKind = Literal["command", "http", "tcp"]


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
class Dependency:
    """One `depends_on` entry: a task, and what it must have done before this one starts.

    In the file an entry is a name (condition "healthy") or a `{task, condition}` table;
    validation turns both into this.
    """

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    task: str
    condition: Condition = "healthy"


def _success_codes() -> list[int]:
    return [0]


@dataclass(frozen=True)
class TaskConfig:
    """One `[tasks.NAME]` table."""

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    command: Annotated[str, Bounds(min_length=1)]
    auto_start: bool = True
    cwd: str | None = None
    port: Annotated[int, Bounds(ge=1, le=65535)] | Literal["auto"] | None = None
    health_check: str | None = None
    health_url: str | None = None  # HTTP(S) GET
    # None: 200-399 (a single number in the file is read as a list of one)
    health_expect_status: list[Annotated[int, Bounds(ge=100, le=599)]] | None = None
    health_expect_body: str | None = None  # regex the body must match
    health_tcp: Annotated[int, Bounds(ge=1, le=65535)] | bool | None = None  # true: `port`
    ready_log: str | None = None  # regex over the output since the latest start
    health_start_period: Annotated[float, Bounds(ge=0)] = 0.0
    health_interval: Annotated[float, Bounds(gt=0)] = 10.0
    health_timeout: Annotated[float, Bounds(gt=0)] = 5.0
    health_retries: Annotated[int, Bounds(ge=1)] = 3
    stop_grace_period: Annotated[float, Bounds(ge=0)] = 5.0
    stop_signal: str = "SIGINT"  # first signal of the stop escalation
    success_exit_codes: Annotated[
        list[Annotated[int, Bounds(ge=0, le=255)]], Bounds(min_length=1)
    ] = field(default_factory=_success_codes)
    restart_policy: RestartPolicy = "on-failure"
    max_restarts: Annotated[int, Bounds(ge=0)] = 5
    restart_backoff: Annotated[float, Bounds(ge=1)] = 2.0
    restart_delay: Annotated[float, Bounds(ge=0)] = 1.0  # first restart's delay
    depends_on: list[Dependency] = field(default_factory=list)
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

    @property
    def dependencies(self) -> list[str]:
        """The names this task depends on, in the file's order."""
        return [dep.task for dep in self.depends_on]

    @property
    def probe(self) -> ProbeKind | None:
        """Which probe decides this task's health (None: being alive is healthy)."""
        if self.health_check is not None:
            return "command"
        if self.health_url is not None:
            return "http"
        if self.health_tcp is not None and self.health_tcp is not False:
            return "tcp"
        return None

    @property
    def tcp_port(self) -> int | None:
        """The port `health_tcp` connects to (`true`: the task's own fixed `port`; an
        automatic one is resolved by the lifecycle, which knows the chosen port)."""
        if self.health_tcp is True:
            return self.port if isinstance(self.port, int) else None
        if self.health_tcp is False or self.health_tcp is None:
            return None
        return self.health_tcp

    @property
    def needs_check(self) -> bool:
        """Whether being alive is not enough to be healthy (a probe, or a ready line)."""
        return self.probe is not None or self.ready_log is not None

    def is_success(self, exit_status: int | None, exit_signal: int | None) -> bool:
        """Whether an exit counts as success (`success_exit_codes`; a signal never does)."""
        return exit_signal is None and exit_status in self.success_exit_codes


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
        return {name: task.dependencies for name, task in self.tasks.items()}

    def to_plain(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> ProjectConfig:
        """Rebuild from `to_plain` output (a cache of a config that was validated)."""
        tasks = {
            name: TaskConfig(
                **{
                    **body,
                    "hooks": Hooks(**body["hooks"]),
                    "depends_on": [Dependency(**dep) for dep in body["depends_on"]],
                }
            )
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
    for cls in (Hooks, Dependency, TaskConfig, ProjectConfig):
        parts += [f"{f.name}:{f.type}:{_default_text(f)}" for f in dataclasses.fields(cls)]
    return "|".join(parts)


def _default_text(spec: dataclasses.Field[Any]) -> str:
    if spec.default is not dataclasses.MISSING:
        return repr(spec.default)
    if spec.default_factory is not dataclasses.MISSING:
        return getattr(spec.default_factory, "__name__", "factory")
    return "required"
