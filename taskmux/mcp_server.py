"""`taskmux mcp`: the project's tasks as Model Context Protocol tools, served over stdio.

Each tool loads the project afresh (a cached, validated config costs little), does one
core operation in a worker thread so the event loop keeps serving, and returns compact
JSON. A `TaskmuxError` becomes an MCP tool error whose text starts with the error code
(`E201: task 'x' not found in taskmux.toml`). Nothing here writes to stdout: the SDK's
stdio transport owns it and points fd 1 at stderr while it serves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from taskmux.errors import TaskmuxError, WaitFailed

if TYPE_CHECKING:
    from taskmux.config import Project
    from taskmux.lifecycle import Lifecycle, StartReport

MAX_LOG_LINES = 200
MAX_LOG_BYTES = 20_000
MAX_LINE_CHARS = 1_000
MAX_EVENTS = 200
MAX_WAIT = 600.0

INSTRUCTIONS = (
    "taskmux runs this project's long-running processes (servers, workers, watchers) as "
    "tasks in tmux. Never start such processes in a shell yourself: use start/restart, "
    "read state with status, wait for readiness with wait (not sleep), and read errors "
    "with logs (grep='error'). Errors start with a taskmux code such as E201."
)

Reply = str | CallToolResult
TaskNames = Annotated[list[str] | None, Field(description="Task names; omit for all tasks.")]

_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_STOPS = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


def compact(data: Any) -> str:
    """JSON without spaces: the fewest tokens for the same facts."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


