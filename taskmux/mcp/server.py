"""`taskmux mcp`: the project's operations as Model Context Protocol tools, over stdio.

One tool per operation that `operations.py` offers on MCP: its name, description,
parameters, defaults and read-only/destructive hints all come from that declaration.
Each call loads the project afresh (a cached, validated config costs little), makes one
service call in a worker thread so the event loop keeps serving, and returns compact
JSON shaped for an agent's context (see `SHAPES`). A `TaskmuxError` becomes a tool error
whose text starts with its code (`E201: task 'x' not found in taskmux.toml`); a partial
failure adds its result as JSON. A call is checked against the declaration before the
SDK sees it, as the daemon's API checks a request: an unknown tool is E504, a missing,
unknown or wrongly typed argument E505 (the SDK would coerce `"yes"` to true). Nothing
here writes to stdout: the SDK's stdio
transport owns it. The resources (status, events, a task's log digest) are resources.py's,
read through the same `Tools.run`; their update notifications are updates.py's.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from taskmux.errors import BadParams, PartialFailure, TaskmuxError, UnknownCommand
from taskmux.operations import Operation, Param, offered

if TYPE_CHECKING:
    from mcp.server.mcpserver.context import Context
    from mcp_types import InputRequiredResult

    from taskmux.service import Service

MAX_LOG_LINES = 200
MAX_LOG_BYTES = 20_000
MAX_LINE_CHARS = 1_000
MAX_EVENTS = 200

INSTRUCTIONS = (
    "taskmux runs this project's long-running processes (servers, workers, watchers) as "
    "tasks in tmux. Never start such processes in a shell yourself: use start/restart, "
    "read state with status, wait for readiness with wait (not sleep), and read errors "
    "with logs (grep='error'). Errors start with a taskmux code such as E201."
)

Reply = str | CallToolResult


def compact(data: Any) -> str:
    """JSON without spaces: the fewest tokens for the same facts."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def error_result(error: TaskmuxError, details: dict[str, Any] | None = None) -> CallToolResult:
    """An MCP tool error whose text leads with the taskmux code; details follow as JSON.

    Built here rather than raised as the SDK's ToolError, which would prefix the text
    with "Error executing tool NAME: " and hide the code from a quick read.
    """
    texts = [f"{error.code}: {error.message}", *([compact(details)] if details else [])]
    return CallToolResult(content=[TextContent(type="text", text=t) for t in texts], is_error=True)


# Shaping results for an agent's context ------------------------------------------------

_STATUS_KEYS = (
    "name", "state", "running", "healthy", "health_failures", "pid", "port", "uptime",
    "exit_code", "signal", "restart_count", "gave_up", "manually_stopped", "next_restart_at",
    "auto_start", "depends_on", "command",
)  # fmt: skip


def _status_row(row: dict[str, Any]) -> dict[str, Any]:
    """The facts an agent acts on; unset values and false marks left out."""
    return {
        k: row[k]
        for k in _STATUS_KEYS
        if row.get(k) not in (None, [], "") and (row[k] is not False or k in ("running", "healthy"))
    }


