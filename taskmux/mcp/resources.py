"""The MCP resources: what an agent can read (and subscribe to) without calling a tool.

- `taskmux://status`: the status document, as the `status` tool returns it.
- `taskmux://events`: the last `RESOURCE_EVENTS` lifecycle events, oldest first.
- `taskmux://logs/{task}`: a template; the digest of the task's log, as the `logs` tool
  returns it by default (`logs --digest`, 2000 tokens at most).

Each read is the tool's own service call (so the same shapes, bounds and redaction), run
in a worker thread. A `TaskmuxError` becomes a JSON-RPC error whose message leads with its
code: invalid params for an unknown task, an internal error otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from taskmux.errors import TaskmuxError, TaskNotFound
from taskmux.mcp.updates import EVENTS_URI, LOGS_URI, STATUS_URI

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

RESOURCE_EVENTS = 100
JSON = "application/json"

# Runs one operation as its tool does: (name, params) -> the shaped result.
Run = Callable[[str, dict[str, Any]], dict[str, Any]]


async def read(run: Run, name: str, params: dict[str, Any]) -> str:
    """One operation's shaped result as JSON, or the taskmux error as an MCP error."""
    try:
        data = await anyio.to_thread.run_sync(run, name, params, abandon_on_cancel=True)
    except TaskmuxError as error:
        code = INVALID_PARAMS if isinstance(error, TaskNotFound) else INTERNAL_ERROR
        raise MCPError(code, f"{error.code}: {error.message}") from error
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def add_resources(server: MCPServer[Any], run: Run) -> None:
    """Register the three resources on `server`, each read through `run`."""

    @server.resource(
        STATUS_URI,
        name="status",
        description="Every task's state, as the status tool returns it (JSON).",
        mime_type=JSON,
    )
    async def status() -> str:
        return await read(run, "status", {})

    @server.resource(
        EVENTS_URI,
        name="events",
        description=f"The last {RESOURCE_EVENTS} lifecycle events, oldest first (JSON).",
        mime_type=JSON,
    )
    async def events() -> str:
        return await read(run, "events", {"lines": RESOURCE_EVENTS})

    @server.resource(
        LOGS_URI,
        name="logs",
        description=(
            "The digest of one task's log, as the logs tool returns it by default: errors "
            "first, repeats counted, the newest lines, within 2000 tokens (JSON)."
        ),
        mime_type=JSON,
    )
    async def logs(task: str) -> str:
        return await read(run, "logs", {"task": task})
