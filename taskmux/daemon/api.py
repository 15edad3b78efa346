"""The daemon's request protocol: parse a message, check it, make one service call.

A request is `{"id": ..., "command": ..., "params": {...}}`; the reply echoes the id with
`"ok": true, "result": ...` or `"ok": false, "error": {"code", "message"}` (plus
`"details"` when the operation partly failed). The commands and their params are the
operations of `operations/` offered on the API, checked against their declaration;
`subscribe`/`unsubscribe` (the API's `follow_events`) are the protocol's own. A search
of a whole log history runs in a worker process (`searches.py`), everything else in a
worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskmux.daemon.searches import Searches, is_search
from taskmux.errors import BadParams, BadRequest, NotOffered, TaskmuxError, UnknownCommand
from taskmux.operations import OPERATIONS, Operation, Param, offered

if TYPE_CHECKING:
    from taskmux.service import Service

# `follow_events` on the API: the daemon pushes events to a subscribed connection.
STREAMS: dict[str, Operation] = {
    "subscribe": Operation("subscribe", OPERATIONS["follow_events"].summary, (
        Param("task", "str", "Only this task's events."),
    )),
    "unsubscribe": Operation("unsubscribe", "Stop pushing events to this connection."),
}  # fmt: skip
log = logging.getLogger("taskmux.daemon")

COMMANDS: dict[str, Operation] = {
    **{op.name: op for op in offered("api") if op.name != "follow_events"},
    **STREAMS,
}


@dataclass(frozen=True)
class Request:
    id: Any
    command: str
    params: dict[str, Any]


def parse_request(message: str | bytes, offered: frozenset[str] | None = None) -> Request:
    """Decode and check one message; raise BadRequest/UnknownCommand/NotOffered/BadParams.

    `offered`: the only commands this connection may use, if it is limited.
    """
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"a request must be a JSON object, not {type(data).__name__}")
    command = data.get("command")
    params = data.get("params", {})
    if not isinstance(command, str):
        raise BadRequest("a request needs a string 'command'")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadParams("'params' must be a JSON object")
    if offered is not None and command not in offered:
        raise NotOffered(
            f"'{command}' is not offered on this connection (it offers: "
            f"{', '.join(sorted(offered))}); use the CLI or the token-guarded API"
        )
    check_params(command, params)
    return Request(data.get("id"), command, params)


def request_id(message: str | bytes) -> Any:
    """The id of a request, as far as one can be read, for the error reply."""
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        return None
    return data.get("id") if isinstance(data, dict) else None


def check_params(command: str, params: dict[str, Any]) -> None:
    operation = COMMANDS.get(command)
    if operation is None:
        known = ", ".join(sorted(COMMANDS))
        raise UnknownCommand(f"unknown command '{command}' (known: {known})")
    try:
        operation.bind(params)
    except ValueError as exc:
        raise BadParams(str(exc)) from None


def ok_reply(request_id: Any, result: Any) -> dict[str, Any]:
    return {"id": request_id, "ok": True, "result": result}


def error_reply(request_id: Any, error: TaskmuxError) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": error.to_dict()}


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class Api:
    """Runs requests against the service of the config currently in use.

    `own`: the daemon's own operations (declared for the API alone, such as `ui_login`),
    answered by the daemon on its event loop rather than by the service.
    """

    def __init__(
        self,
        service: Callable[[], Service],
        own: dict[str, Handler] | None = None,
        searches: Searches | None = None,
    ) -> None:
        self.service = service
        self.own = own or {}
        self.searches = searches  # where searches of a whole log history run (searches.py)

    async def call(self, request: Request) -> dict[str, Any]:
        """The command's result as plain data; raises TaskmuxError for the error reply."""
        if request.command in self.own:
            return self.own[request.command](request.params)
        if self.searches is not None and is_search(request.command, request.params):
            return await self.searches.run(request.params)
        service = self.service()
        if request.command in STREAMS:
            return await asyncio.to_thread(_check_stream, service, request.params)
        result = await asyncio.to_thread(service.call, request.command, request.params)
        data: dict[str, Any] = result.to_dict()
        return data

    async def answer(
        self, message: str | bytes, offered: frozenset[str] | None = None
    ) -> tuple[dict[str, Any], Request | None]:
        """The reply to one message, and its request when it could be read (None: the
        reply is the parse error). Never raises for a failing command: a bug costs one
        reply (E000), not the connection or the daemon.

        `offered`: the only commands this connection may use (the dashboard's), if limited.
        """
        try:
            request = parse_request(message, offered)
        except TaskmuxError as exc:
            return error_reply(request_id(message), exc), None
        try:
            result = await self.call(request)
        except TaskmuxError as exc:
            return error_reply(request.id, exc), request
        except Exception as exc:  # a bug must cost one reply, not the connection or the daemon
            log.exception("command %s failed", request.command)
            internal = TaskmuxError(f"internal error: {type(exc).__name__}: {exc}", code="E000")
            return error_reply(request.id, internal), request
        if request.command in STREAMS:
            result = {"subscribed": request.command == "subscribe", **request.params}
        return ok_reply(request.id, result), request


def _check_stream(service: Service, params: dict[str, Any]) -> dict[str, Any]:
    """`subscribe`: only validate the task filter (the daemon does the rest)."""
    if params.get("task") is not None:
        service.project.task(params["task"])
    return {}
