"""The daemon's request protocol (api.py) against a fake service: no tmux, no socket.

A message is parsed and checked against `operations.py`, makes one service call with the
params as given, and its frozen result or its error becomes the reply. The daemon around
it (handshake, event push, one reply per message on a real connection) is test_daemon.py's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from fake_service import Call, Canned, FakeService

from taskmux.daemon.api import COMMANDS, STREAMS, Api, Request
from taskmux.daemon.dashboard import web
from taskmux.errors import (
    InvalidPattern,
    PartialFailure,
    PatternTooSlow,
    TaskNotFound,
    WaitFailed,
)
from taskmux.operations import MAX_LINES, OPERATIONS, Operation, offered

SERVICE_COMMANDS = [op for op in offered("api") if op.name not in ("follow_events", "ui_login")]


def _answer(
    service: FakeService,
    message: Any,
    offered: frozenset[str] | None = None,
    own: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Request | None]:
    text = message if isinstance(message, str | bytes) else json.dumps(message)
    return asyncio.run(Api(lambda: service, own=own).answer(text, offered))


def _required(operation: Operation) -> dict[str, Any]:
    """The smallest params the declaration accepts."""
    values = {"str": "web", "names": ["web"], "int": 2}
    return {p.name: values[p.kind] for p in operation.params if p.required}


def test_the_commands_are_the_declared_operations_and_the_two_streams() -> None:
    declared = {op.name for op in offered("api")} - {"follow_events"}
    assert set(COMMANDS) == declared | {"subscribe", "unsubscribe"}
    for name in declared:
        assert COMMANDS[name] is OPERATIONS[name]
    assert set(STREAMS) == {"subscribe", "unsubscribe"}
    assert [p.name for p in STREAMS["subscribe"].params] == ["task"]


@pytest.mark.parametrize("operation", SERVICE_COMMANDS, ids=lambda op: op.name)
def test_each_command_is_one_service_call_and_its_result_is_the_reply(
    operation: Operation,
) -> None:
    result = Canned({"answer": operation.name, "nested": {"n": [1, 2]}})
    service = FakeService(answers={operation.name: result})
    params = _required(operation)
    reply, request = _answer(service, {"id": 7, "command": operation.name, "params": params})
    assert reply == {"id": 7, "ok": True, "result": result.to_dict()}
    assert request == Request(7, operation.name, params)
    # The params as given: the service fills in the declared defaults; no per-call extras.
    assert service.only_call() == Call(operation.name, params, {})


def test_defaults_are_the_declared_ones_and_given_params_pass_through() -> None:
    service = FakeService()
    _answer(service, {"command": "logs", "params": {"task": "web", "grep": "error"}})
    call = service.only_call()
    assert call.params == {"task": "web", "grep": "error"}
    assert call.bound["lines"] == OPERATIONS["logs"].default("lines") == 100
    assert call.bound["context"] == OPERATIONS["logs"].default("context") == 3


def test_per_call_options_reach_the_service_call() -> None:
    service = FakeService()
    start = {"tasks": ["web"], "kill_port": True, "with_deps": True, "wait": True, "timeout": 5}
    _answer(service, {"command": "start", "params": start})
    _answer(service, {"command": "restart", "params": {"kill_port": True}})
    _answer(service, {"command": "start", "params": {"tasks": ["worker"]}})
    first, second, third = service.calls
    assert first.params == start and first.bound["kill_port"] is True
    assert second == Call("restart", {"kill_port": True}, {})
    assert third.bound["kill_port"] is False  # one call's option does not outlive it


@pytest.mark.parametrize(
    ("message", "ident", "code"),
    [
        ("{not json", None, "E503"),
        (b"\xff\xfe", None, "E503"),
        ("[1, 2]", None, "E503"),
        ('"text"', None, "E503"),
        ('{"id": 1, "command": 5}', 1, "E503"),
        ('{"id": 1}', 1, "E503"),
        ('{"id": 2, "command": "reboot"}', 2, "E504"),
        ('{"id": 2, "command": "follow_events"}', 2, "E504"),  # the API's is `subscribe`
        ('{"id": 2, "command": "add", "params": {"task": "x", "command": "y"}}', 2, "E504"),
        ('{"id": 4, "command": "inspect"}', 4, "E505"),
        ('{"id": 4, "command": "inspect", "params": {"task": null}}', 4, "E505"),
        ('{"id": 5, "command": "logs", "params": {"lines": "ten"}}', 5, "E505"),
        ('{"id": 6, "command": "logs", "params": {"lines": true}}', 6, "E505"),
        ('{"id": 6, "command": "logs", "params": {"context": -1}}', 6, "E505"),
        (f'{{"id": 6, "command": "logs", "params": {{"lines": {MAX_LINES + 1}}}}}', 6, "E505"),
        ('{"id": 7, "command": "status", "params": [1]}', 7, "E505"),
        ('{"id": 8, "command": "status", "params": {"verbose": 1}}', 8, "E505"),
        (
            '{"id": 9, "command": "wait", "params": {"tasks": ["a"], "condition": "soon"}}',
            9,
            "E505",
        ),
        ('{"id": 9, "command": "wait", "params": {"tasks": ["a"], "timeout": 601}}', 9, "E505"),
        ('{"id": 10, "command": "start", "params": {"kill_port": "yes"}}', 10, "E505"),
        ('{"id": 10, "command": "start", "params": {"tasks": "web"}}', 10, "E505"),
        ('{"id": 11, "command": "subscribe", "params": {"task": 3}}', 11, "E505"),
    ],
)
def test_a_request_that_breaks_the_declaration_never_reaches_the_service(
    message: str, ident: Any, code: str
) -> None:
    service = FakeService()
    reply, request = _answer(service, message)
    assert reply["ok"] is False and request is None
    assert reply == {
        "id": ident,
        "ok": False,
        "error": {"code": code, "message": reply["error"]["message"]},
    }
    assert reply["error"]["message"]
    assert service.calls == []


def test_an_unknown_command_names_the_known_ones() -> None:
    reply, _ = _answer(FakeService(), {"command": "reboot"})
    message = reply["error"]["message"]
    assert message.startswith("unknown command 'reboot' (known: ")
    assert all(name in message for name in COMMANDS)


def test_a_bad_param_is_named() -> None:
    reply, _ = _answer(FakeService(), {"command": "logs", "params": {"context": -1}})
    assert reply["error"]["message"] == "logs: param 'context' must be at least 0"
    reply, _ = _answer(FakeService(), {"command": "kill"})
    assert reply["error"]["message"] == "kill: missing param 'task' (a string)"


def test_a_limited_connection_offers_only_its_commands() -> None:
    service = FakeService()
    reply, _ = _answer(
        service, {"id": "k", "command": "kill", "params": {"task": "web"}}, web.COMMANDS
    )
    assert reply["id"] == "k" and reply["error"]["code"] == "E506"
    assert "'kill' is not offered on this connection" in reply["error"]["message"]
    assert service.calls == []
    reply, _ = _answer(service, {"command": "stop", "params": {"tasks": ["web"]}}, web.COMMANDS)
    assert reply["ok"] and service.only_call().name == "stop"
    # A command the connection offers is still checked against its declaration.
    reply, _ = _answer(service, {"command": "stop", "params": {"tasks": 1}}, web.COMMANDS)
    assert reply["error"]["code"] == "E505"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TaskNotFound("task 'ghost' not found in taskmux.toml"), "E201"),
        (InvalidPattern("invalid pattern '(': missing )"), "E601"),
        (PatternTooSlow("pattern '(a+)+$' took longer than 0.3s"), "E602"),
    ],
)
def test_a_service_error_is_an_error_reply_with_its_code(error: Exception, code: str) -> None:
    service = FakeService(answers={"inspect": error})
    reply, request = _answer(service, {"id": 3, "command": "inspect", "params": {"task": "ghost"}})
    assert reply == {"id": 3, "ok": False, "error": {"code": code, "message": str(error)}}
    assert request is not None and request.command == "inspect"  # read, then refused


def test_a_partial_failure_sends_its_result_as_details() -> None:
    details = {"tasks": {"web": {"met": False, "reason": "not started"}}}
    failure = PartialFailure(WaitFailed("web: not started"), Canned(details))
    service = FakeService(answers={"wait": failure})
    reply, _ = _answer(service, {"id": 1, "command": "wait", "params": {"tasks": ["web"]}})
    assert reply == {
        "id": 1,
        "ok": False,
        "error": {"code": "E403", "message": "web: not started", "details": details},
    }


def test_a_bug_costs_one_reply_not_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    service = FakeService(answers={"status": RuntimeError("boom")})
    with caplog.at_level(logging.ERROR, logger="taskmux.daemon"):
        reply, request = _answer(service, {"id": "b", "command": "status"})
    assert reply == {
        "id": "b",
        "ok": False,
        "error": {"code": "E000", "message": "internal error: RuntimeError: boom"},
    }
    assert request is not None
    assert "command status failed" in caplog.text


def test_subscribe_checks_its_task_and_leaves_the_pushing_to_the_daemon() -> None:
    service = FakeService()
    reply, request = _answer(service, {"id": 1, "command": "subscribe", "params": {"task": "web"}})
    assert reply == {"id": 1, "ok": True, "result": {"subscribed": True, "task": "web"}}
    assert request == Request(1, "subscribe", {"task": "web"})  # the daemon subscribes after
    reply, _ = _answer(service, {"id": 2, "command": "subscribe"})
    assert reply["result"] == {"subscribed": True}
    reply, _ = _answer(service, {"id": 3, "command": "unsubscribe"})
    assert reply["result"] == {"subscribed": False}
    reply, request = _answer(service, {"id": 4, "command": "subscribe", "params": {"task": "x"}})
    assert reply["error"] == {"code": "E201", "message": "task 'x' not found in taskmux.toml"}
    assert service.calls == []  # a stream is no service operation


def test_the_daemons_own_operations_are_answered_without_the_service() -> None:
    service = FakeService()
    seen: list[dict[str, Any]] = []

    def login(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        return {"url": "http://127.0.0.1:1/login#x", "expires_in": 60.0}

    reply, _ = _answer(service, {"id": 1, "command": "ui_login"}, own={"ui_login": login})
    assert reply["result"] == {"url": "http://127.0.0.1:1/login#x", "expires_in": 60.0}
    assert seen == [{}] and service.calls == []
    reply, _ = _answer(service, {"command": "ui_login"}, web.COMMANDS, own={"ui_login": login})
    assert reply["error"]["code"] == "E506"  # never from the dashboard's connection


@pytest.mark.parametrize("ident", [1, "a-b", None, 2.5, [1], {"k": "v"}])
def test_the_reply_echoes_the_request_id(ident: Any) -> None:
    reply, _ = _answer(FakeService(), {"id": ident, "command": "status"})
    assert reply["id"] == ident and reply["ok"]
    reply, _ = _answer(FakeService(), {"id": ident, "command": "nope"})
    assert reply["id"] == ident and not reply["ok"]
