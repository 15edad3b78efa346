"""`taskmux mcp` on a real tmux server: its tools and resources through the SDK's
in-memory transport to the project's own server (the real service, no subprocess), and
once end to end over stdio, as an agent's client starts it; and `taskmux mcp install`
(client configs edited without clobbering them)."""

from __future__ import annotations

import json
import tomllib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from conftest import run_cli
from harness import Project, project, wait_until
from mcp_client import EVENTS_URI as EVENTS
from mcp_client import STATUS_URI as STATUS
from mcp_client import data, in_process, over_stdio, run_with, text, texts

if TYPE_CHECKING:
    from mcp import Client

__all__ = ["project"]

pytestmark = pytest.mark.xdist_group("mcp")  # one worker pays for importing the SDK

TOOLS = {
    "status",
    "usage",
    "config_view",
    "graph",
    "start",
    "ensure",
    "stop",
    "restart",
    "kill",
    "logs",
    "inspect",
    "health",
    "events",
    "wait",
    "scale",
}


def test_taskmux_mcp_over_stdio_end_to_end(project: Project) -> None:
    """What only the real command shows: the entry point finds the project from its cwd,
    JSON-RPC on stdin/stdout carries tools, resources, errors and update notifications,
    and a hook's output breaks nothing (a stray line on the server's stdout would reach
    the client as a fault). The rest of MCP on real tmux is in-process, below."""
    from mcp.client.subscriptions import ResourceUpdated
    from mcp_types import TextResourceContents

    project.write(
        """
        [tasks.web]
        command = "sleep 300"
        [tasks.worker]
        command = "sleep 300"
        [hooks]
        before_start = "echo hook output on stdout"
        """
    )
    seen: dict[str, Any] = {}
    faults: list[Exception] = []  # what the transport could not read, a stray line say

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            faults.append(message)

    async def session(client: Client) -> None:
        seen["tools"] = {tool.name for tool in (await client.list_tools()).tools}
        seen["started"] = data(await client.call_tool("start", {"tasks": ["web"]}))
        seen["status"] = data(await client.call_tool("status", {}))
        contents = (await client.read_resource(STATUS)).contents[0]
        assert isinstance(contents, TextResourceContents)
        seen["resource"] = json.loads(contents.text)
        seen["bad"] = await client.call_tool("inspect", {"task": "nope"})
        async with client.listen(resource_subscriptions=[STATUS]) as sub:
            await anyio.to_thread.run_sync(project.run, "stop", "web")
            with anyio.fail_after(10):
                event = await sub.__anext__()
            assert isinstance(event, ResourceUpdated)
        seen["updated"] = event.uri
        seen["stopped"] = data(await client.call_tool("stop", {}))

    run_with(over_stdio(project.root, project.env, message_handler=on_message), session)

    assert faults == []
    assert seen["tools"] == TOOLS
    assert seen["started"]["started"] == ["web"]
    for status in (seen["status"], seen["resource"]):
        rows = {row["name"]: row for row in status["tasks"]}
        assert rows["web"]["state"] == "running" and rows["worker"]["running"] is False
    bad = seen["bad"]
    assert bad.is_error and text(bad) == "E201: task 'nope' not found in taskmux.toml"
    assert seen["updated"] == STATUS
    assert seen["stopped"]["session_ended"] is True
    wait_until(lambda: project.marked_processes() == [])


