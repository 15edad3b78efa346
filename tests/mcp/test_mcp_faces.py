"""The MCP tools (mcp/server.py) against a fake service, through the SDK's in-memory
client: no tmux, no subprocess. Each tool is built from its declaration, makes one
service call, and shapes the frozen result (or the error) for an agent's context. The
same tools against real tmux (in-process, and once over stdio) are test_mcp.py's."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import pytest
from fake_service import Call, Canned, FakeService
from mcp_client import call_tools, texts, tools, with_service
from mcp_client import data as read

from taskmux.errors import (
    InvalidPattern,
    PartialFailure,
    PatternTooSlow,
    TaskNotFound,
    WaitFailed,
)
from taskmux.logs.lines import LogLine
from taskmux.operations import OPERATIONS, Operation, offered
from taskmux.service.results import EventsResult, LogsResult, StatusResult

if TYPE_CHECKING:
    from mcp_types import CallToolResult

pytestmark = pytest.mark.xdist_group("mcp")  # one worker pays for importing the SDK

MCP_OPERATIONS = offered("mcp")


def _session(
    service: FakeService, calls: list[tuple[str, dict[str, Any]]], opened: list[str] | None = None
) -> list[CallToolResult]:
    """Each call through an in-memory MCP client; `opened` records which operation each
    service was opened for."""
    return call_tools(with_service(service, opened), calls)


def _required(operation: Operation) -> dict[str, Any]:
    values = {"str": "web", "names": ["web"], "int": 2}
    return {p.name: values[p.kind] for p in operation.params if p.required}


# Tools from the declaration ------------------------------------------------------------


@pytest.mark.parametrize("operation", MCP_OPERATIONS, ids=lambda op: op.name)
def test_each_tool_is_its_declaration(operation: Operation) -> None:
    tool = tools()[operation.name]
    assert tool.description == operation.summary
    schema = tool.input_schema
    offered_here = operation.params_on("mcp")
    assert set(schema.get("properties", {})) == {p.name for p in offered_here}
    assert sorted(schema.get("required", [])) == sorted(p.name for p in offered_here if p.required)
    for param in offered_here:
        prop = schema["properties"][param.name]
        assert prop["description"] == param.help
        if not param.required:
            assert prop["default"] == param.default, param.name
    hints = tool.annotations
    assert hints is not None and hints.read_only_hint is operation.read_only
    assert hints.open_world_hint is False
    if not operation.read_only:
        assert hints.destructive_hint is operation.destructive


def test_the_hints_on_the_wire() -> None:
    """The annotations as a client reads them (MCP's camelCase keys): reads are
    read-only; stop, restart and kill destructive; start, ensure, stop and kill idempotent."""
    read = {"readOnlyHint": True, "openWorldHint": False}

    def act(destructive: bool, idempotent: bool) -> dict[str, bool]:
        return {
            "readOnlyHint": False,
            "destructiveHint": destructive,
            "idempotentHint": idempotent,
            "openWorldHint": False,
        }

    wire = {
        name: tool.annotations.model_dump(by_alias=True, exclude_none=True)
        for name, tool in tools().items()
    }
    assert wire == {
        **dict.fromkeys(
            (
                "status",
                "inspect",
                "health",
                "graph",
                "logs",
                "events",
                "wait",
                "usage",
                "config_view",
            ),
            read,
        ),
        "start": act(destructive=False, idempotent=True),
        "ensure": act(destructive=False, idempotent=True),
        "stop": act(destructive=True, idempotent=True),
        "restart": act(destructive=True, idempotent=False),
        "kill": act(destructive=True, idempotent=True),
        "scale": act(destructive=True, idempotent=True),
    }


def test_the_tools_are_the_operations_offered_on_mcp() -> None:
    assert set(tools()) == {op.name for op in MCP_OPERATIONS}
    assert {"follow_logs", "env", "clear_logs", "ui_login", "add"}.isdisjoint(tools())


@pytest.mark.parametrize("operation", MCP_OPERATIONS, ids=lambda op: op.name)
def test_each_tool_is_one_service_call_with_the_declared_defaults(
    operation: Operation,
) -> None:
    shaped = {
        "status": StatusResult("p", True, ()),
        "logs": LogsResult(()),
        "events": EventsResult(()),
    }
    service = FakeService(answers=shaped)
    given = _required(operation)
    opened: list[str] = []
    (result,) = _session(service, [(operation.name, given)], opened)
    assert not result.is_error, texts(result)
    call = service.only_call()
    assert call.name == operation.name and opened == [operation.name]
    # Every declared param arrives, given or defaulted (the SDK fills in the schema's);
    # `logs` digests unless told `raw`.
    expected = operation.bind(given) | ({"digest": True} if operation.name == "logs" else {})
    assert call.params == expected


def test_the_service_is_opened_for_each_call_with_its_operation() -> None:
    opened: list[str] = []
    _session(FakeService(), [("status", {}), ("kill", {"task": "web"}), ("status", {})], opened)
    assert opened == ["status", "kill", "status"]
    assert OPERATIONS["status"].fallback and OPERATIONS["kill"].fallback  # looking, stopping


def test_per_call_options_reach_the_service_call() -> None:
    service = FakeService()
    _session(
        service,
        [
            ("start", {"tasks": ["web"], "kill_port": True, "with_deps": True}),
            ("restart", {"tasks": ["web"], "kill_port": True}),
            ("start", {"tasks": ["worker"]}),
        ],
    )
    first, second, third = service.calls
    assert first.params["kill_port"] is True and first.params["with_deps"] is True
    assert second.params == {
        "tasks": ["web"],
        "kill_port": True,
        "holder": None,
        "force": False,
        "cascade": False,
    }
    assert third.params["kill_port"] is False  # one call's option does not outlive it


def test_start_and_wait_get_the_servers_cancel_event_and_it_is_set_at_shutdown() -> None:
    service = FakeService(answers={"wait": Canned({"condition": "healthy", "tasks": {}})})
    _session(service, [("wait", {"tasks": ["web"]}), ("start", {}), ("status", {})])
    wait, start, status = service.calls
    assert isinstance(wait.extra["stop"], threading.Event)
    assert start.extra["stop"] is wait.extra["stop"]
    assert status.extra == {}
    assert wait.extra["stop"].is_set()  # the client left: waits still running end


def test_logs_are_bounded_for_an_agents_context() -> None:
    from taskmux.mcp.server import MAX_LOG_BYTES, MAX_LOG_LINES

    service = FakeService(answers={"logs": LogsResult(())})
    _session(
        service,
        [
            ("logs", {"task": "web", "lines": 5000, "raw": True}),
            ("logs", {"task": "web", "lines": 10, "raw": True}),
            ("logs", {"task": "web", "after": "end", "raw": True}),
            ("logs", {"task": "web", "lines": 5000}),  # a digest: bounded by its tokens
        ],
    )
    many, few, after, digest = service.calls
    assert many.params["lines"] == MAX_LOG_LINES and few.params["lines"] == 10
    assert many.extra == {} and after.extra == {"max_bytes": MAX_LOG_BYTES}
    assert digest.params["lines"] == 5000 and digest.params["digest"] is True


# Errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        TaskNotFound("task 'nope' not found in taskmux.toml"),
        InvalidPattern("invalid pattern '(': missing ), unterminated subpattern"),
        PatternTooSlow("pattern '(a+)+$' took longer than 0.3s"),
    ],
    ids=lambda e: e.code,
)
def test_a_taskmux_error_is_a_tool_error_led_by_its_code(error: Any) -> None:
    (result,) = _session(FakeService(answers={"inspect": error}), [("inspect", {"task": "nope"})])
    assert result.is_error
    assert texts(result) == [f"{error.code}: {error.message}"]


def test_a_partial_failure_adds_its_result_as_json() -> None:
    details = {"tasks": {"worker": {"met": False, "reason": "not started"}}}
    failure = PartialFailure(WaitFailed("worker: not started"), Canned(details))
    (result,) = _session(FakeService(answers={"wait": failure}), [("wait", {"tasks": ["worker"]})])
    assert result.is_error
    text, extra = texts(result)
    assert text == "E403: worker: not started" and json.loads(extra) == details


def test_a_param_out_of_its_declared_range_is_refused_by_code() -> None:
    # The schema carries types, choices and required params; bounds are the declaration's,
    # checked when the service is called.
    (result,) = _session(FakeService(), [("logs", {"context": -1})])
    assert result.is_error
    assert texts(result) == ["E505: logs: param 'context' must be at least 0"]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("inspect", {}),
        ("wait", {"tasks": ["web"], "condition": "soon"}),
        ("wait", {"tasks": "web"}),  # a list of names, not one
        ("logs", {"lines": "many"}),
        ("start", {"tasks": 5}),
    ],
)
def test_the_schema_refuses_wrong_arguments_before_the_service(
    name: str, arguments: dict[str, Any]
) -> None:
    service = FakeService()
    (result,) = _session(service, [(name, arguments)])
    assert result.is_error and service.calls == []


def test_an_unknown_tool_is_e504_as_an_unknown_api_command() -> None:
    (result,) = _session(FakeService(), [("nope", {})])
    assert result.is_error
    known = ", ".join(sorted(op.name for op in MCP_OPERATIONS))
    assert texts(result) == [f"E504: unknown tool 'nope' (known: {known})"]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("restart", {"kill_port": "yes"}),  # the SDK would coerce it to true
        ("start", {"kill_port": 1}),
        ("start", {"with_deps": "true"}),
        ("logs", {"lines": "5"}),  # the SDK would coerce it to 5
        ("logs", {"lines": 5.5}),
        ("stop", {"tasks": "web"}),
        ("inspect", {}),
        ("status", {"bogus": 1}),
    ],
)
def test_a_wrong_argument_is_refused_as_the_api_refuses_it(
    name: str, arguments: dict[str, Any]
) -> None:
    from taskmux.daemon.api import parse_request
    from taskmux.errors import TaskmuxError

    service = FakeService()
    (result,) = _session(service, [(name, arguments)])
    with pytest.raises(TaskmuxError) as api:
        parse_request(json.dumps({"command": name, "params": arguments}))
    assert api.value.code == "E505"
    assert result.is_error and service.calls == []
    assert texts(result) == [f"E505: {api.value.message}"]
    assert "\n" not in api.value.message


# Shaping results -----------------------------------------------------------------------


def test_status_rows_keep_the_facts_an_agent_acts_on() -> None:
    row = {
        "name": "web",
        "state": "exited 1",
        "running": False,
        "healthy": False,
        "health_failures": 0,
        "pid": None,
        "port": 8000,
        "exit_code": 1,
        "signal": None,
        "restart_count": 2,
        "gave_up": False,
        "manually_stopped": False,
        "depends_on": [],
        "command": "serve",
        "window_id": "@3",
    }
    status = StatusResult("proj", True, (row,), ("taskmux.toml: a warning",))
    (result,) = _session(FakeService(answers={"status": status}), [("status", {})])
    data = read(result)
    assert data["session"] == "proj" and data["config_warnings"] == ["taskmux.toml: a warning"]
    assert data["tasks"] == [
        {
            "name": "web",
            "state": "exited 1",
            "running": False,
            "healthy": False,
            "health_failures": 0,
            "port": 8000,
            "exit_code": 1,
            "restart_count": 2,
            "command": "serve",
        }
    ]


def _line(task: str, text: str, ts: float = 1_700_000_000.0) -> LogLine:
    return LogLine(task, ts, text, text.encode())


def test_logs_are_plain_lines_prefixed_by_task_when_merged() -> None:
    lines = (_line("web", "one"), None, _line("worker", "two"))
    service = FakeService(answers={"logs": LogsResult(lines)})
    merged, single = _session(
        service, [("logs", {"raw": True}), ("logs", {"task": "web", "raw": True})]
    )
    assert read(merged) == {"task": None, "lines": ["web | one", "--", "worker | two"]}
    assert read(single) == {"task": "web", "lines": ["one", "--", "two"]}


def test_a_long_line_is_cut_and_the_newest_lines_fit_the_budget() -> None:
    from taskmux.mcp.server import MAX_LINE_CHARS, MAX_LOG_BYTES

    long = _line("web", "x" * (MAX_LINE_CHARS + 500))
    many = tuple(_line("web", f"{n:05d} " + "y" * 194) for n in range(150))  # ~30 kB

    def logs(params: dict[str, Any], _extra: dict[str, Any]) -> LogsResult:
        return LogsResult((long,) if params["lines"] == 1 else many)

    service = FakeService(answers={"logs": logs})
    cut, fitted = _session(
        service,
        [
            ("logs", {"task": "web", "lines": 1, "raw": True}),
            ("logs", {"task": "web", "raw": True}),
        ],
    )
    (text,) = read(cut)["lines"]
    assert text == "x" * MAX_LINE_CHARS + "…"
    data = read(fitted)
    kept = data["lines"]
    assert sum(len(line.encode()) + 1 for line in kept) <= MAX_LOG_BYTES
    assert kept[-1].startswith("00149 ") and len(kept) < 150
    assert data["truncated"] == f"only the last {len(kept)} of 150 lines fit in 20 kB"


def test_a_page_after_a_cursor_keeps_its_cursor_and_flags() -> None:
    page = LogsResult((_line("web", "new"),), None, "CURSOR", True, ("worker",))
    service = FakeService(answers={"logs": page})
    (result,) = _session(service, [("logs", {"after": "OLD", "raw": True})])
    assert read(result) == {
        "task": None,
        "lines": ["web | new"],
        "next_cursor": "CURSOR",
        "more": True,
        "lost": ["worker"],
    }


def test_events_keep_the_newest_and_wait_says_ok() -> None:
    from taskmux.mcp.server import MAX_EVENTS

    events = EventsResult(tuple({"event": "started", "n": n} for n in range(MAX_EVENTS + 50)))
    wait = Canned({"condition": "healthy", "tasks": {"web": {"met": True}}})
    service = FakeService(answers={"events": events, "wait": wait})
    listed, waited = _session(service, [("events", {}), ("wait", {"tasks": ["web"]})])
    kept = read(listed)["events"]
    assert len(kept) == MAX_EVENTS and kept[0]["n"] == 50 and kept[-1]["n"] == MAX_EVENTS + 49
    assert read(waited) == {"ok": True, **wait.to_dict()}


def test_other_results_are_their_dict_as_compact_json() -> None:
    service = FakeService(answers={"kill": Canned({"task": "web", "was_running": True})})
    (result,) = _session(service, [("kill", {"task": "web"})])
    assert texts(result) == ['{"task":"web","was_running":true}']
    assert service.only_call() == Call("kill", {"task": "web", "holder": None, "force": False}, {})


def test_logs_digest_by_default_as_text_lines_with_counts() -> None:
    from taskmux.logs.digest import DigestPage, Line, digest

    texts = ["GET /a 200 3ms", "GET /a 200 5ms", "Error: boom", "    at f (x.js:1:1)"]
    page = DigestPage(digest([Line("web", "", t) for t in texts], 300), "CURSOR")
    service = FakeService(answers={"logs": page})
    (result,) = _session(service, [("logs", {"task": "web", "max_tokens": 300})])
    data = read(result)
    assert service.only_call().params["digest"] is True
    assert service.only_call().params["max_tokens"] == 300
    assert data["digest"] == page.digest.text().split("\n")
    assert data["digest"][0] == "## errors: 1 of 1 block" and "Error: boom" in data["digest"]
    assert data["lines_in"] == 4 and data["next_cursor"] == "CURSOR"
    assert data["task"] == "web" and "max_tokens" not in data


def test_digest_is_not_an_mcp_param_raw_is() -> None:
    service = FakeService()
    (result,) = _session(service, [("logs", {"digest": True})])
    assert result.is_error and service.calls == []
    assert texts(result) == ["E505: logs: unknown param(s) digest"]
