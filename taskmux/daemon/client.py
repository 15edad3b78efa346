"""A one-request client of the project's running daemon, for CLI commands that need it.

It reads where the daemon listens from its state file and the token from the token file
(refused unless private: see `running_daemon`), sends the token in the handshake's
`Authorization` header, makes one request and returns its result; an error reply is
raised as the error it names.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from taskmux.daemon.statefile import DaemonInfo, running_daemon
from taskmux.errors import DaemonNotRunning, TaskmuxError
from taskmux.statedir.paths import ProjectPaths

TIMEOUT = 10.0


def call(
    paths: ProjectPaths, command: str, params: dict[str, Any] | None = None
) -> tuple[DaemonInfo, dict[str, Any]]:
    """The daemon's info and its result for one command (raises TaskmuxError)."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    info = running_daemon(paths)
    token = Path(info.token_file).read_text(encoding="utf-8").strip()
    ident = uuid.uuid4().hex
    try:
        with connect(
            info.url,
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=TIMEOUT,
            max_size=None,
            compression=None,
        ) as websocket:
            websocket.send(json.dumps({"id": ident, "command": command, "params": params or {}}))
            while True:
                reply = json.loads(websocket.recv(timeout=TIMEOUT))
                if reply.get("id") == ident:
                    break
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise DaemonNotRunning(
            f"the daemon (pid {info.pid}) did not answer on {info.url}: {exc}"
        ) from None
    if not reply.get("ok"):
        error = reply.get("error") or {}
        raise TaskmuxError(str(error.get("message", "the daemon refused")), code=error.get("code"))
    result: dict[str, Any] = reply.get("result") or {}
    return info, result
