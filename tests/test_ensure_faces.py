"""`ensure` on every face: the API and MCP make one service call with the declared
params (and MCP passes its cancel event, as for `start` and `wait`); a real daemon-less
MCP call is in tests/mcp/test_mcp.py's tool list, a real run in tests/lifecycle."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import anyio
import pytest
from fake_service import Canned, FakeService
from harness import Project, project
from mcp_client import in_process, text, with_service

from taskmux.daemon.api import Api
from taskmux.errors import PartialFailure, WaitFailed
from taskmux.operations import OPERATIONS

__all__ = ["project"]

pytestmark = pytest.mark.xdist_group("mcp")  # one worker pays for importing the SDK

_KEPT = {"ok": True, "tasks": {"web": {"action": "kept", "reason": None, "port": 8000}}}


def _api(service: FakeService, message: dict[str, Any]) -> dict[str, Any]:
    reply, _ = asyncio.run(Api(lambda: service).answer(json.dumps(message)))
    return reply


def test_the_api_ensures_through_one_service_call() -> None:
    service = FakeService(answers={"ensure": Canned(_KEPT)})
    reply = _api(service, {"id": 1, "command": "ensure", "params": {"tasks": ["web"]}})
    assert reply["ok"] is True and reply["result"]["tasks"]["web"]["action"] == "kept"
    call = service.only_call()
    assert call.name == "ensure" and call.bound == {
        "tasks": ["web"],
        "timeout": 60.0,
        "holder": None,
    }


def test_the_api_says_why_an_ensure_failed_and_refuses_a_bad_timeout() -> None:
    failed = PartialFailure(WaitFailed("web: exited 3"), Canned({"ok": False}))
    reply = _api(FakeService(answers={"ensure": failed}), {"id": 2, "command": "ensure"})
    assert reply["ok"] is False and "web: exited 3" in reply["error"]["message"]
    bad = _api(FakeService(), {"id": 3, "command": "ensure", "params": {"timeout": 601}})
    assert bad["error"]["code"] == "E505"


def test_mcp_has_an_ensure_tool_with_the_cancel_event() -> None:
    service = FakeService(answers={"ensure": Canned(_KEPT)})

    async def main() -> Any:
        async with with_service(service) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            return tools, await client.call_tool("ensure", {"tasks": ["web"], "timeout": 5})

    tools, result = anyio.run(main)
    assert "ensure" in tools and tools["ensure"].description == OPERATIONS["ensure"].summary
    assert result.is_error is False
    call = service.only_call()
    assert call.params == {"tasks": ["web"], "timeout": 5, "holder": None}
    assert isinstance(call.extra["stop"], threading.Event)


def test_the_mcp_ensure_tool_on_real_tmux(project: Project, monkeypatch: Any) -> None:
    """One real call: the tool starts what is not running, then keeps it."""
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", project.socket_name)
    project.write('[tasks.web]\ncommand = "sleep 300"\nmin_uptime = 0\n')

    async def main() -> list[dict[str, Any]]:
        found = []
        async with in_process(project.config) as client:
            for _ in range(2):
                result = await client.call_tool("ensure", {"timeout": 10})
                assert not result.is_error, text(result)
                found.append(json.loads(text(result)))
        return found

    first, second = anyio.run(main)
    assert first["tasks"]["web"]["action"] == "started" and first["ok"] is True
    assert second["tasks"]["web"] == {
        "action": "kept",
        "reason": None,
        "port": None,
        "url": None,
        "ready": True,
    }
