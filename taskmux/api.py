"""The daemon's request protocol: parse a message, check its params, run the command.

A request is `{"id": ..., "command": ..., "params": {...}}`; the reply echoes the id with
`"ok": true, "result": ...` or `"ok": false, "error": {"code", "message"}`. Each command
is a plain blocking function of (lifecycle, params); `Api.call` runs it in a worker
thread so the event loop never waits on tmux, a health check or a slow stop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskmux.errors import TaskmuxError
from taskmux.lifecycle import Lifecycle, StartReport

MAX_LOG_LINES = 10_000


class BadRequest(TaskmuxError):
    """The message is not JSON, or not a JSON object with a string `command`."""

    code = "E503"


class UnknownCommand(TaskmuxError):
    code = "E504"


class BadParams(TaskmuxError):
    """A param is missing, unknown, or of the wrong type."""

    code = "E505"


class ActionFailed(TaskmuxError):
    """A lifecycle action partly failed; `details` is its report, sent with the error."""

    def __init__(self, error: TaskmuxError, details: dict[str, Any]) -> None:
        super().__init__(error.message, code=error.code)
        self.details = details

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "details": self.details}


@dataclass(frozen=True)
class Request:
    id: Any
    command: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Param:
    """One accepted param: its JSON type and whether it must be present."""

    kind: type
    required: bool = False

    def accepts(self, value: Any) -> bool:
        if self.kind is int:
            return isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if self.kind is list:
            return isinstance(value, list) and all(isinstance(v, str) for v in value)
        return isinstance(value, self.kind)

    def describe(self) -> str:
        return {int: "a non-negative integer", list: "a list of strings", str: "a string"}.get(
            self.kind, self.kind.__name__
        )


TASKS = {"tasks": Param(list)}
ONE_TASK = {"task": Param(str, required=True)}
SIGNATURES: dict[str, dict[str, Param]] = {
    "status": {},
    "start": TASKS,
    "stop": TASKS,
    "restart": TASKS,
    "kill": ONE_TASK,
    "inspect": ONE_TASK,
    "health": {},
    "logs": {
        "task": Param(str),
        "lines": Param(int),
        "since": Param(str),
        "grep": Param(str),
        "context": Param(int),
    },
    "events": {"task": Param(str), "since": Param(str), "lines": Param(int)},
    "subscribe": {"task": Param(str)},
    "unsubscribe": {},
}


def parse_request(message: str | bytes) -> Request:
    """Decode and shape-check one message; raise BadRequest/UnknownCommand/BadParams."""
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"a request must be a JSON object, not {type(data).__name__}")
    request_id = data.get("id")
    command = data.get("command")
    params = data.get("params", {})
    if not isinstance(command, str):
        raise BadRequest("a request needs a string 'command'")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadParams("'params' must be a JSON object")
    check_params(command, params)
    return Request(request_id, command, params)


def request_id(message: str | bytes) -> Any:
    """The id of a request, as far as one can be read, for the error reply."""
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        return None
    return data.get("id") if isinstance(data, dict) else None


def check_params(command: str, params: dict[str, Any]) -> None:
    signature = SIGNATURES.get(command)
    if signature is None:
        known = ", ".join(sorted(SIGNATURES))
        raise UnknownCommand(f"unknown command '{command}' (known: {known})")
    unknown = sorted(set(params) - set(signature))
    if unknown:
        raise BadParams(f"{command}: unknown param(s) {', '.join(unknown)}")
    for name, param in signature.items():
        if name not in params:
            if param.required:
                raise BadParams(f"{command}: missing param '{name}' ({param.describe()})")
            continue
        if not param.accepts(params[name]):
            raise BadParams(f"{command}: param '{name}' must be {param.describe()}")


def ok_reply(request_id: Any, result: Any) -> dict[str, Any]:
    return {"id": request_id, "ok": True, "result": result}


def error_reply(request_id: Any, error: TaskmuxError) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": error.to_dict()}


# Commands: blocking functions of (lifecycle, params), run in a worker thread ----------


def _names(params: dict[str, Any]) -> list[str] | None:
    tasks = params.get("tasks")
    return list(tasks) if tasks else None


def _start_result(report: StartReport) -> dict[str, Any]:
    error = report.error()
    if error is not None:
        raise ActionFailed(error, report.to_dict())
    return report.to_dict()


def cmd_status(lifecycle: Lifecycle, _params: dict[str, Any]) -> dict[str, Any]:
    from taskmux.status import status_rows

    observation = lifecycle.observe()
    return {
        "session": observation.session,
        "session_running": observation.session_exists,
        "tasks": status_rows(lifecycle.project, observation),
    }


def cmd_start(lifecycle: Lifecycle, params: dict[str, Any]) -> dict[str, Any]:
    return _start_result(lifecycle.start(_names(params)))


def cmd_restart(lifecycle: Lifecycle, params: dict[str, Any]) -> dict[str, Any]:
    return _start_result(lifecycle.restart(_names(params)))


def cmd_stop(lifecycle: Lifecycle, params: dict[str, Any]) -> dict[str, Any]:
    report = lifecycle.stop(_names(params))
    if report.failed:
        raise ActionFailed(TaskmuxError("; ".join(report.failed.values())), report.to_dict())
    return report.to_dict()


def cmd_kill(lifecycle: Lifecycle, params: dict[str, Any]) -> dict[str, Any]:
    task = params["task"]
    return {"task": task, "was_running": lifecycle.kill(task)}


def cmd_inspect(lifecycle: Lifecycle, params: dict[str, Any]) -> dict[str, Any]:
    """The same record as `taskmux inspect --json`."""
    from taskmux.status import inspect_row

    return inspect_row(lifecycle.project, params["task"], lifecycle.observe())


def cmd_health(lifecycle: Lifecycle, _params: dict[str, Any]) -> dict[str, Any]:
    results = lifecycle.health()
    return {
        "healthy": all(r.healthy for r in results.values()),
        "tasks": {name: r.to_dict() for name, r in results.items()},
    }


def cmd_logs(lifecycle: Lifecycle, params: dict[str, Any]) -> dict[str, Any]:
    """Like `taskmux logs --json`: the last `lines` lines (or matches, with `grep`)."""
    from taskmux import logs

    project = lifecycle.project
    names = [params["task"]] if "task" in params else list(project.config.tasks)
    project.check_names(names)
    count = params.get("lines", 100)
    if count > MAX_LOG_LINES:
        raise BadParams(f"logs: at most {MAX_LOG_LINES} lines per request")
    pattern = logs.compile_pattern(params["grep"]) if "grep" in params else None
    since = logs.parse_since(params["since"]) if "since" in params else None
    task_logs = [logs.TaskLog(name, project.paths.log_file(name)) for name in names]
    items = logs.query(task_logs, count, pattern, params.get("context", 0), since)
    lines = []
    for item in items:
        if item is None:
            continue  # the gap between grep groups
        record: dict[str, Any] = {"task": item.task, "ts": item.stamp, "line": item.text}
        if pattern is not None:
            record["match"] = pattern.search(item.text) is not None
        lines.append(record)
    return {"lines": lines}


def cmd_events(lifecycle: Lifecycle, params: dict[str, Any]) -> dict[str, Any]:
    """Like `taskmux events --json`: the last `lines` events, optionally of one task."""
    from taskmux.logs import parse_since

    task = params.get("task")
    if task is not None:
        lifecycle.project.task(task)
    since = parse_since(params["since"]) if "since" in params else None
    return {"events": lifecycle.events.select(task, since, params.get("lines", 50))}


def check_task(lifecycle: Lifecycle, params: dict[str, Any]) -> dict[str, Any]:
    """For `subscribe`: only validate the task filter (the daemon does the rest)."""
    if "task" in params:
        lifecycle.project.task(params["task"])
    return {}


COMMANDS: dict[str, Callable[[Lifecycle, dict[str, Any]], dict[str, Any]]] = {
    "status": cmd_status,
    "start": cmd_start,
    "stop": cmd_stop,
    "restart": cmd_restart,
    "kill": cmd_kill,
    "inspect": cmd_inspect,
    "health": cmd_health,
    "logs": cmd_logs,
    "events": cmd_events,
    "subscribe": check_task,
    "unsubscribe": check_task,
}


class Api:
    """Runs commands against the lifecycle of the config currently in use."""

    def __init__(self, current: Callable[[], Lifecycle]) -> None:
        self.current = current

    async def call(self, request: Request) -> dict[str, Any]:
        """The command's result; raises TaskmuxError for the error reply."""
        handler = COMMANDS[request.command]
        return await asyncio.to_thread(handler, self.current(), request.params)
