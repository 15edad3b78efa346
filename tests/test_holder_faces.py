"""Holders on the API and MCP faces: `holder` and `force` reach the one service call,
and its E307 comes back as the reply's error (the refusal itself is `Service.call`'s,
tested on real tmux in tests/lifecycle/test_holders.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import pytest
from fake_service import FakeService
from mcp_client import with_service

from taskmux.daemon.api import Api
from taskmux.errors import HeldByOther

pytestmark = pytest.mark.xdist_group("mcp")  # one worker pays for importing the SDK

_HELD = HeldByOther("stop: task 'api' is held by 'agent-a'")


def test_the_api_passes_the_holder_and_replies_e307() -> None:
    service = FakeService(answers={"stop": _HELD})
    message = {"id": 1, "command": "stop", "params": {"tasks": ["api"], "holder": "agent-b"}}
    reply, _ = asyncio.run(Api(lambda: service).answer(json.dumps(message)))
    assert reply["ok"] is False and reply["error"]["code"] == "E307"
    assert service.only_call().bound == {"tasks": ["api"], "holder": "agent-b", "force": False}


def test_mcp_tools_take_holder_and_force_and_say_e307() -> None:
    service = FakeService(answers={"kill": _HELD})

    async def main() -> Any:
        async with with_service(service) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            return tools, await client.call_tool("kill", {"task": "api", "force": True})

    tools, result = anyio.run(main)
    for name in ("stop", "restart", "kill"):
        assert {"holder", "force"} <= set(tools[name].input_schema["properties"])
    assert "holder" in tools["ensure"].input_schema["properties"]
    assert result.is_error is True and "E307" in json.dumps(result.model_dump(mode="json"))
    assert service.only_call().params == {"task": "api", "holder": None, "force": True}
