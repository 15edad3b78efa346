"""One service under every face: each operation of `operations/`, carried out once.

The CLI, the daemon's API and the MCP server parse a request, make one call here and
render the result they get back; none of them holds tmux or policy logic. Results have
`to_dict()`. A result that is partly a failure (some tasks did not start, a wait that
timed out, a task that fails its check) is raised as one `PartialFailure` carrying both
the error and the result.

`ConfigInUse` is the config a process acts on. Long-running processes (`start -m`, the
daemon, `watch`) share one: the supervisor reads it on every tick and a reload replaces
it, so all of them always agree on it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.errors import BadParams, PartialFailure, TaskmuxError
from taskmux.operations import OPERATIONS
from taskmux.service.results import (
    ClearResult,
    EditResult,
    EnvResult,
    EventsResult,
    InspectResult,
    KillResults,
    LogsResult,
    StatusResult,
)

if TYPE_CHECKING:
    from taskmux.config.project import Project
    from taskmux.interop.moving import ExportResult, ImportResult
    from taskmux.lifecycle.core import Lifecycle, Progress, StartReport, StopReport
    from taskmux.lifecycle.ensure import EnsureResult
    from taskmux.lifecycle.graph import GraphResult
    from taskmux.lifecycle.health_report import HealthReport
    from taskmux.lifecycle.results import KillResult, StartWaitResult
    from taskmux.lifecycle.waiting import WaitResult
    from taskmux.logs.digest import DigestPage
    from taskmux.logs.lines import Item, TaskLog
    from taskmux.runtime.timing import Timing
    from taskmux.runtime.tmux_manager import Observation, Tmux
    from taskmux.service.scaling import ScaleResult
    from taskmux.service.views import ConfigView, UsageMeter, UsageResult

_LOGS = OPERATIONS["logs"]
_EVENTS = OPERATIONS["events"]
_WAIT = OPERATIONS["wait"]
_START = OPERATIONS["start"]
_ENSURE = OPERATIONS["ensure"]


def open_project(config: str | Path | None, fallback: bool = False) -> Project:
    """Load the project for an operation. With `fallback` (operations that only look or
    stop), an invalid file stands in the last valid config; when there never was one,
    the session's task windows as tmux reports them."""
    from taskmux.config.project import load_project

    project = load_project(config, fallback=fallback)
    if project.fallback is None or project.fallback.last_valid:
        return project
    from taskmux.errors import TmuxError
    from taskmux.lifecycle.standin import windows_as_tasks
    from taskmux.runtime.tmux_manager import Tmux

    try:
        return windows_as_tasks(project, Tmux.from_env())
    except TmuxError:  # no tmux: nothing can be running, the bare stand-in is the truth
        return project


