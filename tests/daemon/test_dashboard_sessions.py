"""The dashboard's server side, round two: sessions that expire, end on logout and outlive
a daemon restart; refusals logged as a summary; 405 for a request with a body; the page's
socket refusing `kill_port`; requests on one connection answered as each is done; the usage
and config views."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import (  # noqa: F401  (tmux_socket is a fixture)
    client,
    running_daemon,
    start_tasks,
    tmux_socket,
    wait_for,
    write_config,
)
from dashboard_helpers import ask, get, log_in, open_socket, ui_link, ui_port

from taskmux.config.project import Project
from taskmux.daemon.dashboard.bodies import announces_body
from taskmux.daemon.dashboard.logins import MAX_SESSIONS, Logins
from taskmux.daemon.dashboard.web import Gate, QuietLog, refused_param
from taskmux.service import Service
from taskmux.service.views import UsageMeter, config_view
from taskmux.statedir.paths import ProjectPaths

PROJECT = """
name = "sess{suffix}"
env = {{ API_TOKEN = "abcdef123456", PLAIN = "shown" }}

[tasks.api]
command = "sleep 300"
env = {{ DB_URL = "postgres://me:hunter22@db/app", MODE = "dev", OWN = "mine-secret-1" }}
secrets = ["OWN"]

[tasks.worker]
command = "sleep 300"
depends_on = ["api"]
"""


class Headers(dict[str, list[str]]):
    def get_all(self, key: str) -> list[str]:
        return self.get(key, [])


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def project(tmp_path: Path, tmux_socket: str) -> Path:  # noqa: F811
    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, PROJECT.format(suffix=tmp_path.name[-6:]))
    return root


# The pure parts ---------------------------------------------------------------------


def test_sessions_expire_end_on_logout_and_are_kept_hashed_in_a_private_file(
    tmp_path: Path,
) -> None:
    clock, store = Clock(), tmp_path / "sessions.json"
    logins = Logins(clock=clock, session_ttl=100.0, store=store)
    first = logins.redeem(logins.mint())
    second = logins.redeem(logins.mint())
    assert first and second and logins.valid(first) and logins.valid(second)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert first not in store.read_text() and second not in store.read_text()

    again = Logins(clock=clock, session_ttl=100.0, store=store)  # a restarted daemon
    assert again.valid(first) and again.valid(second)
    assert again.end(first) and not again.valid(first) and not again.end(first)
    assert not Logins(clock=clock, store=store).valid(first)  # the logout was saved
    clock.now += 100.0
    assert not again.valid(second)  # expired
    assert Logins(clock=clock, store=store).sessions == {}


def test_the_65th_login_ends_the_oldest_session_and_says_so() -> None:
    clock = Clock()
    logins = Logins(clock=clock)
    sessions = []
    for _ in range(MAX_SESSIONS):
        sessions.append(logins.redeem(logins.mint()))
        clock.now += 1
    assert logins.ended_oldest == 0
    gate = Gate(logins, port=40123, files={})
    login = gate.decide("GET", f"/login?code={logins.mint()}", Headers(Host=["127.0.0.1:40123"]))
    assert login is not None and login.status == 303
    assert f"the oldest session was ended: {MAX_SESSIONS} are kept at most" in login.note
    assert logins.ended_oldest == 0  # said once
    assert not logins.valid(sessions[0])
    newest = logins.redeem(logins.mint())
    assert logins.ended_oldest == 1
    assert newest and logins.valid(newest) and not logins.valid(sessions[1])
    assert all(logins.valid(s) for s in sessions[2:])


def test_refusals_are_logged_as_a_summary() -> None:
    quiet = QuietLog(every=60.0)
    lines = [quiet.note("refused x", 1000.0 + i * 0.01) for i in range(500)]
    assert lines[0] == "refused x" and lines[1:] == [None] * 499
    assert quiet.note("refused y", 1010.0) == "refused y"  # another kind: its own line
    assert quiet.note("refused x", 1060.0) == (
        "refused x (and 499 more like it since the last such line)"
    )


def test_what_the_page_may_not_send() -> None:
    assert refused_param({"tasks": ["a"], "kill_port": True}) == "kill_port"
    assert refused_param({"tasks": ["a"], "kill_port": False}) is None
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5"
    assert announces_body(head)
    assert announces_body(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked")
    assert not announces_body(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0")


def test_usage_measures_a_task_process_tree(tmp_path: Path) -> None:
    busy = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 5\nwhile time.time() < end: pass"],
        start_new_session=True,
    )
    try:
        status = type("S", (), {"tasks": ({"name": "busy", "running": True, "pid": busy.pid},)})
        meter = UsageMeter(fresh=0.0)
        paths = ProjectPaths(tmp_path)
        first = meter.measure(lambda: status, paths, 0.0).tasks[0]  # type: ignore[arg-type, return-value]
        assert first.task == "busy" and first.processes == 1 and first.memory_bytes > 1_000_000

        def busy_seen() -> bool:
            look = meter.measure(lambda: status, paths, time.monotonic())  # type: ignore[arg-type, return-value]
            return look.tasks[0].cpu_percent > 20

        wait_for(busy_seen, timeout=4, interval=0.2)
        cached = UsageMeter(fresh=60.0)
        once = cached.measure(lambda: status, paths, 5.0)  # type: ignore[arg-type, return-value]
        assert cached.measure(lambda: 1 / 0, paths, 6.0) is once  # type: ignore[arg-type, return-value]
    finally:
        busy.kill()
        busy.wait()


def test_the_config_view_redacts_secret_values(project: Path) -> None:
    from taskmux.config.project import load_project

    loaded: Project = load_project(project / "taskmux.toml")
    view = config_view(loaded).to_dict()
    text = json.dumps(view)
    for secret in ("abcdef123456", "hunter22", "mine-secret-1"):
        assert secret not in text
    assert view["config"]["env"] == {"API_TOKEN": "[redacted:API_TOKEN]", "PLAIN": "shown"}
    assert view["config"]["tasks"]["api"]["env"]["MODE"] == "dev"
    assert view["config"]["tasks"]["api"]["env"]["OWN"] == "[redacted:OWN]"
    assert view["config"]["tasks"]["worker"]["depends_on"]
    assert Service.call  # the operation is the service's (API and MCP offer it)


# A real daemon ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/", body=body, headers={"Host": f"127.0.0.1:{port}"})
        return connection.getresponse().status
    finally:
        connection.close()


async def _slow_then_fast(daemon: Any) -> list[tuple[str, float]]:
    """On one API connection: a request that takes 1 s, then a quick one; the order and
    time of their replies (a quick reply held behind the slow one comes after 1 s)."""
    async with client(daemon) as websocket:
        slow = {"tasks": ["api"], "condition": "exited", "timeout": 1.0}
        await websocket.send(json.dumps({"id": "slow", "command": "wait", "params": slow}))
        await websocket.send(json.dumps({"id": "fast", "command": "status"}))
        order: list[tuple[str, float]] = []
        started = time.monotonic()
        while len(order) < 2:
            reply = json.loads(await asyncio.wait_for(websocket.recv(), 10))
            if "id" in reply:
                order.append((reply["id"], time.monotonic() - started))
        return order


def test_the_page_socket_session_logout_and_a_daemon_restart(project: Path) -> None:
    start_tasks(project)
    ui = _free_port()
    with running_daemon(project, "--ui-port", str(ui)) as daemon:
        port, cookie = log_in(ui_link(project))
        kept = log_in(ui_link(project))[1]  # a second tab's session, to outlive a restart
        assert _post(port, b"a=1") == 405
        origin = f"http://127.0.0.1:{port}"
        with open_socket(port, cookie, origin) as websocket:
            reply = ask(websocket, "restart", {"tasks": ["api"], "kill_port": True})
            assert reply["error"]["code"] == "E506" and "kill_port" in reply["error"]["message"]
            usage = ask(websocket, "usage")["result"]["tasks"]
            assert {u["task"] for u in usage} == {"api", "worker"}
            assert all(u["memory_bytes"] > 0 for u in usage)
            shown = ask(websocket, "config_view")["result"]
            assert "abcdef123456" not in json.dumps(shown) and shown["config"]["tasks"]["api"]
            assert ask(websocket, "logout")["result"] == {"logged_out": True}
            wait_for(lambda: websocket.close_code == 4001, timeout=5)
        assert get(port, "/", {"Cookie": cookie}).status == 401
        order = asyncio.run(_slow_then_fast(daemon))
        assert [ident for ident, _ in order] == ["fast", "slow"], order  # each when done
        assert order[0][1] < 1.0, order
        for _ in range(30):
            assert get(port, "/", {"Cookie": "nothing=1"}).status == 401
        refusals = daemon.log_text.count("refused a dashboard request without a session")
        assert refusals == 1, daemon.log_text
        assert "dashboard logout" in daemon.log_text
    with running_daemon(project, "--ui-port", str(ui)) as daemon:
        assert ui_port(daemon) == ui
        assert get(ui, "/", {"Cookie": kept}).status == 200  # no new login after a restart
        assert get(ui, "/", {"Cookie": cookie}).status == 401  # logged out stays out
