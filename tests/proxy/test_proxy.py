"""The URL proxy (SPEC §14) on real sockets: a task's page, keep-alive, a stream that is
not buffered, a WebSocket echo, 503 for a stopped task, 404 for an unknown name, a Host
outside `.localhost` refused, and one proxy for two projects with a takeover."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from harness import Project, project, wait_until
from websockets.sync.client import connect

from taskmux.supervision.proxy.keeper import ProxyKeeper

__all__ = ["project"]

SERVER = """\
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(b"data: first\\n\\n")
            self.wfile.flush()
            time.sleep(30)  # the stream stays open: a buffering proxy would show nothing
            return
        if self.path.startswith("/echo"):  # what reached the task, as it reached it
            seen = {"path": self.path, "xff": self.headers.get_all("X-Forwarded-For") or []}
            body = json.dumps(seen).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = f"hello from {os.environ['TASKMUX_TASK']} {os.environ['TASKMUX_WORKTREE']} host={self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

print("serving", flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

ECHO = """\
import asyncio, os
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await ws.send(f"echo:{message}")

async def main():
    async with serve(echo, "127.0.0.1", int(os.environ["PORT"])):
        await asyncio.Future()

asyncio.run(main())
"""

CONFIG = f"""
[tasks.web]
command = "{sys.executable} server.py"
port = "auto"
health_tcp = true
stop_grace_period = 0.5

[tasks.ws]
command = "{sys.executable} echo.py"
port = "auto"
health_tcp = true
stop_grace_period = 0.5
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _setup(checkout: Project, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKMUX_PROXY_PORT", str(port))
    checkout.env["TASKMUX_PROXY_PORT"] = str(port)
    checkout.write(CONFIG)
    (checkout.root / "server.py").write_text(SERVER)
    (checkout.root / "echo.py").write_text(ECHO)


@pytest.fixture
def served(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Project, int]]:
    """The project started, and a proxy serving it on a free port."""
    port = free_port()
    _setup(project, port, monkeypatch)
    started = project.json("start", "--wait")
    assert started["ok"] is True, started
    keeper = ProxyKeeper(port, poll=0.05).start()
    try:
        assert keeper.serving.wait(5), keeper.problem
        yield project, port
    finally:
        keeper.stop()


def get(port: int, host: str, path: str = "/", accept: str = "*/*") -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host, "Accept": accept})
        reply = conn.getresponse()
        return reply.status, reply.getheader("Content-Type") or "", reply.read().decode()
    finally:
        conn.close()


def host_of(project: Project, task: str, port: int) -> str:
    return f"{task}.{project.session}.localhost:{port}".lower()


def test_a_named_url_reaches_the_task_with_keep_alive_streams_and_websockets(
    served: tuple[Project, int],
) -> None:
    project, port = served
    host = host_of(project, "web", port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(2):  # one connection, two requests: keep-alive
        conn.request("GET", "/", headers={"Host": host})
        reply = conn.getresponse()
        assert reply.status == 200
        assert reply.read().decode() == f"hello from web main host={host}"
    conn.request("GET", "/events", headers={"Host": host})
    reply = conn.getresponse()
    assert reply.status == 200 and reply.getheader("Content-Type") == "text/event-stream"
    assert reply.fp.readline().strip() != b""  # a chunk size line: the event came through
    conn.close()

    with (
        socket.create_connection(("127.0.0.1", port)) as sock,
        connect(f"ws://{host_of(project, 'ws', port)}/", sock=sock) as ws,
    ):
        ws.send("ping")
        assert ws.recv(timeout=5) == "echo:ping"

    rows = project.status()
    assert rows["web"]["url"] == f"http://{host}/"
    exported = project.json("env")["env"]
    assert exported["TASKMUX_URL_WEB"] == f"http://{host}/"
    assert f"http://{host}/" in project.run("status").stdout
    assert project.json("status")["urls_served"] is True


def test_status_says_when_nothing_serves_the_urls(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    _setup(project, port, monkeypatch)
    assert project.run("start").returncode == 0
    document = project.json("status")
    assert document["urls_served"] is False and document["tasks"][0]["url"]
    (note,) = document["session_notes"]
    assert "nothing serves the URLs now" in note
    assert "nothing serves the URLs now" in project.run("status").stdout
    assert project.service().status().to_dict()["urls_served"] is False  # the service path
    keeper = ProxyKeeper(port, poll=0.05).start()
    try:
        assert keeper.serving.wait(5), keeper.problem
        document = project.json("status")
        assert document["urls_served"] is True and "session_notes" not in document
    finally:
        keeper.stop()


def test_a_stopped_task_answers_503_an_unknown_name_404_and_a_foreign_host_is_refused(
    served: tuple[Project, int],
) -> None:
    project, port = served
    host = host_of(project, "web", port)
    assert project.json("stop", "web")["ok"] is True
    status, kind, body = get(port, host, accept="application/json")
    assert status == 503 and kind.startswith("application/json")
    down = json.loads(body)
    assert down["task"] == "web" and down["running"] is False and "state" in down
    assert isinstance(down["logs"], list) and down["logs"]
    status, kind, body = get(port, host, accept="text/html")
    assert status == 503 and kind.startswith("text/html") and "last log lines" in body

    status, _, body = get(port, f"nope.{project.session}.localhost", accept="application/json")
    assert status == 404
    assert f"http://{host_of(project, 'ws', port)}/" in json.loads(body)["urls"]
    status, _, body = get(port, "example.com")
    assert status == 421 and "only *.localhost" in body


def test_the_request_reaches_the_task_as_sent_and_with_our_forwarding_only(
    served: tuple[Project, int],
) -> None:
    project, port = served
    host = host_of(project, "web", port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    target = "/echo/x/../y//z?next=%2Fa%3Fb&q=%7E"
    conn.request("GET", target, headers={"Host": host, "X-Forwarded-For": "6.6.6.6"})
    reply = conn.getresponse()
    seen = json.loads(reply.read())
    conn.close()
    assert reply.status == 200 and seen == {"path": target, "xff": ["127.0.0.1"]}
    # An upgrade a task does not speak is a clear 502, not a crash of the proxy.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    upgrade = {"Host": host, "Upgrade": "websocket", "Connection": "Upgrade"}
    upgrade |= {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
    conn.request("GET", "/", headers=upgrade)
    reply = conn.getresponse()
    assert reply.status == 502 and "WebSocket refused" in reply.read().decode()
    conn.close()


def test_a_stopped_tasks_port_taken_by_a_stranger_is_never_reached(
    served: tuple[Project, int],
) -> None:
    """Its old port now serves something else: the name still answers 503, and the
    stranger hears nothing (nor the browser's cookies)."""
    project, port = served
    host = host_of(project, "web", port)
    task_port = project.status()["web"]["port"]
    assert project.json("stop", "web")["ok"] is True
    heard: list[str] = []

    class Stranger(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            heard.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    stranger = ThreadingHTTPServer(("127.0.0.1", task_port), Stranger)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    try:
        status, _, body = get(port, host, accept="application/json")
        assert status == 503 and json.loads(body)["running"] is False
        assert heard == []
    finally:
        stranger.shutdown()
        stranger.server_close()


def test_two_projects_share_one_proxy_and_it_moves_when_its_server_ends(
    project: Project, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    other = Project(tmp_path_factory.mktemp("other"), project.socket_name)
    try:
        for checkout in (project, other):
            _setup(checkout, port, monkeypatch)
            assert checkout.json("start", "web", "--wait")["ok"] is True
        first = ProxyKeeper(port, poll=0.05).start()
        assert first.serving.wait(5), first.problem
        second = ProxyKeeper(port, poll=0.05).start()  # a second supervisor: it waits
        try:
            assert not second.serving.is_set()
            for checkout in (project, other):
                status, _, body = get(port, host_of(checkout, "web", port))
                assert status == 200 and body.startswith("hello from web"), body
            first.stop()
            assert second.serving.wait(5), second.problem
            wait_until(lambda: get(port, host_of(other, "web", port))[0] == 200, timeout=5)
        finally:
            first.stop()
            second.stop()
    finally:
        other.cleanup()


def test_the_proxy_is_not_imported_by_other_commands(project: Project) -> None:
    project.write(CONFIG)
    code = "import sys; from taskmux.cli import entry; print('aiohttp' in sys.modules)"
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    assert out.stdout.strip() == "False"


def test_a_503_shows_no_line_the_proxy_cannot_redact(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task was given API_KEY where it started; the proxy's process has none, so it
    could not hide the value: the page withholds the lines rather than show it."""
    port = free_port()
    _setup(project, port, monkeypatch)
    project.write(
        CONFIG
        + """
        [tasks.keyed]
        command = "echo the key is $API_KEY; exec sleep 300"
        port = "auto"
        env = { API_KEY = "${API_KEY}" }
        stop_grace_period = 0.5
        """
    )
    monkeypatch.setenv("API_KEY", "supersecretvalue123")
    project.env["API_KEY"] = "supersecretvalue123"
    assert project.run("start", "keyed").returncode == 0
    wait_until(lambda: "the key is" in project.run("logs", "keyed").stdout)
    assert project.json("stop", "keyed")["ok"] is True
    monkeypatch.delenv("API_KEY")  # the proxy's environment lacks it
    keeper = ProxyKeeper(port, poll=0.05).start()
    try:
        assert keeper.serving.wait(5), keeper.problem
        status, _, body = get(port, host_of(project, "keyed", port), accept="application/json")
    finally:
        keeper.stop()
    down = json.loads(body)
    assert status == 503 and down["logs"] == [] and "supersecretvalue123" not in body
    assert "taskmux logs keyed" in down["logs_withheld"]
