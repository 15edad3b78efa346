"""The faces agree: the CLI, the daemon's API and MCP give the same answers for one
project, and each offers what `operations.py` declares, with its defaults."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from daemon_helpers import (  # noqa: F401  (tmux_socket is a fixture)
    call,
    running_daemon,
    tmux_socket,
    wait_for,
    write_config,
)
from mcp_client import call_tools, in_process, texts, tools

from taskmux.cli.commands import app
from taskmux.daemon.api import COMMANDS
from taskmux.operations import OPERATIONS, offered

pytestmark = pytest.mark.xdist_group("mcp")  # one worker pays for importing the SDK

THREE = """
name = "{session}"
[tasks.good]
command = "sleep 300"
health_check = "true"
health_interval = 0.2
[tasks.bad]
command = "echo one; echo error here; echo three; echo four; sleep 300"
health_check = "false"
health_interval = 0.2
health_retries = 1
restart_policy = "no"
[tasks.manual]
command = "sleep 300"
auto_start = false
"""


def _cli(root: Path, *args: str) -> dict[str, Any]:
    result = run_cli(*args, "--json", cwd=root)
    assert "Traceback" not in result.stderr, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _mcp(root: Path, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[bool, str]]:
    """Each call through an MCP client of the project's own server, in this process."""
    results = call_tools(in_process(root / "taskmux.toml"), calls)
    return [(bool(result.is_error), "\n".join(texts(result))) for result in results]


