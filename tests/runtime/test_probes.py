"""The probes against real sockets: an HTTP server in the test that answers as told, a
listening socket, a closed port, a full accept queue; each within its timeout."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from probe_server import ProbeServer, elapsed, free_port, probe_server

from taskmux.config.schema import TaskConfig
from taskmux.runtime.probes import http_probe, run_probe, tcp_probe

__all__ = ["probe_server"]


def test_http_healthy_on_a_2xx_or_3xx_status(probe_server: ProbeServer) -> None:
    result = http_probe(probe_server.url, 2.0)
    assert result.healthy and result.kind == "http" and result.reason == "status 200"
    assert result.exit_code is None and result.duration < 2.0
    probe_server.answer.status = 302  # redirects are not followed: 3xx is a status
    assert http_probe(probe_server.url, 2.0).reason == "status 302"


def test_http_500_is_unhealthy_with_the_status_and_the_body(probe_server: ProbeServer) -> None:
    probe_server.answer.status = 500
    probe_server.answer.body = "Traceback: ImportError: no module named app"
    result = http_probe(probe_server.url, 2.0)
    assert not result.healthy
    assert result.reason == "status 500 (expected 200-399)"
    assert "ImportError" in result.output  # the start of the body, for `wait` to show


def test_http_expected_statuses(probe_server: ProbeServer) -> None:
    assert not http_probe(probe_server.url, 2.0, frozenset({204})).healthy
    probe_server.answer.status = 503
    result = http_probe(probe_server.url, 2.0, frozenset({200, 503}))
    assert result.healthy and result.reason == "status 503"
    assert http_probe(probe_server.url, 2.0, frozenset({200})).reason == (
        "status 503 (expected 200)"
    )


def test_http_body_must_match(probe_server: ProbeServer) -> None:
    result = http_probe(probe_server.url, 2.0, body_pattern=r"ok: \w+")
    assert result.healthy and result.reason == r"status 200, body matched /ok: \w+/"
    probe_server.answer.body = "<h1>Compile error</h1> in App.tsx"
    wrong = http_probe(probe_server.url, 2.0, body_pattern=r"ok: \w+")
    assert not wrong.healthy
    assert wrong.reason == r"status 200, body did not match /ok: \w+/"
    assert "Compile error" in wrong.output


def test_http_connection_refused() -> None:
    port = free_port()
    result = http_probe(f"http://127.0.0.1:{port}/", 2.0)
    assert not result.healthy and result.reason == "connection refused"


@pytest.mark.parametrize("slow", ["delay", "trickle"])
def test_http_probe_honours_its_timeout_as_a_whole(probe_server: ProbeServer, slow: str) -> None:
    if slow == "delay":
        probe_server.answer.delay = 5.0
    else:  # every byte arrives in time for a per-read timeout, but the whole is too late
        probe_server.answer.body = "x" * 100
        probe_server.answer.trickle = 0.05
    began = time.monotonic()
    result = http_probe(probe_server.url, 0.5, body_pattern="never")
    assert elapsed(began) < 1.5
    assert not result.healthy and result.timed_out
    assert result.reason == "timed out after 0.5s"


def test_tcp_probe_open_and_closed_ports() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = tcp_probe(port, 1.0)
        assert result.healthy and result.kind == "tcp"
        assert result.reason == f"port {port} accepted a connection"
    closed = tcp_probe(port, 1.0)
    assert not closed.healthy and closed.reason == f"connection refused on port {port}"


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A port whose accept queue is full: connecting hangs (the SYN is dropped)."""
    listener = socket.socket()
    clients: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(3):  # fill the queue; later connects time out
            client = socket.socket()
            client.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                client.connect(("127.0.0.1", port))
            clients.append(client)
        yield port
    finally:
        for client in clients:
            client.close()
        listener.close()


def test_tcp_probe_honours_its_timeout(full_listener: int) -> None:
    began = time.monotonic()
    result = tcp_probe(full_listener, 0.4)
    assert 0.3 < elapsed(began) < 1.5
    assert not result.healthy and result.timed_out and result.reason == "timed out after 0.4s"


def test_run_probe_picks_the_task_probe(probe_server: ProbeServer, tmp_path: Path) -> None:
    assert run_probe(TaskConfig(command="x"), tmp_path) is None  # alive is healthy
    http = TaskConfig(command="x", health_url=probe_server.url, health_expect_body="^nope$")
    result = run_probe(http, tmp_path)
    assert result is not None and result.kind == "http" and "did not match" in result.reason
    command = TaskConfig(command="x", health_check="echo warming; exit 3")
    checked = run_probe(command, tmp_path)
    assert checked is not None and checked.reason == "exited 3: warming"
    slow = TaskConfig(command="x", health_check="sleep 5", health_timeout=0.3)
    began = time.monotonic()
    timed = run_probe(slow, tmp_path)
    assert elapsed(began) < 2 and timed is not None and timed.timed_out
    assert timed.reason == "health check timed out after 0.3s"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        own = TaskConfig(command="x", port=port, health_tcp=True)
        assert own.tcp_port == port
        tcp = run_probe(own, tmp_path)
        assert tcp is not None and tcp.healthy and tcp.kind == "tcp"
