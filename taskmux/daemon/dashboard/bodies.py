"""A request with a body gets 405, not a dropped connection.

`websockets` parses only what a WebSocket handshake can be: a request with a body (a
POST from a form or a script) fails its parser, which then closes the connection
without a word. The dashboard's port answers every plain request, so before that parser
runs, this protocol reads the request's head and answers one that announces a body with
405 (only GET here). Imported only where the dashboard's listener is bound.
"""

from __future__ import annotations

import http
from collections.abc import Generator
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage
from websockets.http11 import Response
from websockets.server import ServerProtocol

from taskmux.daemon.dashboard.web import SECURITY_HEADERS

HEAD_LIMIT = 16 * 1024  # past this, the ordinary parser answers (it refuses long heads)
REFUSAL = b"only GET here: actions go over the page's WebSocket\n"


def announces_body(head: bytes) -> bool:
    """Whether a request's head (up to its blank line) says a body follows."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class _BodyAwareProtocol(ServerProtocol):
    def parse(self) -> Generator[None]:
        while b"\r\n\r\n" not in self.reader.buffer:
            if self.reader.eof or len(self.reader.buffer) > HEAD_LIMIT:
                break
            yield
        head = bytes(self.reader.buffer[:HEAD_LIMIT]).partition(b"\r\n\r\n")[0]
        if announces_body(head):
            self.handshake_exc = InvalidMessage("a request with a body (405)")
            headers = Headers(
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(REFUSAL))),
                    ("Connection", "close"),
                    *SECURITY_HEADERS,
                ]
            )
            status = http.HTTPStatus.METHOD_NOT_ALLOWED
            self.send_response(Response(status.value, status.phrase, headers, REFUSAL))
            yield
            return
        yield from super().parse()


class BodyAwareConnection(ServerConnection):
    """A ServerConnection whose protocol answers a request with a body with 405."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        protocol.__class__ = _BodyAwareProtocol  # same state, one more step before parsing
        protocol.parser = protocol.parse()
        next(protocol.parser)
        super().__init__(protocol, *args, **kwargs)