def _facts(rows: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {r["name"]: (r["state"], r["running"], r.get("healthy")) for r in rows}


def test_one_project_gives_the_same_answers_through_every_face(
    tmp_path: Path,
    tmux_socket: str,  # noqa: F811
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, THREE.format(session=f"faces{tmp_path.name[-6:]}"))
    assert run_cli("start", cwd=root).returncode == 0  # good and bad; manual stays down

    with running_daemon(root) as daemon:  # its checks make good healthy, bad unhealthy

        def settled() -> bool:
            rows = {r["name"]: r for r in _cli(root, "status")["tasks"]}
            logged = run_cli("logs", "bad", cwd=root).stdout
            return (
                rows["bad"]["state"] == "unhealthy"
                and rows["good"]["healthy"] is True
                and ("four" in logged)
            )

        wait_for(settled, interval=0.2)
        cli_status = _cli(root, "status")
        cli_health = _cli(root, "health")
        grep = run_cli("logs", "bad", "-g", "error", "--json", cwd=root).stdout
        cli_logs = json.loads(grep)["lines"]
        api_status = call(daemon, "status")["result"]
        api_health = call(daemon, "health")
        api_logs = call(daemon, "logs", {"task": "bad", "grep": "error"})["result"]["lines"]
        api_wait = call(daemon, "wait", {"tasks": ["good"], "condition": "running", "timeout": 5})
        mcp = _mcp(
            root,
            [
                ("status", {}),
                ("health", {}),
                ("logs", {"task": "bad", "grep": "error", "raw": True}),
            ],
        )

    # status: same tasks, states and health keys everywhere
    mcp_status = json.loads(mcp[0][1])
    assert _facts(cli_status["tasks"]) == _facts(api_status["tasks"]) == _facts(mcp_status["tasks"])
    assert _facts(cli_status["tasks"])["manual"][0] == "not started"

    # health: one key (`healthy`), one verdict, one error code
    assert cli_health["ok"] is False and cli_health["error"]["code"] == "E404"
    assert api_health["ok"] is False and api_health["error"]["code"] == "E404"
    assert mcp[1][0] is True and mcp[1][1].startswith("E404:")
    mcp_health = json.loads(mcp[1][1].split("\n", 1)[1])
    for report in (cli_health, api_health["error"]["details"], mcp_health):
        assert report["healthy"] is False
        assert set(report["tasks"]) == {"good", "bad", "manual"}
        assert report["tasks"]["manual"]["healthy"] is None

    # logs -g: the same default context (3) around the match
    assert [r["line"] for r in cli_logs] == [r["line"] for r in api_logs]
    assert [r["line"] for r in cli_logs] == ["one", "error here", "three", "four"]
    assert json.loads(mcp[2][1])["lines"] == ["one", "error here", "three", "four"]

    # the API has wait
    assert api_wait["ok"] is True and api_wait["result"]["tasks"]["good"]["met"] is True


def test_every_face_offers_what_the_declaration_says() -> None:
    cli_commands = {
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    }
    cli_commands |= {g.name for g in app.registered_groups if g.name}
    cli_names = {"follow_logs": "logs", "follow_events": "events", "clear_logs": "logs"}
    cli_names |= {"import_file": "import", "export_systemd": "export", "export_compose": "export"}
    cli_names |= {"export_kubernetes": "export"}
    for op in offered("cli"):
        assert cli_names.get(op.name, op.name) in cli_commands, op.name
    assert {op.name for op in offered("api")} - {"follow_events"} <= set(COMMANDS)
    assert "subscribe" in COMMANDS and "wait" in COMMANDS
    assert set(tools()) == {op.name for op in offered("mcp")}
    assert "kill" in tools()
    for op in OPERATIONS.values():
        missing = [face for face in ("cli", "api", "mcp") if face not in op.faces]
        assert not missing or op.not_offered, f"{op.name} must say why it is not on {missing}"


def test_mcp_tools_take_their_schema_and_hints_from_the_declaration() -> None:
    listed = tools()
    logs = listed["logs"].input_schema["properties"]
    assert logs["context"]["default"] == OPERATIONS["logs"].default("context") == 3
    assert logs["lines"]["default"] == OPERATIONS["logs"].default("lines")
    assert listed["stop"].annotations is not None and listed["stop"].annotations.destructive_hint
    assert listed["status"].annotations is not None and listed["status"].annotations.read_only_hint
    assert listed["inspect"].input_schema["required"] == ["task"]


def test_cli_defaults_are_the_declared_ones() -> None:
    commands = {c.callback.__name__: c.callback for c in app.registered_commands if c.callback}
    checks = [("logs", "lines", "logs"), ("logs", "context", "logs"), ("events", "lines", "events")]
    for command, param, op in checks:
        default = inspect.signature(commands[command]).parameters[param].default
        assert default == OPERATIONS[op].default(param), (command, param)
    wait = inspect.signature(commands["wait"]).parameters["timeout"].default
    assert wait == OPERATIONS["wait"].default("timeout")


def test_the_api_checks_params_against_the_declaration() -> None:
    from taskmux.daemon.api import parse_request
    from taskmux.errors import BadParams

    for message in (
        {"command": "logs", "params": {"context": -1}},
        {"command": "wait", "params": {"tasks": "a"}},
        {"command": "wait", "params": {"tasks": ["a"], "condition": "soon"}},
        {"command": "start", "params": {"kill_port": "yes"}},
    ):
        try:
            parse_request(json.dumps(message))
        except BadParams as exc:
            assert exc.code == "E505"
        else:
            raise AssertionError(f"accepted {message}")
    assert parse_request(json.dumps({"command": "kill", "params": {"task": "a"}})).command == "kill"


COUNTER = """
name = "{session}"
[tasks.count]
command = "i=0; while true; i=$((i+1)); do echo line$i; sleep 0.05; done"
"""


def _numbers(lines: list[str]) -> list[int]:
    return [int(line.rsplit("line", 1)[1]) for line in lines]


def test_logs_after_a_cursor_through_the_api_and_mcp(
    tmp_path: Path,
    tmux_socket: str,  # noqa: F811
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, COUNTER.format(session=f"curs{tmp_path.name[-6:]}"))
    assert run_cli("start", cwd=root).returncode == 0
    with running_daemon(root) as daemon:
        first = call(daemon, "logs", {"task": "count", "after": "end"})["result"]
        assert first["lines"] == [] and first["next_cursor"]
        cursor: str = first["next_cursor"]
        seen: list[int] = []

        def polled_enough() -> bool:  # three polls at least: each returns only what is new
            nonlocal cursor
            page = call(daemon, "logs", {"task": "count", "after": cursor, "lines": 12})
            cursor = page["result"]["next_cursor"]
            seen.extend(_numbers([r["line"] for r in page["result"]["lines"]]))
            return len(seen) >= 30

        wait_for(polled_enough, timeout=20, interval=0.2)
        assert seen == list(range(seen[0], seen[0] + len(seen)))  # none twice, none skipped
    (reply,) = _mcp(root, [("logs", {"task": "count", "after": cursor, "raw": True})])
    page = json.loads(reply[1])
    more = _numbers(page["lines"])
    assert more and more[0] == seen[-1] + 1 and page["next_cursor"] != cursor


def test_the_lean_cli_reads_the_spellings_the_typer_commands_declare() -> None:
    """The lean dispatcher parses with `Param.flags` and `Param.argument`: for every param
    it answers, the Typer command takes exactly those spellings, as an option or an
    argument, with the declared default."""
    import typer.main

    from taskmux.cli import fast

    group = typer.main.get_command(app)
    assert isinstance(group, typer.main.TyperGroup)
    for word, (operation, answered, _handler) in fast.LEAN.items():
        command = group.commands[word]
        by_name = {param.name: param for param in command.params}
        for name in answered:
            declared = OPERATIONS[operation].param(name)
            click_param = by_name[name]
            if declared.argument:
                assert click_param.param_type_name == "argument", (word, name)
            else:
                assert set(click_param.opts) == set(declared.flags), (word, name)
                assert click_param.default == declared.default, (word, name)
        assert "--json" in by_name["json_out"].opts
