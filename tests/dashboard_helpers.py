"""Plumbing for dashboard tests: the login link from `taskmux ui`, plain HTTP requests to
the dashboard's port, and its WebSocket with a cookie and an Origin."""

from __future__ import annotations

import http.client
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conftest import run_cli
from daemon_helpers import DaemonProcess


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def ui_link(root: Path) -> str:
    """`taskmux ui --json`: the one-time login URL."""
    result = run_cli("ui", "--json", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["opened"] is False, data
    return str(data["url"])


def get(port: int, path: str, headers: dict[str, str] | None = None) -> Reply:
    """One plain GET to the dashboard (Host 127.0.0.1:PORT, as a browser sends it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def log_in(url: str) -> tuple[int, str]:
    """Follow a login URL by hand: the port and the `name=value` of the session cookie."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port is not None
    reply = get(parts.port, f"{parts.path}?{parts.query}")
    assert reply.status == 303, reply
    return parts.port, reply.headers["set-cookie"].split(";")[0]


def ui_port(daemon: DaemonProcess) -> int:
    return int(daemon.info["ui_port"])


def open_socket(port: int, cookie: str | None, origin: str | None) -> Any:
    """The page's WebSocket (sync client): raises InvalidStatus when refused."""
    from websockets.sync.client import connect
    from websockets.typing import Origin

    headers = {"Cookie": cookie} if cookie else {}
    return connect(
        f"ws://127.0.0.1:{port}/ws",
        origin=Origin(origin) if origin else None,
        additional_headers=headers,
        open_timeout=10,
        max_size=None,
    )


def refused_status(port: int, cookie: str | None, origin: str | None) -> int:
    """The HTTP status of a refused WebSocket handshake (fails if it was accepted)."""
    from websockets.exceptions import InvalidStatus

    try:
        with open_socket(port, cookie, origin):
            pass
    except InvalidStatus as exc:
        return int(exc.response.status_code)
    raise AssertionError("the handshake was accepted")


def ask(websocket: Any, command: str, params: dict[str, Any] | None = None) -> Any:
    """One request over an open socket; its reply (skipping pushed events)."""
    ident = uuid.uuid4().hex
    websocket.send(json.dumps({"id": ident, "command": command, "params": params or {}}))
    while True:
        reply = json.loads(websocket.recv(timeout=30))
        if reply.get("id") == ident:
            return reply