def _shape_status(result: Any, _params: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = result.to_dict()
    data["tasks"] = [_status_row(row) for row in data["tasks"]]
    return data


def _log_text(result: Any, line: Any, prefixed: bool) -> str:
    text = result.text(line)
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


def _shape_digest(page: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The digest as its text lines (fewer tokens than records), with its counts and the
    cursor to read on from (`after`)."""
    data = page.to_dict()
    data.pop("max_tokens")
    data["digest"] = page.digest.text().split("\n")
    return {"task": params.get("task"), **data}


def _shape_logs(result: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The digest (unless `raw`); or plain text lines (`task | line` when all tasks are
    merged), within 20 kB, and the cursor to poll for newer lines with (`after`)."""
    from taskmux.logs.cursors import line_cursor
    from taskmux.logs.digest import DigestPage

    if isinstance(result, DigestPage):
        return _shape_digest(result, params)

    prefixed = params.get("task") is None
    text = ["--" if i is None else _log_text(result, i, prefixed) for i in result.items]
    if params.get("after") is not None:  # a page after a cursor, already within 20 kB
        return {
            "task": params.get("task"),
            "lines": text,
            "next_cursor": result.next_cursor,
            "more": result.more,
            "lost": list(result.lost),
        }
    kept = _fit(text, MAX_LOG_BYTES)
    data: dict[str, Any] = {"task": params.get("task"), "lines": kept}
    if len(kept) < len(text):
        data["truncated"] = f"only the last {len(kept)} of {len(text)} lines fit in 20 kB"
    last = next((i for i in reversed(result.items) if i is not None), None)
    cursor = line_cursor(last) if last is not None else None
    if cursor is not None:
        data["next_cursor"] = cursor  # `logs` with `after` = this: only what comes next
    return data


def _shape_events(result: Any, _params: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(result.events)[-MAX_EVENTS:]}


def _shape_wait(result: Any, _params: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, **result.to_dict()}


SHAPES: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    "status": _shape_status,
    "logs": _shape_logs,
    "events": _shape_events,
    "wait": _shape_wait,
}
# Tighter bounds than the declaration's, for an agent's context window.
LIMITS: dict[tuple[str, str], float] = {("logs", "lines"): MAX_LOG_LINES}


# Tools from declarations ---------------------------------------------------------------

_PYTHON_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool}


def _annotation(param: Param) -> Any:
    """The parameter's type for the tool's schema, with its description."""
    kind: Any = list[str] if param.kind == "names" else _PYTHON_TYPES[param.kind]
    if param.choices:
        kind = Literal[param.choices]
    if not param.required and param.default is None:
        kind = kind | None
    return Annotated[kind, Field(description=param.help)]


def signature_of(operation: Operation) -> inspect.Signature:
    """The tool function's signature, built from the declaration (the SDK reads it)."""
    parameters = [
        inspect.Parameter(
            p.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=_annotation(p),
            **({} if p.required else {"default": p.default}),
        )
        for p in operation.params_on("mcp")
    ]
    return inspect.Signature(parameters, return_annotation=Reply)


# Calling these again with the same arguments changes nothing more: a running task is not
# started twice, a stopped one not stopped twice, a kept one kept, a task scaled to the
# count it has left as it is. (`restart` restarts every time.) MCP's own hint, so it lives
# with the other MCP hints rather than in the declaration every face reads.
IDEMPOTENT = frozenset({"start", "ensure", "stop", "kill", "scale"})


def hints_of(operation: Operation) -> ToolAnnotations:
    """MCP's tool annotations: read-only for reads; destructive for what ends a running
    process (stop, restart, kill); idempotent where a repeat has no further effect."""
    if operation.read_only:
        return ToolAnnotations(read_only_hint=True, open_world_hint=False)
    return ToolAnnotations(
        read_only_hint=False,
        destructive_hint=operation.destructive,
        idempotent_hint=operation.name in IDEMPOTENT,
        open_world_hint=False,
    )


def refusal(name: str, arguments: dict[str, Any]) -> TaskmuxError | None:
    """Why a call cannot be made as given (the API's codes for the same mistakes), or None.

    The declaration's own check, strict: the SDK's argument model would take `"yes"` or
    `1` for a boolean and `"5"` for an integer.
    """
    tools = {op.name: op for op in offered("mcp")}
    operation = tools.get(name)
    if operation is None:
        return UnknownCommand(f"unknown tool '{name}' (known: {', '.join(sorted(tools))})")
    try:
        operation.bind(arguments)
    except ValueError as exc:
        return BadParams(str(exc))
    offered_here = {param.name for param in operation.params_on("mcp")}
    elsewhere = sorted(set(arguments) - offered_here)
    if elsewhere:  # declared, but for the other faces (`digest`: here it is `raw`)
        return BadParams(f"{name}: unknown param(s) {', '.join(elsewhere)}")
    return None