class ToolFailure(Exception):
    """A taskmux error plus the result data that explains it (a partial start, a wait)."""

    def __init__(self, error: TaskmuxError, details: dict[str, Any] | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.details = details


def error_result(error: TaskmuxError, details: dict[str, Any] | None = None) -> CallToolResult:
    """An MCP tool error whose text leads with the taskmux code; details follow as JSON.

    Built here rather than raised as the SDK's ToolError, which would prefix the text
    with "Error executing tool NAME: " and hide the code from a quick read.
    """
    texts = [f"{error.code}: {error.message}", *([compact(details)] if details else [])]
    return CallToolResult(content=[TextContent(type="text", text=t) for t in texts], is_error=True)


class TaskmuxTools:
    """The operations behind the tools; every method is blocking and returns plain data."""

    def __init__(self, config: str | None, cancel: threading.Event) -> None:
        self.config = config
        self.cancel = cancel

    def project(self) -> Project:
        from taskmux.config import load_project

        return load_project(self.config)

    def lifecycle(self) -> Lifecycle:
        from taskmux.lifecycle import Lifecycle

        return Lifecycle.for_project(self.project())  # no progress callback: nothing printed

    def status(self) -> dict[str, Any]:
        from taskmux.status import observe_project, status_rows
        from taskmux.tmux_manager import Tmux

        project = self.project()
        observation = observe_project(Tmux.from_env(), project)
        data: dict[str, Any] = {
            "session": observation.session,
            "session_running": observation.session_exists,
            "tasks": [_status_row(row) for row in status_rows(project, observation)],
        }
        if project.warnings:
            data["config_warnings"] = [p.render() for p in project.warnings]
        return data

    def start(self, tasks: list[str] | None) -> dict[str, Any]:
        return _start_result(self.lifecycle().start(tasks or None))

    def restart(self, tasks: list[str] | None) -> dict[str, Any]:
        return _start_result(self.lifecycle().restart(tasks or None))

    def stop(self, tasks: list[str] | None) -> dict[str, Any]:
        report = self.lifecycle().stop(tasks or None)
        if report.failed:
            raise ToolFailure(TaskmuxError("; ".join(report.failed.values())), report.to_dict())
        return report.to_dict()

    def logs(
        self, task: str | None, lines: int, grep: str | None, since: str | None, context: int
    ) -> dict[str, Any]:
        from taskmux import logs as core

        project = self.project()
        names = [task] if task else list(project.config.tasks)
        project.check_names(names)
        task_logs = [core.TaskLog(name, project.paths.log_file(name)) for name in names]
        pattern = core.compile_pattern(grep) if grep else None
        start = core.parse_since(since) if since else None
        wanted = max(0, min(lines, MAX_LOG_LINES))
        items = core.query(task_logs, wanted, pattern, max(0, context), start)
        text = ["--" if item is None else _log_text(item, prefixed=task is None) for item in items]
        kept = _fit(text, MAX_LOG_BYTES)
        data: dict[str, Any] = {"task": task, "lines": kept}
        if len(kept) < len(text):
            data["truncated"] = f"only the last {len(kept)} of {len(text)} lines fit in 20 kB"
        return data

    def inspect(self, task: str) -> dict[str, Any]:
        from taskmux.status import inspect_row, observe_project
        from taskmux.tmux_manager import Tmux

        project = self.project()
        project.task(task)
        return inspect_row(project, task, observe_project(Tmux.from_env(), project))

    def health(self) -> dict[str, Any]:
        results = self.lifecycle().health()
        tasks = {}
        for name, result in results.items():
            entry = result.to_dict()
            entry["output"] = str(entry["output"])[-2_000:]
            tasks[name] = entry
        return {"all_healthy": all(r.healthy for r in results.values()), "tasks": tasks}

    def events(self, task: str | None, since: str | None, lines: int) -> dict[str, Any]:
        from taskmux.events import EventLog
        from taskmux.logs import parse_since

        project = self.project()
        if task:
            project.task(task)
        cutoff = parse_since(since) if since else None
        wanted = max(0, min(lines, MAX_EVENTS))
        return {"events": EventLog(project.paths.events).select(task or None, cutoff, wanted)}

    def wait(self, tasks: list[str], condition: str, timeout: float) -> dict[str, Any]:
        from taskmux.waiting import CONDITIONS, wait_for

        if condition not in CONDITIONS:
            from taskmux.errors import UsageError

            raise UsageError(f"condition must be one of {', '.join(CONDITIONS)}")
        if not tasks:
            from taskmux.errors import UsageError

            raise UsageError("name at least one task to wait for")
        limit = max(0.0, min(timeout, MAX_WAIT))
        result = wait_for(self.lifecycle(), tasks, condition, limit, stop=self.cancel)
        if not result.ok:
            raise ToolFailure(WaitFailed(result.summary()), result.to_dict())
        return {"ok": True, **result.to_dict()}


def _start_result(report: StartReport) -> dict[str, Any]:
    error = report.error()
    if error is not None:
        raise ToolFailure(error, report.to_dict())
    return report.to_dict()


_STATUS_KEYS = (
    "name", "state", "running", "healthy", "pid", "port", "uptime", "exit_code", "signal",
    "restart_count", "gave_up", "manually_stopped", "next_restart_at", "auto_start",
    "depends_on", "command",
)  # fmt: skip


def _status_row(row: dict[str, Any]) -> dict[str, Any]:
    """The facts an agent acts on; unset values and false marks left out."""
    return {
        k: row[k]
        for k in _STATUS_KEYS
        if row.get(k) not in (None, [], "") and (row[k] is not False or k in ("running", "healthy"))
    }


def _log_text(line: Any, prefixed: bool) -> str:
    text = line.text
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + "…"
    return f"{line.task} | {text}" if prefixed else str(text)


def _fit(lines: list[str], budget: int) -> list[str]:
    """The newest lines whose UTF-8 size stays within `budget` bytes."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        used += len(line.encode()) + 1
        if used > budget:
            break
        kept.append(line)
    kept.reverse()
    return kept


def build_server(config: str | None = None) -> MCPServer[Any]:
    """The MCP server with every taskmux tool registered (not yet running)."""
    from importlib.metadata import version

    stop = threading.Event()
    tools = TaskmuxTools(config, stop)

    @asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {}
        finally:
            stop.set()  # ends waits still running in worker threads

    server: MCPServer[Any] = MCPServer(
        "taskmux",
        instructions=INSTRUCTIONS,
        version=version("taskmux"),
        log_level="WARNING",
        lifespan=lifespan,
    )

    async def call(fn: Callable[[], dict[str, Any]]) -> Reply:
        try:
            data = await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)
        except TaskmuxError as error:
            return error_result(error)
        except ToolFailure as failure:
            return error_result(failure.error, failure.details)
        return compact(data)

    async def status() -> Reply:
        """Session and every task: state, pid, port, health, exit code, restarts, command."""
        return await call(tools.status)

    async def start(tasks: TaskNames = None) -> Reply:
        """Start tasks in dependency order (none named: every auto_start task). Idempotent."""
        return await call(partial(tools.start, tasks))

    async def stop_(tasks: TaskNames = None) -> Reply:
        """Stop tasks gracefully and mark them stopped (none named: all, and end the session)."""
        return await call(partial(tools.stop, tasks))

    async def restart(tasks: TaskNames = None) -> Reply:
        """Stop, free ports and start again; use after changing a task's code or config."""
        return await call(partial(tools.restart, tasks))

    async def logs(
        task: Annotated[str | None, Field(description="One task; omit for all, merged.")] = None,
        lines: Annotated[int, Field(description="Last N lines (with grep: N matches).")] = 100,
        grep: Annotated[str | None, Field(description="Python regex filter, e.g. 'error'.")] = None,
        since: Annotated[str | None, Field(description="e.g. 30s, 5m, 2h, or ISO-8601.")] = None,
        context: Annotated[int, Field(description="Lines of context around matches.")] = 3,
    ) -> Reply:
        """A task's logs, ANSI-free, newest last; at most 200 lines / 20 kB."""
        return await call(partial(tools.logs, task, lines, grep, since, context))

    async def inspect(task: Annotated[str, Field(description="Task name.")]) -> Reply:
        """Everything taskmux knows about one task: config, pid, exit code, restarts, health."""
        return await call(partial(tools.inspect, task))

    async def health() -> Reply:
        """Run every task's health check now (concurrently) and report each result."""
        return await call(tools.health)

    async def events(
        task: Annotated[str | None, Field(description="Only this task's events.")] = None,
        since: Annotated[str | None, Field(description="e.g. 10m, 2h, or ISO-8601.")] = None,
        lines: Annotated[int, Field(description="The last N events (max 200).")] = 50,
    ) -> Reply:
        """Lifecycle history: started, exited (code/signal), restarts, health changes, stops."""
        return await call(partial(tools.events, task, since, lines))

    async def wait(
        tasks: Annotated[list[str], Field(description="Tasks that must all meet the condition.")],
        condition: Annotated[
            Literal["healthy", "running", "exited"],
            Field(description="healthy: check passes (or alive without one)."),
        ] = "healthy",
        timeout: Annotated[float, Field(description="Seconds before giving up (max 600).")] = 60,
    ) -> Reply:
        """Block until the tasks meet the condition; on failure the error says why per task:
        state, exit code or signal, last health check output, last 20 log lines."""
        return await call(partial(tools.wait, tasks, condition, timeout))

    registry: list[tuple[Callable[..., Any], str, ToolAnnotations]] = [
        (status, "status", _READ_ONLY),
        (start, "start", _CHANGES),
        (stop_, "stop", _STOPS),
        (restart, "restart", _CHANGES),
        (logs, "logs", _READ_ONLY),
        (inspect, "inspect", _READ_ONLY),
        (health, "health", _READ_ONLY),
        (events, "events", _READ_ONLY),
        (wait, "wait", _READ_ONLY),
    ]
    for fn, name, hints in registry:
        server.add_tool(fn, name=name, annotations=hints, structured_output=False)
    return server


def serve(config: str | None = None) -> None:
    """Serve MCP over stdin/stdout until the client closes the connection."""
    build_server(config).run("stdio")