def test_tools_against_real_tmux(project: Project) -> None:
    project.write(
        """
        [tasks.web]
        command = "echo hello-from-web; printf '\\\\033[32mcoloured\\\\033[0m\\\\n'; sleep 300"
        [tasks.worker]
        command = "sleep 300"
        """
    )
    assert project.run("start", "web").returncode == 0
    seen: dict[str, Any] = {}

    async def session(client: Client) -> None:
        listed = await client.list_tools()
        seen["tools"] = {tool.name for tool in listed.tools}
        seen["status"] = data(await client.call_tool("status", {}))
        before = seen["status"]["tasks"][0]["pid"]
        seen["restart"] = data(await client.call_tool("restart", {"tasks": ["web"]}))
        seen["wait"] = data(await client.call_tool("wait", {"tasks": ["web"], "timeout": 20}))
        seen["inspect"] = data(await client.call_tool("inspect", {"task": "web"}))
        seen["pid_changed"] = seen["inspect"]["pane_pid"] != before

        async def logged() -> list[str]:
            result = await client.call_tool("logs", {"task": "web", "lines": 50, "raw": True})
            lines: list[str] = data(result)["lines"]
            return lines

        with anyio.fail_after(20):
            while (await logged()).count("hello-from-web") < 2:  # both runs, in one file
                await anyio.sleep(0.1)
        seen["logs"] = await logged()
        grep = {"grep": "colou?red", "context": 0, "raw": True}
        seen["grep"] = data(await client.call_tool("logs", grep))
        seen["digest"] = data(await client.call_tool("logs", {"task": "web"}))
        seen["events"] = data(await client.call_tool("events", {"task": "web"}))
        seen["bad"] = await client.call_tool("inspect", {"task": "nope"})
        seen["bad_wait"] = await client.call_tool("wait", {"tasks": ["worker"], "timeout": 5})

    run_with(in_process(project.config), session)

    assert seen["tools"] == TOOLS
    rows = {row["name"]: row for row in seen["status"]["tasks"]}
    assert rows["web"]["state"] == "running" and rows["worker"]["running"] is False
    assert seen["restart"]["started"] == ["web"]
    assert seen["wait"]["ok"] is True and seen["pid_changed"]
    assert seen["logs"].count("hello-from-web") == 2 and "coloured" in seen["logs"]
    assert not any("\x1b" in line for line in seen["logs"])
    assert [line for line in seen["grep"]["lines"] if line != "--"] == ["web | coloured"] * 2
    digest = seen["digest"]  # by default: both runs' lines as one line each, counted
    assert "hello-from-web  [x2]" in digest["digest"] and digest["lines_in"] == 4
    assert digest["next_cursor"] and digest["truncated"] is False
    assert {"started", "stopped"} <= {e["event"] for e in seen["events"]["events"]}

    bad = seen["bad"]
    assert bad.is_error and text(bad) == "E201: task 'nope' not found in taskmux.toml"
    bad_wait = seen["bad_wait"]
    assert bad_wait.is_error and text(bad_wait).startswith("E403: worker: not started")
    assert json.loads(texts(bad_wait)[1])["tasks"]["worker"]["met"] is False


def test_errors_and_a_hook_leave_the_session_intact(project: Project) -> None:
    """Tool errors are replies, not a broken session (a hook's output on stdout is the
    stdio test's: only there could it break one)."""
    project.write(
        """
        [tasks.noisy]
        command = "sleep 300"
        [hooks]
        before_start = "echo hook output on stdout"
        """
    )

    async def session(client: Client) -> None:
        started = data(await client.call_tool("start", {"tasks": ["noisy"]}))
        assert started["started"] == ["noisy"]
        since = await client.call_tool("logs", {"task": "noisy", "since": "yesterday-ish"})
        assert since.is_error and text(since).startswith("E100: ")
        pattern = await client.call_tool("logs", {"grep": "("})
        assert pattern.is_error and text(pattern).startswith("E601: ")
        health = data(await client.call_tool("health", {}))
        assert health["healthy"] is True and health["tasks"]["noisy"]["state"] == "running"
        stopped = data(await client.call_tool("stop", {}))
        assert stopped["session_ended"] is True

    run_with(in_process(project.config), session)
    wait_until(lambda: project.marked_processes() == [])