class CheckedServer(MCPServer[Any]):
    """The SDK's server, refusing a call the declaration refuses before the SDK reads it."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        error = refusal(name, arguments)
        if error is not None:
            return error_result(error)
        return await super().call_tool(name, arguments, context)


OpenService = Callable[[Operation], "Service"]


class Tools:
    """Runs the operations for the tools: blocking, in worker threads.

    `open_service`: the service one call of an operation acts on (default: the project
    loaded afresh, from its last valid config for an operation with `fallback`); tests
    pass a fake.
    """

    def __init__(
        self,
        config: str | None,
        cancel: threading.Event,
        open_service: OpenService | None = None,
    ) -> None:
        self.config = config
        self.cancel = cancel  # set when the server shuts down: ends waits still running
        self.open_service = open_service or self._open_project

    def _open_project(self, operation: Operation) -> Service:
        from taskmux.service import Service, open_project

        return Service.for_project(open_project(self.config, fallback=operation.fallback))

    def follow(self, stop: threading.Event) -> Iterator[dict[str, Any]]:
        """Events appended from now on (positioned at this call), until `stop` is set."""
        from taskmux.operations import OPERATIONS

        service = self.open_service(OPERATIONS["follow_events"])
        return service.follow_events(stop=stop)

    def run(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        from taskmux.operations import OPERATIONS

        service = self.open_service(OPERATIONS[name])
        digest = name == "logs" and not params.get("raw", False)
        if digest:  # the digest is bounded by its tokens, not by lines or bytes
            params = {**params, "digest": True}
        for (op, key), limit in LIMITS.items():
            if op == name and not digest and isinstance(params.get(key), int | float):
                params = {**params, key: min(params[key], limit)}
        extra: dict[str, Any] = {"stop": self.cancel} if name in ("wait", "start", "ensure") else {}
        if name == "logs" and not digest and params.get("after") is not None:
            extra["max_bytes"] = MAX_LOG_BYTES
        result = service.call(name, params, **extra)
        shape = SHAPES.get(name)
        return shape(result, params) if shape is not None else dict(result.to_dict())


def build_server(
    config: str | None = None, open_service: OpenService | None = None
) -> MCPServer[Any]:
    """The MCP server with one tool per operation offered on MCP (not yet running)."""
    from importlib.metadata import version

    from taskmux.mcp.resources import add_resources
    from taskmux.mcp.updates import Updates

    stop = threading.Event()
    tools = Tools(config, stop, open_service)
    updates = Updates(tools.follow)

    @asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            async with updates.running():
                yield {}
        finally:
            stop.set()

    server = CheckedServer(
        "taskmux",
        instructions=INSTRUCTIONS,
        version=version("taskmux"),
        log_level="WARNING",
        lifespan=lifespan,
        subscriptions=updates.bus,
    )
    updates.install(server)
    add_resources(server, tools.run)
    for operation in offered("mcp"):
        server.add_tool(
            _tool(tools, operation),
            name=operation.name,
            description=operation.summary,
            annotations=hints_of(operation),
            structured_output=False,
        )
    return server


def _tool(tools: Tools, operation: Operation) -> Callable[..., Any]:
    async def tool(**params: Any) -> Reply:
        try:
            data = await anyio.to_thread.run_sync(
                tools.run, operation.name, params, abandon_on_cancel=True
            )
        except PartialFailure as failure:
            return error_result(failure.error, failure.details)
        except TaskmuxError as error:
            return error_result(error)
        return compact(data)

    tool.__name__ = operation.name
    tool.__doc__ = operation.summary
    tool.__signature__ = signature_of(operation)  # type: ignore[attr-defined]
    return tool


def serve(config: str | None = None) -> None:
    """Serve MCP over stdin/stdout until the client closes the connection."""
    build_server(config).run("stdio")