class ConfigInUse:
    """The project config a process acts on; replaced as a whole, under a lock."""

    def __init__(self, project: Project) -> None:
        self._project = project
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def project(self) -> Project:
        with self._lock:
            return self._project

    def replace(self, project: Project) -> None:
        with self._lock:
            self._project = project
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def on_replace(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each replacement (a supervisor looks at the new config)."""
        with self._lock:
            self._listeners.append(listener)


# The service ---------------------------------------------------------------------------


class Service:
    """Every operation on one project, for every face."""

    reveal_secrets = False  # log reads hide secrets; only the CLI's `logs --reveal` sets it

    def __init__(
        self,
        config: ConfigInUse,
        tmux: Tmux | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        timing: Timing | None = None,
    ) -> None:
        """`timing`: every pause of its actions (None: `timing.DEFAULT`, read at each)."""
        self.config = config
        self._timing = timing
        self._tmux = tmux
        self.on_progress = on_progress
        self._lifecycle: Lifecycle | None = None
        self._lock = threading.Lock()
        self._meter: UsageMeter | None = None

    @classmethod
    def for_project(
        cls, project: Project, on_progress: Callable[[Progress], None] | None = None
    ) -> Service:
        return cls(ConfigInUse(project), None, on_progress)

    @property
    def tmux(self) -> Tmux:
        """The tmux server (TASKMUX_TMUX_SOCKET's, else the default), found on first use."""
        if self._tmux is None:
            from taskmux.runtime.tmux_manager import Tmux

            self._tmux = Tmux.from_env()
        return self._tmux

    @property
    def project(self) -> Project:
        return self.config.project

    @property
    def timing(self) -> Timing:
        """The pauses given, else `timing.DEFAULT` as it is now (a test may replace it)."""
        from taskmux.runtime import timing

        return self._timing if self._timing is not None else timing.DEFAULT

    def lifecycle(self) -> Lifecycle:
        """The lifecycle of the config in use (made anew once the config is replaced)."""
        from taskmux.lifecycle.core import Lifecycle

        project = self.config.project
        with self._lock:
            current = self._lifecycle
            if current is None or current.project is not project:
                current = Lifecycle(project, self.tmux, self.on_progress, self._timing)
                self._lifecycle = current
            return current

    def call(self, name: str, params: dict[str, Any], **extra: Any) -> Any:
        """Run an operation by name with params checked against its declaration."""
        try:
            bound = OPERATIONS[name].bind(params)
        except ValueError as exc:
            raise BadParams(str(exc)) from None
        from taskmux.lifecycle.holders import as_holder  # `holder`/`force`: E307, claims

        if bound.get("tasks"):  # `@GROUP`, a replicated task: before holders look at them
            bound["tasks"] = self.select(bound["tasks"])
        if name == "kill" and len(names := self.select([bound["task"]])) != 1:
            return KillResults(tuple(self.call(name, {**params, "task": n}) for n in names))
        if name == "kill":
            bound["task"] = names[0]
        method: Callable[..., Any] = getattr(self, name)
        return as_holder(self.lifecycle, name, bound, lambda rest: method(**rest, **extra))

    def select(self, names: list[str]) -> list[str]:
        """The concrete tasks that names stand for (`@GROUP`, a replicated task's name:
        `config/selection.py`); a name that is no task is left for E201."""
        from taskmux.config.selection import select

        config = self.project.config
        return select(names, config.tasks, config.groups, config.instances)

    def _chosen(self, tasks: list[str] | None) -> list[str] | None:
        return self.select(tasks) if tasks else None

    # Queries -------------------------------------------------------------------------

    def observe(self) -> Observation:
        from taskmux.lifecycle.status import observe_project

        return observe_project(self.tmux, self.project)

    def status(self, tasks: list[str] | None = None) -> StatusResult:
        """Every task's row, or the rows of `tasks` (names, `@GROUP`; E201 for one that
        has no row)."""
        from taskmux.lifecycle.named_urls import proxy_port
        from taskmux.lifecycle.readmodel import only_rows, served_if_shown
        from taskmux.lifecycle.status import session_notes, status_rows

        project = self.project
        observation = self.observe()
        rows = status_rows(project, observation)
        notes = session_notes(project, observation, rows)
        if tasks:
            rows = only_rows(rows, self.select(tasks), project.path.name)
        port = proxy_port(project.config.proxy_port)
        served = served_if_shown(str(project.paths.root), port, rows)
        return StatusResult(
            observation.session or project.session,
            observation.session_exists,
            tuple(rows),
            tuple(p.render() for p in project.warnings),
            tuple(notes),
            served,
        )

    def inspect(self, task: str) -> InspectResult:
        from taskmux.lifecycle.status import inspect_row

        self.project.task(task)
        return InspectResult(inspect_row(self.project, task, self.observe()))

    def graph(self) -> GraphResult:
        """The dependency graph, its critical chain, the last start's times to ready."""
        from taskmux.lifecycle.graph import project_graph

        return project_graph(self.lifecycle())

    def usage(self) -> UsageResult:
        """CPU (since the previous call) and memory of each running task's process tree."""
        from taskmux.service.views import UsageMeter

        self._meter = self._meter or UsageMeter()
        return self._meter.measure(self.status, self.project.paths, time.monotonic())

    def config_view(self) -> ConfigView:
        from taskmux.service.views import config_view

        return config_view(self.project)

    def health(self) -> HealthReport:
        report = self.lifecycle().health()
        error = report.error()
        if error is not None:
            raise PartialFailure(error, report)
        return report

    def _sources(self, task: str | None) -> list[TaskLog]:
        from taskmux.lifecycle.redaction import task_logs  # reads hide the tasks' secrets

        project = self.project
        names = self.select([task]) if task else list(project.config.tasks)
        project.check_names(names)
        return task_logs(project, names, not self.reveal_secrets, self.observe)

    def _log_query(
        self, task: str | None, grep: str | None, since: str | None, after: str | None
    ) -> tuple[list[TaskLog], Any, float | None]:
        """What a log read is over: the files, the compiled pattern, the start time."""
        from taskmux.errors import UsageError
        from taskmux.lifecycle.logpipes import keep_logging
        from taskmux.logs.lines import parse_since
        from taskmux.logs.search import compile_pattern

        if after is not None and since is not None:
            raise UsageError("after and since cannot be combined (the cursor says where to start)")
        pattern = compile_pattern(grep) if grep else None
        keep_logging(self.project, self.tmux, self.observe)  # lost pipes are attached first
        return self._sources(task), pattern, parse_since(since) if since else None

    def logs(
        self,
        task: str | None = None,
        lines: int = _LOGS.default("lines"),
        grep: str | None = None,
        context: int = _LOGS.default("context"),
        since: str | None = None,
        after: str | None = None,
        max_bytes: int | None = None,
        ansi: bool = False,
        digest: bool = False,
        max_tokens: int = _LOGS.default("max_tokens"),
        raw: bool = False,  # MCP's switch: lines, not the digest
    ) -> LogsResult | DigestPage:
        """The last lines (each with its `cursor`), or with `after` only the lines written
        since that cursor, as a page with the next cursor to poll with; or their digest."""
        from taskmux.logs.after import read_after
        from taskmux.logs.query import digest_query, next_cursor, query

        sources, pattern, start = self._log_query(task, grep, since, after)
        if digest and not raw:
            return digest_query(sources, lines, pattern, context, start, after, max_tokens)
        if after is not None:
            page = read_after(sources, after, lines, pattern, context, max_bytes)
            return LogsResult(page.lines, pattern, page.cursor, page.more, page.lost, ansi)
        items = tuple(query(sources, lines, pattern, context, start, cursors=True))
        return LogsResult(items, pattern, next_cursor(items, sources), ansi=ansi)

    def follow_logs(
        self,
        task: str | None = None,
        lines: int = _LOGS.default("lines"),
        grep: str | None = None,
        context: int = _LOGS.default("context"),
        since: str | None = None,
        after: str | None = None,
        stop: threading.Event | None = None,
    ) -> tuple[LogsResult, Iterator[Item]]:
        """The pattern (for rendering), and the stream: `logs` (or the lines after the
        cursor `after`), then every new line; `lost` names tasks whose place was gone."""
        from taskmux.logs.query import follow_after, follow_query

        sources, pattern, start = self._log_query(task, grep, since, after)
        if after is not None:
            stream, lost = follow_after(sources, after, pattern, context, stop=stop, cursors=True)
            return LogsResult((), pattern, lost=lost), stream
        stream = follow_query(sources, lines, pattern, context, start, stop=stop, cursors=True)
        return LogsResult((), pattern), stream

    def has_logs(self, task: str | None = None) -> bool:
        """Whether any log file exists yet (to tell "no logs yet" from "no match")."""
        return any(source.files() for source in self._sources(task))

    def clear_logs(self, task: str | None = None) -> ClearResult:
        from taskmux.logs.clear import clear

        return ClearResult(tuple(str(p) for s in self._sources(task) for p in clear(s)))

    def events(
        self,
        task: str | None = None,
        since: str | None = None,
        lines: int = _EVENTS.default("lines"),
    ) -> EventsResult:
        from taskmux.logs.lines import parse_since

        if task is not None:
            self.project.task(task)
        cutoff = parse_since(since) if since else None
        return EventsResult(tuple(self.lifecycle().events.select(task, cutoff, lines)))

    def follow_events(
        self, task: str | None = None, stop: threading.Event | None = None, poll: float = 0.2
    ) -> Iterator[dict[str, Any]]:
        """Events appended from now on, of one task or all, until `stop` is set (looked for
        every `poll` seconds)."""
        if task is not None:
            self.project.task(task)
        records = self.lifecycle().events.follow(poll=poll, stop=stop)  # positioned now
        return (r for r in records if task is None or r.get("task") == task)

    def env(self, task: str | None = None) -> EnvResult:
        from taskmux.config.taskenv import port_variable, url_variable
        from taskmux.lifecycle.named_urls import proxy_port as port_in_effect
        from taskmux.lifecycle.named_urls import task_url

        lifecycle = self.lifecycle()
        ports, env = lifecycle.environment(task)
        exported = {port_variable(name): str(port) for name, port in ports.items()}
        if proxy_port := port_in_effect(
            self.project.config.proxy_port
        ):  # SPEC §14: each task's named URL
            urls = {url_variable(n): task_url(n, lifecycle.session, proxy_port) for n in ports}
            exported |= urls
        exported |= env
        return EnvResult(lifecycle.session, task, ports, exported)

    # Actions -------------------------------------------------------------------------

    def start(
        self,
        tasks: list[str] | None = None,
        kill_port: bool = False,
        with_deps: bool = False,
        wait: bool = False,
        timeout: float = _START.default("timeout"),
        stop: threading.Event | None = None,
    ) -> StartReport | StartWaitResult:
        """Start in dependency order; with `wait`, return once every task started is ready
        (or fail with each unready task's facts), `timeout` bounding the whole call."""
        lifecycle, tasks = self.lifecycle(), self._chosen(tasks)
        if not wait:
            report = lifecycle.start(tasks, with_deps=with_deps, kill_port=kill_port)
            self.register_urls(lifecycle.session)
            return _settled(report)
        from taskmux.errors import StartFailed, WaitFailed
        from taskmux.lifecycle.results import StartWaitResult
        from taskmux.lifecycle.waiting import start_and_wait  # not imported by a plain start

        report, result = start_and_wait(
            lifecycle, tasks or None, with_deps, timeout, stop, kill_port=kill_port
        )
        both = StartWaitResult(report, result)
        self.register_urls(lifecycle.session)
        if result.ok and report.ok:
            return both
        # The wait's summary names every task that is not ready and why; a start that
        # failed outright (a hook, a port, a quick death) keeps its own code.
        start_error = report.error() if report.failed else None
        error: TaskmuxError = WaitFailed(result.summary())
        if start_error is not None:
            error = StartFailed(result.summary(), code=start_error.code)
        raise PartialFailure(error, both)

    def register_urls(self, session: str) -> None:
        """Put this checkout in the URL proxy's registry (SPEC §14), under `session`."""
        from taskmux.lifecycle.named_urls import proxy_port
        from taskmux.statedir import proxyreg

        if proxy_port(self.project.config.proxy_port):
            with contextlib.suppress(OSError):  # the names are a convenience: never fail a start
                proxyreg.register(self.project.path, self.project.paths.root, session)

    def restart(
        self, tasks: list[str] | None = None, kill_port: bool = False, cascade: bool = False
    ) -> StartReport:
        """Restart; then, once ready, the dependents of those that cascade (`cascade`, or
        `restart_dependents = true`: `lifecycle/cascade.py`)."""
        from taskmux.lifecycle.cascade import restart_with_dependents

        return _settled(
            restart_with_dependents(self.lifecycle(), self._chosen(tasks), kill_port, cascade)
        )

    def stop(self, tasks: list[str] | None = None) -> StopReport:
        report = self.lifecycle().stop(self._chosen(tasks))
        if report.failed:
            error = TaskmuxError("; ".join(report.failed.values()))
            raise PartialFailure(error, report)
        return report

    def kill(self, task: str) -> KillResult:
        from taskmux.lifecycle.results import KillResult

        return KillResult(task, self.lifecycle().kill(task))

    def ensure(
        self,
        tasks: list[str] | None = None,
        timeout: float = _ENSURE.default("timeout"),
        stop: threading.Event | None = None,
        holder: str | None = None,
    ) -> EnsureResult:
        """Keep, start or restart each task (`lifecycle/ensure.py`), then wait like
        `start --wait`: not all ready is a PartialFailure with each one's reason."""
        from taskmux.lifecycle.ensure import ensure, failure

        result = ensure(self.lifecycle(), self._chosen(tasks), timeout, stop, holder)
        if not result.ok:
            raise PartialFailure(failure(result), result)
        return result

    def wait(
        self,
        tasks: list[str] | None = None,
        condition: str = _WAIT.default("condition"),
        timeout: float = _WAIT.default("timeout"),
        stop: threading.Event | None = None,
    ) -> WaitResult:
        from taskmux.errors import UsageError, WaitFailed
        from taskmux.lifecycle.waiting import CONDITIONS, wait_for

        chosen = next((c for c in CONDITIONS if c == condition), None)
        if chosen is None:
            raise UsageError(f"condition must be one of {', '.join(CONDITIONS)}")
        lifecycle, tasks = self.lifecycle(), self._chosen(tasks)
        if not tasks:  # as `start` with no names starts them
            config = lifecycle.config
            tasks = [n for n, t in config.tasks.items() if t.auto_start and config.auto_start]
        result = wait_for(lifecycle, tasks, chosen, timeout, stop=stop)
        if not result.ok:
            raise PartialFailure(WaitFailed(result.summary()), result)
        return result

    def add(
        self,
        task: str,
        command: str,
        cwd: str | None = None,
        port: int | str | None = None,
        health_check: str | None = None,
        depends_on: list[str] | None = None,
        restart_policy: str | None = None,
        auto_start: bool = True,
        env: dict[str, str] | None = None,
        env_file: list[str] | None = None,
        force: bool = False,
    ) -> EditResult:
        """Add (or with `force` replace) a task in taskmux.toml, validated before writing.
        `port` is a number or "auto"; the new config's warnings are on `self.project`."""
        from taskmux.config.editing import add_task
        from taskmux.interop.agents import refresh_for

        project = add_task(
            self.project.path,
            task,
            command,
            cwd=cwd,
            port=port,
            health_check=health_check,
            depends_on=depends_on or [],
            restart_policy=restart_policy,
            auto_start=auto_start,
            env=env,
            env_file=env_file,
            force=force,
            after_write=refresh_for,
        )
        self.config.replace(project)
        return EditResult(task, str(project.path), "added", local=_local_name(project))

    def remove(self, task: str) -> EditResult:
        """Remove a task from taskmux.toml, killing it first if it runs."""
        import shutil

        from taskmux.config.editing import check_removable, remove_task
        from taskmux.interop.agents import refresh_for

        check_removable(self.project, task)
        # Without tmux nothing can be running; editing the file needs no tmux.
        was_running = shutil.which("tmux") is not None and self.lifecycle().kill_if_present(task)
        project = remove_task(self.project.path, task, refresh_for)
        self.config.replace(project)
        return EditResult(
            task, str(project.path), "removed", was_running, local=_local_name(project)
        )

    def scale(self, task: str, replicas: int) -> ScaleResult:
        """Set TASK's replicas in taskmux.toml and apply the difference (`scaling.py`)."""
        from taskmux.service.scaling import scale

        return scale(self, task, replicas)

    # Moving in and out (SPEC §12) --------------------------------------------------

    @staticmethod
    def import_file(file: str, force: bool = False) -> ImportResult:
        """Write taskmux.toml next to FILE (a Procfile or process-compose.yaml): no project
        exists yet, so this needs no Service of one."""
        from taskmux.interop.moving import import_file

        return import_file(file, force)

    def export_systemd(
        self,
        dir: str | None = None,
        force: bool = False,
        system: bool = False,
        user: str | None = None,
    ) -> ExportResult:
        from taskmux.interop.moving import export_systemd

        return export_systemd(self.project, dir, force, system, user)

    def export_compose(
        self, image: str, file: str | None = None, force: bool = False
    ) -> ExportResult:
        from taskmux.interop.moving import export_compose

        return export_compose(self.project, image, file, force)

    def export_kubernetes(
        self, image: str, dir: str | None = None, namespace: str | None = None, force: bool = False
    ) -> ExportResult:
        from taskmux.interop.kubernetes import export_kubernetes

        return export_kubernetes(self.project, image, dir, namespace, force)


def _local_name(project: Project) -> str | None:
    """The local override's name when one is beside the config (edits leave it alone)."""
    from taskmux.config.cache import local_config

    local = Path(local_config(str(project.path)))
    return local.name if local.exists() else None


def _settled(report: StartReport) -> StartReport:
    error = report.error()
    if error is not None:
        raise PartialFailure(error, report)
    return report
