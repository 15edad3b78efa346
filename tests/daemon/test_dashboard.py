"""The dashboard without a browser: its gate, its logins, and a real daemon refusing
everything that does not come with the session cookie from a one-time login link."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from daemon_helpers import (  # noqa: F401  (tmux_socket is a fixture)
    running_daemon,
    start_tasks,
    tmux_socket,
    wait_for,
    write_config,
)
from dashboard_helpers import ask, get, log_in, open_socket, refused_status, ui_link, ui_port

from taskmux.daemon.dashboard.logins import LOGIN_TTL, Logins
from taskmux.daemon.dashboard.web import COMMANDS, Gate
from taskmux.logs.lines import coloured
from taskmux.runtime import peers

PROJECT = """
name = "dash{suffix}"

[tasks.api]
command = "printf '\\\\033[31mred\\\\033[0m plain\\\\n'; sleep 300"
port = 18{port:03d}

[tasks.worker]
command = "sleep 300"
depends_on = ["api"]
"""


@pytest.fixture
def project(tmp_path: Path, tmux_socket: str) -> Path:  # noqa: F811
    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, PROJECT.format(suffix=tmp_path.name[-6:], port=os.getpid() % 1000))
    return root


# The pure parts ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_login_code_works_once_and_only_within_its_lifetime() -> None:
    clock = Clock()
    logins = Logins(clock=clock)
    assert logins.ttl == LOGIN_TTL == 60.0
    first, second, third = logins.mint(), logins.mint(), logins.mint()
    assert len({first, second, third}) == 3 and len(first) >= 32

    session = logins.redeem(first)
    assert session is not None and logins.valid(session)
    assert logins.redeem(first) is None  # single use

    clock.now += 59.9
    assert logins.redeem(second) is not None
    clock.now += 0.1  # 60 s after minting
    assert logins.redeem(third) is None
    assert logins.redeem("") is None and logins.redeem("made-up") is None
    assert not logins.valid(None) and not logins.valid("") and not logins.valid("made-up")


class Headers(dict[str, list[str]]):
    def get_all(self, key: str) -> list[str]:
        return self.get(key, [])


def test_the_gate_refuses_everything_without_the_session_cookie() -> None:
    gate = Gate(Logins(), port=40123, files={"index.html": b"<p>", "app.js": b"", "app.css": b""})
    host = {"Host": ["127.0.0.1:40123"]}
    for path in ("/", "/app.js", "/app.css", "/nothing", "/ws"):
        answer = gate.decide("GET", path, Headers(host, Origin=[gate.origin]))
        assert answer is not None and answer.status == 401, path
        assert b"taskmux ui" in answer.body
    cookie = f"{gate.cookie}=forged"
    answer = gate.decide("GET", "/", Headers(host, Cookie=[cookie]))
    assert answer is not None and answer.status == 401

    login = gate.decide("GET", f"/login?code={gate.logins.mint()}", Headers(host))
    assert login is not None and login.status == 303
    headers = dict(login.all_headers())
    assert headers["Location"] == "/"
    name_value, *attributes = headers["Set-Cookie"].split("; ")
    assert name_value.startswith(f"{gate.cookie}=") and len(name_value) > 40
    assert sorted(attributes) == ["HttpOnly", "Max-Age=43200", "Path=/", "SameSite=Strict"]
    session = Headers(host, Cookie=[f"other=1; {name_value}"])

    page = gate.decide("GET", "/", session)
    assert page is not None and page.status == 200 and page.body == b"<p>"
    assert page.content_type.startswith("text/html")
    assert gate.decide("GET", "/ws", Headers(session, Origin=[gate.origin])) is None
    for origin in (["http://127.0.0.1:8765"], ["null"], [], [gate.origin, "http://x"]):
        answer = gate.decide("GET", "/ws", Headers(session, Origin=origin))
        assert answer is not None and answer.status == 403, origin
    for bad_host in (["localhost:40123"], ["evil.example:40123"], []):
        answer = gate.decide("GET", "/", Headers(session, Host=bad_host))
        assert answer is not None and answer.status == 403, bad_host
    answer = gate.decide("POST", "/", session)
    assert answer is not None and answer.status == 405
    answer = gate.decide("GET", "/start", session)
    assert answer is not None and answer.status == 404
    assert "kill" not in COMMANDS and "ui_login" not in COMMANDS and "restart" in COMMANDS


def test_peer_owner_is_read_from_the_kernel_table() -> None:
    client, server = ("127.0.0.1", 50000), ("127.0.0.1", 28766)
    local, remote = peers._endpoint(client), peers._endpoint(server)
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
        f"   0: {remote} {local} 01 00000000:00000000 00:00000000 00000000  1000\n"
        f"   1: {local} {remote} 06 00000000:00000000 00:00000000 00000000     0\n"
        f"   2: {local} {remote} 01 00000000:00000000 00:00000000 00000000  1234\n"
    )
    assert peers.owner(table, client, server) == 1234  # the client's end, established
    assert peers.owner(table, ("127.0.0.1", 50001), server) is None
    if sys.byteorder == "little":
        assert local == "0100007F:C350"


def test_coloured_log_lines_keep_only_colour_codes() -> None:
    assert coloured(b"\x1b[1;31mred\x1b[0m \x1b]0;title\x07plain\x1b[2K") == (
        "\x1b[1;31mred\x1b[0m plain"
    )
    assert coloured(b"50%\r\x1b[32m100%") == "100%"  # a redraw: cleaned, as `logs` shows it
    assert coloured(b"no escapes") == "no escapes"


# A real daemon ----------------------------------------------------------------------


def test_without_the_login_link_every_request_is_refused(project: Path) -> None:
    start_tasks(project)
    with running_daemon(project) as daemon:
        port = ui_port(daemon)
        origin = f"http://127.0.0.1:{port}"
        for path in ("/", "/app.js", "/app.css", "/index.html", "/login"):
            reply = get(port, path)
            assert reply.status == 401, (path, reply)
            assert "taskmux ui" in reply.body
            assert reply.headers["cache-control"] == "no-store"
        assert get(port, "/ws").status == 403  # no Origin: not the page
        assert get(port, "/login?code=guessed").status == 401
        assert refused_status(port, None, origin) == 401
        assert refused_status(port, f"taskmux_{port}=forged", origin) == 401
        assert "refused a dashboard request without a session" in daemon.log_text


def test_the_login_link_opens_a_session_once_and_the_page_works_through_it(
    project: Path,
) -> None:
    start_tasks(project)
    with running_daemon(project) as daemon:
        status = json.loads(run_cli("daemon", "status", "--json", cwd=project).stdout)
        assert status["ui_port"] == ui_port(daemon) and status["ui_url"].endswith(
            f":{ui_port(daemon)}/"
        )
        url = ui_link(project)
        assert url.startswith(f"http://127.0.0.1:{ui_port(daemon)}/login?code=")
        code = url.split("code=", 1)[1]
        port, cookie = log_in(url)
        again = get(port, url.split(f":{port}", 1)[1])
        assert again.status == 401 and "taskmux ui" in again.body  # single use

        page = get(port, "/", {"Cookie": cookie})
        assert page.status == 200 and '<script src="/app.js"' in page.body
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert daemon.token not in page.body
        for path, kind in (("/app.js", "javascript"), ("/app.css", "css")):
            reply = get(port, path, {"Cookie": cookie})
            assert reply.status == 200 and kind in reply.headers["content-type"], path
            assert daemon.token not in reply.body

        origin = f"http://127.0.0.1:{port}"
        assert refused_status(port, cookie, "http://127.0.0.1:8765") == 403
        assert refused_status(port, cookie, "http://evil.example") == 403
        assert refused_status(port, cookie, None) == 403
        with open_socket(port, cookie, origin) as websocket:
            rows = ask(websocket, "status")["result"]["tasks"]
            assert {r["name"]: r["running"] for r in rows} == {"api": True, "worker": True}
            assert ask(websocket, "subscribe")["ok"]
            for command, params in (("kill", {"task": "api"}), ("ui_login", {}), ("wait", {})):
                reply = ask(websocket, command, params)
                assert reply["ok"] is False and reply["error"]["code"] == "E506", reply
            assert status_of(project)["api"]["running"]  # kill was refused, not done

            def red_line() -> list[str]:
                params = {"task": "api", "grep": "red", "context": 0, "ansi": True}
                lines = ask(websocket, "logs", params)["result"]["lines"]
                return [line["line"] for line in lines]

            assert wait_for(red_line) == ["\x1b[31mred\x1b[0m plain"]
            old_pid = status_of(project)["worker"]["pid"]
            restarted = ask(websocket, "restart", {"tasks": ["worker"]})
            assert restarted["ok"] and restarted["result"]["started"] == ["worker"], restarted
            assert status_of(project)["worker"]["pid"] != old_pid

        log = daemon.log_text
        assert "dashboard login: a new browser session" in log
        for secret in (daemon.token, code, cookie.split("=", 1)[1]):
            assert secret not in log
        assert "code=" not in log


def status_of(root: Path) -> dict[str, dict[str, object]]:
    result = run_cli("status", "--json", cwd=root)
    return {row["name"]: row for row in json.loads(result.stdout)["tasks"]}


def test_a_login_link_expires(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKMUX_UI_LOGIN_TTL", "0.5")  # only ever shorter than 60 s
    with running_daemon(project) as daemon:
        url = ui_link(project)
        minted = time.monotonic()
        fresh = ui_link(project)
        assert log_in(fresh)[1]  # within its lifetime
        wait_for(lambda: time.monotonic() > minted + 0.6)
        reply = get(ui_port(daemon), url.split(f":{ui_port(daemon)}", 1)[1])
        assert reply.status == 401 and "expired" in reply.body
        assert url.split("code=")[1] not in daemon.log_text


def test_ui_without_a_daemon_says_so(project: Path) -> None:
    result = run_cli("ui", "--json", cwd=project)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "E502"
    assert "Traceback" not in result.stderr


GET_AS_OTHER = """
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/", headers={"Cookie": sys.argv[2]})
print(c.getresponse().status)
"""


def test_a_stolen_cookie_does_not_work_from_another_users_process(
    project: Path, other_user: pwd.struct_passwd
) -> None:
    """Browsers send the cookie to every port of 127.0.0.1, another user's servers too."""
    if not peers.checkable():
        pytest.skip("this system does not say who owns a connection (no /proc/net/tcp)")
    with running_daemon(project) as daemon:
        port, cookie = log_in(ui_link(project))
        assert get(port, "/", {"Cookie": cookie}).status == 200
        theirs = subprocess.run(
            ["/usr/bin/python3", "-c", GET_AS_OTHER, str(port), cookie],
            user=other_user.pw_uid,
            group=other_user.pw_gid,
            extra_groups=[],
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert theirs.stdout.strip() == "403", theirs.stderr
        assert "another user's process" in daemon.log_text
