"""The shape of taskmux.toml as plain frozen dataclasses: every key and every default.

This module imports only the standard library, so a command that finds a cached,
already-validated config never pays for pydantic. The constraints are declared here
(`Bounds`) and enforced by `models.validate_config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from taskmux.config.tables import Bounds as Bounds
from taskmux.config.tables import Hooks as Hooks
from taskmux.config.tables import Notify as Notify
from taskmux.config.tables import WorktreeSettings as WorktreeSettings
from taskmux.config.tables import about as about

RestartPolicy = Literal["no", "on-failure", "always"]
AUTO_PORT = "auto"
Condition = Literal["started", "healthy", "completed", "completed_successfully"]
ProbeKind = Literal["command", "http", "tcp"]


@dataclass(frozen=True)
class Dependency:
    """One `depends_on` entry: a task, and what it must have done before this one starts.

    In the file an entry is a name (condition "healthy") or a `{task, condition}` table;
    validation turns both into this.
    """

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    task: str = field(
        metadata=about("the task to wait for (a bare name in `depends_on` is this, with `healthy`)")
    )
    condition: Condition = field(
        default="healthy",
        metadata=about(
            "what it must have done: `started` (launched and lived through the settle "
            "window), `healthy` (running, its probe passing and its `ready_log` line seen; a "
            "one-shot without either that completed successfully counts too), `completed` "
            "(exited, any code or signal), `completed_successfully` (exited with one of its "
            "`success_exit_codes`)"
        ),
    )


def _success_codes() -> list[int]:
    return [0]


@dataclass(frozen=True)
class TaskConfig:
    """One `[tasks.NAME]` table."""

    __pydantic_config__: ClassVar[dict[str, bool]] = {"strict": True}

    command: Annotated[str, Bounds(min_length=1)] = field(
        metadata=about(
            "the shell command line, run verbatim by `/bin/sh -c`; not blank, at most 10,000 "
            "bytes (tmux refuses a launch over 16 KiB: put a longer command in a script)"
        )
    )
    auto_start: bool = field(
        default=True, metadata=about("whether a bare `taskmux start` launches this task")
    )
    cwd: str | None = field(
        default=None,
        metadata=about(
            "working directory, relative to the config file's folder",
            unset="the project root",
        ),
    )
    port: Annotated[int, Bounds(ge=1, le=65535)] | Literal["auto"] | None = field(
        default=None,
        metadata=about(
            "the task's TCP port, in its `PORT` variable. A number is freed before the task "
            "starts when this project's leftovers hold it, otherwise the start fails with "
            'E304; another taskmux project\'s task is never stopped. `"auto"`: a free port '
            "chosen once and kept"
        ),
    )
    health_check: str | None = field(
        default=None,
        metadata=about(
            "probe: a shell command; exit 0 means healthy (without any probe, healthy means "
            "the process is alive)"
        ),
    )
    health_url: str | None = field(
        default=None,
        metadata=about(
            "probe: an HTTP GET of this `http://` or `https://` URL; healthy when the status "
            "is in `health_expect_status` and the body matches `health_expect_body` (if set). "
            "Redirects are not followed (a 3xx is a status like any other), certificates are "
            "not verified (dev servers' are self-signed), `http_proxy` is ignored"
        ),
    )
    health_expect_status: list[Annotated[int, Bounds(ge=100, le=599)]] | None = field(
        default=None,
        metadata=about(
            "the HTTP statuses that count as healthy (one number is read as a list of one)",
            unset="200-399",
        ),
    )
    health_expect_body: str | None = field(
        default=None,
        metadata=about(
            "a regex the first MiB of the body must match (a dev server that answers 200 "
            "with a compile error page does not)"
        ),
    )
    health_tcp: Annotated[int, Bounds(ge=1, le=65535)] | bool | None = field(
        default=None,
        metadata=about(
            "probe: healthy when a TCP connection to 127.0.0.1 (then `::1`) on this port "
            "succeeds; `true` means the task's own `port`"
        ),
    )
    ready_log: str | None = field(
        default=None,
        metadata=about(
            "a regex: the task is not ready (healthy) until a line it printed since its "
            "latest start matches; read from its log file, so a restart needs a new line. It "
            "is readiness, not liveness: a missing line never makes the task unhealthy or "
            "restarts it"
        ),
    )
    health_start_period: Annotated[float, Bounds(ge=0)] = field(
        default=0.0,
        metadata=about(
            "seconds after a start in which failed checks do not count towards "
            "`health_retries` (a pass still does)"
        ),
    )
    min_uptime: Annotated[float, Bounds(ge=0)] = field(
        default=1.0,
        metadata=about(
            "seconds a task without a probe or `ready_log` must stay up to be ready "
            "(`start --wait`, `wait`, a `healthy` dependency); one that exits sooner is a "
            "failed start, never called ready. `0`: ready as soon as it runs"
        ),
    )
    health_interval: Annotated[float, Bounds(gt=0)] = field(
        default=10.0, metadata=about("seconds between the supervisor's health checks")
    )
    health_timeout: Annotated[float, Bounds(gt=0)] = field(
        default=5.0,
        metadata=about(
            "seconds a probe may take as a whole (an HTTP probe's connect, request and body "
            "share it) before it counts as failed"
        ),
    )
    health_retries: Annotated[int, Bounds(ge=1)] = field(
        default=3,
        metadata=about(
            "consecutive failed checks (the supervisor's, one per `health_interval`) before "
            "the task is unhealthy; until then it shows as starting or running, with the "
            "count in `health_failures`"
        ),
    )
    stop_grace_period: Annotated[float, Bounds(ge=0)] = field(
        default=5.0, metadata=about("seconds after the first stop signal before SIGTERM")
    )
    stop_signal: str = field(
        default="SIGINT",
        metadata=about(
            'the first signal of a stop, by name (`"SIGTERM"`, `"TERM"`, `"quit"`); '
            "then SIGTERM after `stop_grace_period` (unless that was it), then SIGKILL after "
            "3 s. Job-control signals (SIGSTOP, SIGTSTP, SIGCONT, ...) are refused (E132)"
        ),
    )
    success_exit_codes: Annotated[
        list[Annotated[int, Bounds(ge=0, le=255)]], Bounds(min_length=1)
    ] = field(
        default_factory=_success_codes,
        metadata=about(
            'exit codes that count as success: a task exiting with one is "completed", not '
            "restarted under `on-failure`, and meets `completed_successfully`"
        ),
    )
    restart_policy: RestartPolicy = field(
        default="on-failure", metadata=about("when supervision restarts the task")
    )
    max_restarts: Annotated[int, Bounds(ge=0)] = field(
        default=5, metadata=about("consecutive automatic restarts before giving up")
    )
    restart_backoff: Annotated[float, Bounds(ge=1)] = field(
        default=2.0,
        metadata=about("base of the growing restart delay (see `restart_delay`)"),
    )
    restart_delay: Annotated[float, Bounds(ge=0)] = field(
        default=1.0,
        metadata=about(
            "seconds before the first restart; the n-th (from 0) waits "
            "`restart_delay * restart_backoff ** n`, capped at 60. `0` restarts at once, "
            "every time (`max_restarts` still ends a crash loop)"
        ),
    )
    depends_on: list[Dependency] = field(
        default_factory=list,
        metadata=about(
            "what must hold before this task starts: task names (condition `healthy`) or "
            '`{task = "NAME", condition = "..."}` tables. A name listed twice counts once, '
            "with warning W119 (`add --depends-on` writes it once)"
        ),
    )
    hook_timeout: Annotated[float, Bounds(gt=0)] | None = field(
        default=None,
        metadata=about(
            "seconds this task's own hooks may run",
            unset="the top-level `hook_timeout`",
        ),
    )
    hooks: Hooks = field(
        default_factory=Hooks,
        metadata=about("`[tasks.NAME.hooks]`: the same four hooks, for this task"),
    )
    env: dict[str, str] = field(
        default_factory=dict,
        metadata=about("variables for this task, over the top-level ones"),
    )
    env_file: str | list[str] | None = field(
        default=None,
        metadata=about("dotenv files for this task, over the top-level ones; `?path` is optional"),
    )
    secrets: list[str] = field(
        default_factory=list,
        metadata=about(
            "more variable names whose values are hidden in this task's output, on top of "
            "the top-level `secrets`"
        ),
    )

    @property
    def env_files(self) -> list[str]:
        return env_file_list(self.env_file)

    @property
    def auto_port(self) -> bool:
        return self.port == AUTO_PORT

    # The development loop (SPEC §10); the built-in ignores are `filewatch.DEFAULT_IGNORE`.
    watch: list[str] = field(
        default_factory=list,
        metadata=about(
            "globs relative to the task's `cwd` (`src/**/*.py`, `package.json`, "
            "`../shared/`): while a supervisor runs (`start -m`, `daemon`), a change to one "
            "restarts the running task"
        ),
    )
    watch_ignore: list[str] = field(
        default_factory=list,
        metadata=about(
            "more files to ignore, on top of the built-in ignores (`.git`, `node_modules`, "
            "`__pycache__`, `.venv`, ..., the state folder, editors' temporary files); a name "
            "without `/` matches at any depth, one with `/` from the `cwd`"
        ),
    )
    watch_cmd: str | None = field(
        default=None,
        metadata=about(
            "a build step run (in the `cwd`, within `hook_timeout`) before each such "
            "restart; if it fails, the running task is left as it is"
        ),
    )

    # Composition (SPEC §15): both are applied when the file is loaded
    # (`composition.py`), so a task in use has neither set.
    replicas: Annotated[int, Bounds(ge=1, le=32)] | None = field(
        default=None,
        metadata=about(
            "run N instances `NAME-1`…`NAME-N`, each its own task (window, log, restarts, "
            "automatic port) with `TASKMUX_REPLICA` (1…N) in its environment; `NAME` in a "
            "command means all of them, a dependency on NAME waits for all, "
            "`${tasks.NAME.port}` is the first's port. A fixed `port` needs `replicas = 1`",
            unset='one task called NAME (`replicas = 1` runs one called "NAME-1")',
        ),
    )
    extends: str | None = field(
        default=None,
        metadata=about(
            "another task whose keys are this task's defaults (tables such as `env` merged "
            "key by key); it may extend a third, but not in a cycle"
        ),
    )

    # Schedules and cascades (SPEC §15); checked by `config/schedules.py`.
    schedule: str | None = field(
        default=None,
        metadata=about(
            'a cron expression (five fields, local time: `"*/5 * * * *"`): the task is a '
            "scheduled one-shot that a supervisor (`start -m`, `daemon`) starts at each time; "
            "a bare `start` does not start it, naming it does. A run still going at the next "
            "time is not started twice (event `schedule_skipped`)"
        ),
    )
    every: str | None = field(
        default=None,
        metadata=about(
            'instead of `schedule`: a period (`"30s"`, `"5m"`, `"2h"`, `"1d"`; at least 1 s) '
            "after which a supervisor starts the task again, the first time one period after "
            "it began supervising"
        ),
    )
    restart_dependents: bool = field(
        default=False,
        metadata=about(
            "when this task is restarted (by hand or by a supervisor), also restart the tasks "
            "that depend on it with condition `healthy` or `started` (and theirs), in "
            "dependency order, once it is ready again"
        ),
    )

    @property
    def is_scheduled(self) -> bool:
        """Whether a supervisor starts this task on a schedule (`schedule` or `every`)."""
        return self.schedule is not None or self.every is not None

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

    name: str = field(
        default="taskmux",
        metadata=about(
            "the tmux session's name (`taskmux init` uses the folder's name): letters, "
            "digits, `-`, `_`; at most 64 characters"
        ),
    )
    auto_start: bool = field(
        default=True,
        metadata=about("if false, `start` creates the session and launches nothing"),
    )
    log_max_size_mb: Annotated[float, Bounds(gt=0)] = field(
        default=10.0, metadata=about("size (MB) at which a task's log file is rotated")
    )
    log_backups: Annotated[int, Bounds(ge=0)] = field(
        default=3, metadata=about("rotated log files kept per task")
    )
    hook_timeout: Annotated[float, Bounds(gt=0)] = field(
        default=120.0,
        metadata=about(
            "seconds a hook may run before it is killed (its whole process group) and fails "
            "with E401"
        ),
    )
    hold_ttl: Annotated[float, Bounds(gt=0)] = field(
        default=1800.0,
        metadata=about(
            "seconds a holder's claim on a task (`--holder`) lasts without another "
            "`start`/`ensure` from it; then another may stop it without `--force`"
        ),
    )
    hooks: Hooks = field(
        default_factory=Hooks,
        metadata=about("`[hooks]`: shell commands run around starting and stopping"),
    )
    env: dict[str, str] = field(
        default_factory=dict,
        metadata=about("variables for every task (and its hooks and health checks)"),
    )
    env_file: str | list[str] | None = field(
        default=None,
        metadata=about(
            "dotenv files for every task, relative to the config's folder; `?path` is optional"
        ),
    )
    secrets: list[str] = field(
        default_factory=list,
        metadata=about(
            "variable names whose values (from `env`/`env_file`, 6 characters or more) are "
            "shown as `[redacted:NAME]` in every task's output, besides the names that look "
            "secret (`KEY`, `SECRET`, `TOKEN`, `PASSWORD`, `PASSWD`, `CREDENTIAL`, `PRIVATE`, "
            "`*_DSN`, a `*_URL` with a password)"
        ),
    )
    # Worktrees and named URLs (SPEC §14) ---------------------------------------------
    worktree: WorktreeSettings = field(
        default_factory=WorktreeSettings,
        metadata=about("`[worktree]`: what `taskmux worktree add`/`remove` copy and run"),
    )
    proxy_port: Annotated[int, Bounds(ge=0, le=65535)] = field(
        default=28780,
        metadata=about(
            "port of the URL proxy on 127.0.0.1 serving `http://TASK.SESSION.localhost:PORT/` "
            "while a supervisor or `taskmux proxy` runs; 0 turns it (and the URLs) off"
        ),
    )
    # ---------------------------------------------------------------------------------
    notify: Notify = field(
        default_factory=Notify,
        metadata=about("`[notify]`: notices of failures (SPEC §15), sent by a supervisor"),
    )
    tasks: dict[str, TaskConfig] = field(
        default_factory=dict, metadata=about("`[tasks.NAME]`: one table per task")
    )
    # Composition (SPEC §15).
    groups: dict[str, list[str]] = field(
        default_factory=dict,
        metadata=about(
            '`[groups]`: `backend = ["db", "api"]`; `@backend` then stands for those tasks '
            "wherever task names are taken. A group may not share a name with a task"
        ),
    )
    instances: dict[str, list[str]] = field(
        default_factory=dict,
        metadata={"internal": True},  # not a key of the file: each replicated task's instances
    )

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
        worktree = WorktreeSettings(**data.get("worktree", {}))
        notify = Notify(**data["notify"]) if "notify" in data else Notify()
        plain = {**data, "hooks": Hooks(**data["hooks"]), "worktree": worktree, "notify": notify}
        return cls(**{**plain, "tasks": tasks})


def env_file_list(value: str | list[str] | None) -> list[str]:
    """`env_file` as written (one path or a list) as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def field_names(cls: type) -> set[str]:
    """The keys the file may hold (an internal field is filled in by the loader only)."""
    return {f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal")}


def signature() -> str:
    """Changes whenever the schema does, so caches of validated configs expire with it."""
    parts = []
    for cls in (Hooks, WorktreeSettings, Dependency, TaskConfig, Notify, ProjectConfig):
        parts += [f"{f.name}:{f.type}:{_default_text(f)}" for f in dataclasses.fields(cls)]
    return "|".join(parts)


def _default_text(spec: dataclasses.Field[Any]) -> str:
    if spec.default is not dataclasses.MISSING:
        return repr(spec.default)
    if spec.default_factory is not dataclasses.MISSING:
        return getattr(spec.default_factory, "__name__", "factory")
    return "required"