def test_resources_read_and_updated_after_a_stop(project: Project) -> None:
    """Both ways to subscribe, each from its own client of its own server: `resources/
    subscribe` on a 2025 protocol, a `subscriptions/listen` stream on 2026-07-28.
    Stopping a task (with the CLI) notifies both that `taskmux://status` changed."""
    from mcp.client.subscriptions import ResourceUpdated
    from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
    from mcp_types import ResourceUpdatedNotification, TextResourceContents

    project.write(
        """
        [tasks.a]
        command = "echo hello-from-a; sleep 300"
        [tasks.b]
        command = "sleep 300"
        """
    )
    assert project.run("start", "a").returncode == 0
    seen: dict[str, Any] = {}
    legacy_updates: list[str] = []
    legacy_updated = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            legacy_updates.append(message.params.uri)
            legacy_updated.set()

    async def main() -> None:
        async with (
            in_process(project.config) as client,
            in_process(project.config, mode="legacy", message_handler=on_message) as legacy,
        ):
            tools = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
            seen["hints"] = {name: hints.model_dump(by_alias=True) for name, hints in tools.items()}
            seen["resources"] = {str(r.uri) for r in (await client.list_resources()).resources}
            listed = await client.list_resource_templates()
            seen["templates"] = {t.uri_template for t in listed.resource_templates}

            async def read(uri: str) -> dict[str, Any]:
                contents = (await client.read_resource(uri)).contents[0]
                assert isinstance(contents, TextResourceContents)
                found: dict[str, Any] = json.loads(contents.text)
                return found

            seen["status"], seen["events"] = await read(STATUS), await read(EVENTS)
            with anyio.fail_after(10):  # until the collector has spooled the first line
                seen["logs"] = await read("taskmux://logs/a")
                while "hello-from-a" not in seen["logs"]["digest"]:
                    await anyio.sleep(0.05)
                    seen["logs"] = await read("taskmux://logs/a")
            with pytest.raises(MCPError) as unknown:
                await client.read_resource("taskmux://logs/nope")
            seen["unknown"] = unknown.value.error.message

            with warnings.catch_warnings():  # deprecated on 2026-07-28, still the 2025 way
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await legacy.subscribe_resource(STATUS)
            async with client.listen(resource_subscriptions=[STATUS, "taskmux://logs/a"]) as sub:
                seen["honored"] = sub.honored.resource_subscriptions
                await anyio.to_thread.run_sync(project.run, "stop", "a")
                listened: set[str] = set()
                with anyio.fail_after(10):
                    async for event in sub:
                        assert isinstance(event, ResourceUpdated)
                        listened.add(event.uri)
                        if listened == {STATUS, "taskmux://logs/a"}:
                            break
                    await legacy_updated.wait()

    anyio.run(main)

    assert seen["hints"]["status"]["readOnlyHint"] is True
    assert seen["hints"]["stop"]["destructiveHint"] is True
    assert seen["hints"]["ensure"]["idempotentHint"] is True
    assert seen["resources"] == {STATUS, EVENTS}
    assert seen["templates"] == {"taskmux://logs/{task}"}
    rows = {row["name"]: row for row in seen["status"]["tasks"]}
    assert rows["a"]["state"] == "running" and rows["b"]["running"] is False
    assert any(e["event"] == "started" and e["task"] == "a" for e in seen["events"]["events"])
    assert seen["logs"]["task"] == "a" and "hello-from-a" in seen["logs"]["digest"]
    assert seen["unknown"] == "E201: task 'nope' not found in taskmux.toml"
    assert set(seen["honored"]) == {STATUS, "taskmux://logs/a"}
    assert set(legacy_updates) == {STATUS}  # only what that client subscribed to


# A backtracking grep: the budget is test_logs.py's (in-process and through the CLI), its
# E602 tool error test_mcp_faces.py's.


def test_fit_keeps_the_newest_lines_within_the_budget() -> None:
    from taskmux.mcp.server import MAX_LOG_BYTES, _fit

    lines = [f"{n:04d} " + "x" * 95 for n in range(1000)]  # 101 bytes with the newline
    kept = _fit(lines, MAX_LOG_BYTES)
    assert kept == lines[-len(kept) :]
    assert (
        sum(len(line) + 1 for line in kept)
        <= MAX_LOG_BYTES
        < sum(len(line) + 1 for line in lines[-len(kept) - 1 :])
    )


