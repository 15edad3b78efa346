"""MCP clients for tests, and reading what their tools return.

The SDK (and `taskmux.mcp`, which imports it) costs ~1.75 s of CPU to import, and every
xdist worker collects every test module: so nothing here imports it at module level,
only the functions that run a client do. A test module may import this one freely.

- `in_process(config)`: the project's MCP server (the real service on the test's tmux
  server) reached through the SDK's in-memory transport, no subprocess.
- `over_stdio(root, env)`: `taskmux mcp` as an MCP client starts it, as a subprocess
  speaking JSON-RPC on its stdin/stdout (tests/mcp/test_mcp.py has the one such test).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mcp import Client
    from mcp_types import CallToolResult

    from taskmux.operations import Operation

T = TypeVar("T")

# The resources' URIs, as a client spells them (the product's are mcp/updates.py's).
STATUS_URI = "taskmux://status"
EVENTS_URI = "taskmux://events"


def in_process(config: Path | str, **options: Any) -> Client:
    """A client of the project's own MCP server, run in this process; `options` are the
    SDK `Client`'s (`mode`, `message_handler`, ...). The tmux server is the environment's
    (TASKMUX_TMUX_SOCKET, which the `project` and `tmux_socket` fixtures set)."""
    from mcp import Client

    from taskmux.mcp.server import build_server

    return Client(build_server(str(config)), **options)


def with_service(service: Any, opened: list[str] | None = None, **options: Any) -> Client:
    """A client of an MCP server whose every call goes to `service` (a fake); `opened`
    records the operation each call opened it for."""
    from mcp import Client

    from taskmux.mcp.server import build_server

    def open_service(operation: Operation) -> Any:
        if opened is not None:
            opened.append(operation.name)
        return service

    return Client(build_server(open_service=open_service), **options)


def over_stdio(root: Path, env: Mapping[str, str], **options: Any) -> Client:
    """A client that starts `taskmux mcp` in `root`, as an agent's MCP client would."""
    from cli_runner import TASKMUX
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=TASKMUX, args=["mcp"], env=dict(env), cwd=str(root))
    return Client(params, read_timeout_seconds=60, **options)


def run_with(client: Client, session: Callable[[Client], Awaitable[T]]) -> T:
    """Open `client`, run `session` with it, close it; from synchronous test code."""
    import anyio

    async def main() -> T:
        async with client:
            return await session(client)

    return anyio.run(main)


def call_tools(client: Client, calls: list[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    """Each (tool, arguments) called in turn on one session."""

    async def session(opened: Client) -> list[CallToolResult]:
        return [await opened.call_tool(name, arguments) for name, arguments in calls]

    return run_with(client, session)


def texts(result: CallToolResult) -> list[str]:
    """The text blocks of a tool's result."""
    from mcp_types import TextContent

    return [block.text for block in result.content if isinstance(block, TextContent)]


def text(result: CallToolResult) -> str:
    """The first block's text: the JSON of a result, or an error's `CODE: message`."""
    return texts(result)[0]


def data(result: CallToolResult) -> Any:
    """A successful result's JSON (its one text block)."""
    assert not result.is_error, texts(result)
    (only,) = texts(result)
    return json.loads(only)


def tools() -> dict[str, Any]:
    """The server's tools as a client lists them, by name (no service is opened)."""
    import anyio

    from taskmux.mcp.server import build_server

    return {tool.name: tool for tool in anyio.run(build_server().list_tools)}
