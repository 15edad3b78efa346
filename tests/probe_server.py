"""A small HTTP server in the test process that can be told what to answer.

Tests point a task's `health_url` at it and switch it between a good answer, a 500, a
wrong body, a slow answer, or a body that trickles out, while the probe runs.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# How often serve_forever looks for shutdown(): its default (0.5 s) is what each
# server's teardown waited.
SHUTDOWN_POLL = 0.02


@dataclass
class Answer:
    status: int = 200
    body: str = "ok: ready"
    delay: float = 0.0  # seconds before the response starts
    trickle: float = 0.0  # seconds between the body's bytes


class ProbeServer:
    def __init__(self) -> None:
        self.answer = Answer()
        self.requests = 0
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = server.answer
                server.requests += 1
                if answer.delay and server.stop.wait(answer.delay):
                    return
                body = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(body)))
                if answer.status in (301, 302):
                    self.send_header("Location", "/elsewhere")
                self.end_headers()
                try:
                    if answer.trickle:
                        for byte in body:
                            if server.stop.wait(answer.trickle):
                                return
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                    else:
                        self.wfile.write(body)
                except OSError:
                    return  # the probe gave up and closed the connection

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/health"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def probe_server() -> Iterator[ProbeServer]:
    server = ProbeServer()
    try:
        yield server
    finally:
        server.close()


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def elapsed(start: float) -> float:
    return time.monotonic() - start