# mcp install -------------------------------------------------------------------------


def _project_dir(tmp_path: Path) -> Path:
    (tmp_path / "taskmux.toml").write_text('name = "proj"\n')
    return tmp_path


def test_install_twice_keeps_one_entry_and_other_servers(tmp_path: Path) -> None:
    root = _project_dir(tmp_path)
    other = {"command": "npx", "args": ["-y", "some-server"], "env": {"TOKEN": "x"}}
    (root / ".mcp.json").write_text(json.dumps({"mcpServers": {"other": other}, "keep": [1, 2]}))
    for attempt in range(2):
        result = run_cli("mcp", "install", "claude", "--json", cwd=root)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["installed"][0]["changed"] is (attempt == 0)
    document = json.loads((root / ".mcp.json").read_text())
    assert document["keep"] == [1, 2]
    assert document["mcpServers"] == {
        "other": other,
        "taskmux": {"command": "taskmux", "args": ["mcp"]},
    }


def test_install_writes_each_clients_shape(tmp_path: Path, isolated_home: Path) -> None:
    root = _project_dir(tmp_path)
    codex = isolated_home / ".codex" / "config.toml"
    codex.parent.mkdir()
    codex.write_text('# my codex settings\nmodel = "o3"\n\n[mcp_servers.docs]\ncommand = "d"\n')
    clients = ["cursor", "gemini", "vscode", "opencode", "codex"]
    for _ in range(2):
        assert run_cli("mcp", "install", *clients, cwd=root).returncode == 0
    stdio = {"command": "taskmux", "args": ["mcp"]}
    assert json.loads((root / ".cursor/mcp.json").read_text())["mcpServers"]["taskmux"] == stdio
    gemini = json.loads((root / ".gemini/settings.json").read_text())
    assert gemini["mcpServers"]["taskmux"] == stdio
    vscode = json.loads((root / ".vscode/mcp.json").read_text())
    assert vscode["servers"]["taskmux"] == {"type": "stdio", **stdio}
    opencode = json.loads((root / "opencode.json").read_text())
    assert opencode["mcp"]["taskmux"]["command"] == ["taskmux", "mcp"]
    text = codex.read_text()
    assert text.startswith("# my codex settings\n") and text.count("[mcp_servers.taskmux]") == 1
    parsed = tomllib.loads(text)
    assert parsed["model"] == "o3" and parsed["mcp_servers"]["docs"] == {"command": "d"}
    assert parsed["mcp_servers"]["taskmux"] == stdio


def test_install_refuses_invalid_json_and_leaves_it(tmp_path: Path) -> None:
    root = _project_dir(tmp_path)
    broken = b'{"mcpServers": {"other": {"command": "x"},}\n'
    (root / ".mcp.json").write_bytes(broken)
    result = run_cli("mcp", "install", "claude", "--json", cwd=root)
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "E701" and ".mcp.json is not valid JSON" in error["message"]
    assert (root / ".mcp.json").read_bytes() == broken
    not_servers = run_cli("mcp", "install", "cursor", cwd=root)
    assert not_servers.returncode == 0  # a fresh file is fine
    (root / ".cursor/mcp.json").write_text('{"mcpServers": []}')
    wrong = run_cli("mcp", "install", "cursor", cwd=root)
    assert wrong.returncode == 2 and "E701" in wrong.stderr
    assert (root / ".cursor/mcp.json").read_text() == '{"mcpServers": []}'
    unknown = run_cli("mcp", "install", "emacs", cwd=root)
    assert unknown.returncode == 2 and "unknown MCP client 'emacs'" in unknown.stderr


def test_install_needs_a_project(tmp_path: Path) -> None:
    result = run_cli("mcp", "install", "claude", cwd=tmp_path)
    assert result.returncode == 2 and "E101" in result.stderr
    assert not (tmp_path / ".mcp.json").exists()
