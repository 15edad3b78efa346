"""The daemon as a user meets it: a real `taskmux daemon` process, a real websockets
client, a private tmux server per test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import run_cli
from daemon_helpers import (  # noqa: F401  (tmux_socket is a fixture)
    DaemonProcess,
    DaemonThread,
    call,
    client,
    headers,
    pids,
    request,
    running_daemon,
    start_daemon,
    start_tasks,
    status,
    tmux_socket,
    wait_for,
    write_config,
)
from harness import run_refused

from taskmux.runtime import peers
from taskmux.statedir.paths import ProjectPaths

BASIC = """
name = "dproj"

[tasks.alpha]
command = "sleep 300"

[tasks.beta]
command = "while :; do echo beta-line; sleep 0.2; done"

[tasks.gamma]
command = "sleep 300"
auto_start = false
"""


@pytest.fixture
def project(tmp_path: Path, tmux_socket: str) -> Path:  # noqa: F811
    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, BASIC)
    return root


def test_each_api_command(project: Path) -> None:
    start_tasks(project)
    with running_daemon(project) as daemon:
        asyncio.run(_exercise_commands(daemon))


async def _exercise_commands(daemon: DaemonProcess) -> None:
    async with client(daemon) as ws:
        reply = await request(ws, "status")
        assert reply["ok"], reply
        rows = {row["name"]: row for row in reply["result"]["tasks"]}
        assert reply["result"]["session"] == "dproj"
        assert rows["alpha"]["running"] and rows["beta"]["running"]
        assert rows["gamma"]["state"] == "not started"

        inspect = (await request(ws, "inspect", {"task": "alpha"}))["result"]
        assert inspect["name"] == "alpha" and inspect["running"], inspect
        assert inspect["pid"] == rows["alpha"]["pid"] != inspect["pane_pid"]  # the task's

        async def beta_lines() -> list[dict[str, Any]]:
            reply = await request(ws, "logs", {"task": "beta", "lines": 2})
            assert reply["ok"], reply
            return list(reply["result"]["lines"])

        deadline = time.monotonic() + 15
        while len(lines := await beta_lines()) < 2:
            assert time.monotonic() < deadline, lines
            await asyncio.sleep(0.1)
        assert [line["line"] for line in lines] == ["beta-line", "beta-line"]
        grepped = await request(ws, "logs", {"grep": "beta-l", "lines": 1, "since": "1h"})
        assert [(x["task"], x["match"]) for x in grepped["result"]["lines"]] == [("beta", True)]

        health = (await request(ws, "health"))["result"]  # gamma was never meant to run
        assert health["healthy"] is True and health["tasks"]["alpha"]["healthy"], health
        assert health["tasks"]["gamma"] | {"duration": 0} == {
            "state": "not running",
            "healthy": None,
            "exit_code": None,
            "output": "not started",
            "duration": 0,
            "timed_out": False,
            "probe": None,
            "reason": "not started",
        }, health

        started = await request(ws, "start", {"tasks": ["gamma"]})
        assert started["ok"] and started["result"]["started"] == ["gamma"], started
        stopped = await request(ws, "stop", {"tasks": ["gamma"]})
        assert stopped["ok"] and "gamma" in stopped["result"]["stopped"], stopped

        old_pid = rows["alpha"]["pid"]
        restarted = await request(ws, "restart", {"tasks": ["alpha"]})
        assert restarted["ok"] and restarted["result"]["started"] == ["alpha"], restarted
        after = (await request(ws, "inspect", {"task": "alpha"}))["result"]
        assert after["running"] and after["pane_pid"] != old_pid, (old_pid, after)

        killed = await request(ws, "kill", {"task": "beta"})
        assert killed["ok"] and killed["result"] == {"task": "beta", "was_running": True}, killed
        beta = (await request(ws, "inspect", {"task": "beta"}))["result"]
        assert beta["state"] == "killed" and not beta["running"], beta

        events = (await request(ws, "events", {"task": "gamma", "lines": 10}))["result"]
        assert [e["event"] for e in events["events"]] == ["started", "stopped"], events
        everything = (await request(ws, "events", {"since": "1h"}))["result"]["events"]
        assert {"started", "stopped", "killed"} <= {e["event"] for e in everything}, everything


def test_subscribe_pushes_a_crash_within_a_second(project: Path) -> None:
    start_tasks(project)
    with running_daemon(project) as daemon:
        asyncio.run(_crash_and_listen(project, daemon))


async def _crash_and_listen(project: Path, daemon: DaemonProcess) -> None:
    async with client(daemon) as ws:
        reply = await request(ws, "subscribe")
        assert reply["ok"] and reply["result"]["subscribed"], reply
        victim = (await request(ws, "status"))["result"]["tasks"][0]
        assert victim["name"] == "alpha"
        crashed_at = time.monotonic()
        os.kill(victim["pid"], signal.SIGKILL)  # the task (its waiting shell then ends too)
        event = await _next_event(ws, lambda e: e["event"] == "exited" and e["task"] == "alpha")
        assert time.monotonic() - crashed_at < 2.0  # ~1 s: 0.5 s poll + 0.2 s tail
        assert event["signal"] == signal.SIGKILL

        # Events of other processes are pushed too: a stop from the CLI (run here, in the
        # main thread, as a command that returns: the daemon's thread keeps serving and
        # the socket keeps the push until the loop reads it).
        result = run_cli("stop", "beta", cwd=project)
        assert result.returncode == 0, result.stderr
        event = await _next_event(ws, lambda e: e["task"] == "beta")
        assert event["event"] == "stopped" and event["manual"] is True


async def _next_event(ws: Any, wanted: Any, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if "event" in message and wanted(message["event"]):
            return dict(message["event"])


def test_handshake_needs_the_token_and_refuses_every_origin(project: Path) -> None:
    with running_daemon(project) as daemon:
        token = daemon.token
        assert _refusal(daemon, headers(None)) == 401
        assert _refusal(daemon, headers("wrong-token")) == 401
        assert _refusal(daemon, {"Authorization": f"Basic {token}"}) == 401
        assert _refusal(daemon, headers(token), origin="http://evil.example") == 403
        assert _refusal(daemon, headers(token), origin="null") == 403
        ui_origin = f"http://127.0.0.1:{daemon.info['ui_port']}"
        assert _refusal(daemon, headers(token), origin=ui_origin) == 403  # even the dashboard's
        listening = [
            c for c in psutil.Process(daemon.pid).net_connections("inet") if c.status == "LISTEN"
        ]
        assert [c.laddr.ip for c in listening] == ["127.0.0.1", "127.0.0.1"]  # API, dashboard
        ports = {daemon.info["port"], daemon.info["ui_port"]}
        assert {c.laddr.port for c in listening} == ports and len(ports) == 2
        token_file = Path(daemon.info["token_file"])
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token not in daemon.log_text
        assert "refused an API connection" in daemon.log_text


HANDSHAKE_AS_OTHER = """
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/", headers={
    "Authorization": "Bearer " + sys.argv[2], "Connection": "Upgrade", "Upgrade": "websocket",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
})
print(c.getresponse().status)
"""


def test_a_leaked_token_does_not_work_from_another_users_process(
    project: Path, other_user: pwd.struct_passwd
) -> None:
    """The API checks the peer's user, as the dashboard's port does, before the token."""
    if not peers.checkable():
        pytest.skip("this system does not say who owns a connection (no /proc/net/tcp)")
    with running_daemon(project) as daemon:
        port = str(daemon.info["port"])
        ours = subprocess.run(
            ["/usr/bin/python3", "-c", HANDSHAKE_AS_OTHER, port, daemon.token],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert ours.stdout.strip() == "101", ours.stderr  # the same handshake, our user
        theirs = subprocess.run(
            ["/usr/bin/python3", "-c", HANDSHAKE_AS_OTHER, port, daemon.token],
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
        assert "refused an API connection from another user's process" in daemon.log_text


def test_there_is_no_allow_origin_option(tmp_path: Path) -> None:
    """A browser cannot send the token, so an allowed origin could never connect."""
    result = run_refused(["daemon", "--allow-origin", "http://good.example"], cwd=tmp_path)
    assert result.returncode == 2 and "No such option: --allow-origin" in result.stderr
    assert "allow-origin" not in run_cli("daemon", "--help", cwd=tmp_path).stdout


def _refusal(daemon: DaemonProcess, extra: dict[str, str], origin: str | None = None) -> int:
    from websockets.exceptions import InvalidStatus

    async def attempt() -> int:
        try:
            async with client(daemon, additional_headers=extra, origin=origin):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)

    return asyncio.run(attempt())


def test_bad_input_gets_errors_and_the_daemon_keeps_serving(project: Path) -> None:
    # Every parse and declaration error, and each error's shape: test_api.py (a fake
    # service). Here: a real connection survives them, and the real service's errors.
    with running_daemon(project) as daemon:
        asyncio.run(_bad_input(daemon))
        assert call(daemon, "status")["ok"]


async def _bad_input(daemon: DaemonProcess) -> None:
    from websockets.exceptions import ConnectionClosed

    async with client(daemon) as ws:
        cases: list[tuple[str, Any, str]] = [
            ("{not json", None, "E503"),
            ('{"id": 2, "command": "reboot"}', 2, "E504"),
            ('{"id": 4, "command": "inspect"}', 4, "E505"),
            ('{"id": 3, "command": "inspect", "params": {"task": "ghost"}}', 3, "E201"),
            ('{"id": 10, "command": "logs", "params": {"grep": "("}}', 10, "E601"),
        ]
        for message, ident, code in cases:
            await ws.send(message)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["ok"] is False, (message, reply)
            assert (reply["id"], reply["error"]["code"]) == (ident, code), (message, reply)
            assert reply["error"]["message"]
        assert (await request(ws, "status"))["ok"]  # the same connection still serves

    async with client(daemon) as ws:
        await ws.send("x" * (2 * 1024 * 1024))
        try:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["ok"] is False
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1009


# A backtracking grep: the budget is test_logs.py's (in-process and through the CLI), its
# E602 reply test_api.py's.


def test_a_hundred_concurrent_clients_get_status(project: Path) -> None:
    start_tasks(project)
    with running_daemon(project) as daemon:

        async def one() -> Any:
            async with client(daemon) as ws:
                return await request(ws, "status")

        async def many() -> list[Any]:
            return await asyncio.gather(*(one() for _ in range(100)))

        replies = asyncio.run(many())
        assert len(replies) == 100
        assert all(r["ok"] and len(r["result"]["tasks"]) == 3 for r in replies)


SLOW = """
name = "slowproj"

[tasks.slow]
command = "trap '' INT; while :; do sleep 0.1; done"
stop_grace_period = 2

[tasks.quick]
command = "sleep 300"
"""


def test_a_slow_stop_does_not_delay_status_for_others(tmp_path: Path, tmux_socket: str) -> None:  # noqa: F811
    write_config(tmp_path, SLOW)
    start_tasks(tmp_path)
    with running_daemon(tmp_path) as daemon:
        asyncio.run(_slow_stop(daemon))


async def _slow_stop(daemon: DaemonProcess) -> None:
    async with client(daemon) as stopper, client(daemon) as observer:
        await stopper.send(
            json.dumps({"id": "s", "command": "stop", "params": {"tasks": ["slow"]}})
        )
        deadline = time.monotonic() + 10
        while "slow stopping" not in daemon.log_text:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        began = time.monotonic()
        reply = await request(observer, "status")
        assert time.monotonic() - began < 1.0
        assert reply["ok"]
        stopped = json.loads(await asyncio.wait_for(stopper.recv(), 20))
        assert stopped["ok"] and stopped["result"]["stopped"] == {"slow": "SIGTERM"}, stopped


EDITED = """
name = "dproj"

[tasks.alpha]
command = "sleep 300"

[tasks.beta]
command = "while :; do echo beta-changed; sleep 0.2; done"

[tasks.delta]
command = "sleep 301"
"""


def test_config_edits_are_applied_minimally(project: Path) -> None:
    start_tasks(project)
    start_tasks(project, "gamma")
    before = pids(project)
    with running_daemon(project) as daemon:
        write_config(project, EDITED)
        after = wait_for(lambda: _settled(project, before))
        assert after["alpha"]["pid"] == before["alpha"]  # untouched
        assert after["beta"]["pid"] != before["beta"]  # changed: restarted
        assert after["delta"]["running"]  # added: started
        assert not after["gamma"]["running"] and not after["gamma"]["in_config"]  # removed
        wait_for(lambda: "config reloaded" in daemon.log_text)  # once delta has settled

        running = pids(project)
        (project / "taskmux.toml").write_text(EDITED + "\n[tasks.broken\n")  # edited in place
        check = run_cli("check", cwd=project)
        assert check.returncode == 2
        error_line = next(line for line in check.stderr.splitlines() if line.startswith("error["))
        wait_for(lambda: error_line in daemon.log_text)
        wait_for(lambda: "config not reloaded" in daemon.log_text)  # its own line, just after
        reply = call(daemon, "status")  # the CLI cannot read the file now; the daemon can
        now = {row["name"]: row for row in reply["result"]["tasks"]}
        assert {name: row["pid"] for name, row in now.items()} == running
        assert all(now[name]["running"] for name in ("alpha", "beta", "delta"))


def _settled(root: Path, before: dict[str, int | None]) -> dict[str, dict[str, Any]] | None:
    rows = status(root)
    done = (
        rows.get("delta", {}).get("running")
        and not rows["gamma"]["running"]
        and rows["beta"]["running"]
        and rows["beta"]["pid"] != before["beta"]
    )
    return rows if done else None


CRASHY = """
name = "crashproj"

[tasks.steady]
command = "sleep 300"

[tasks.parked]
command = "sleep 300"

[tasks.crasher]
command = "sleep 0.3; exit 3"
restart_delay = 0.2
restart_backoff = 1.0
max_restarts = 1000
"""


def test_kill_9_loses_nothing(tmp_path: Path, tmux_socket: str) -> None:  # noqa: F811
    write_config(tmp_path, CRASHY)
    start_tasks(tmp_path, "steady", "parked")
    run_cli("start", "crasher", cwd=tmp_path)
    assert run_cli("stop", "parked", cwd=tmp_path).returncode == 0
    steady = pids(tmp_path)["steady"]
    first = start_daemon(tmp_path, process=True)  # killed with SIGKILL below
    try:
        counted = wait_for(lambda: status(tmp_path)["crasher"]["restart_count"] >= 2, timeout=30)
        assert counted
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    finally:
        first.stop()
    paths = ProjectPaths.for_config(tmp_path / "taskmux.toml")
    assert paths.daemon_state.exists()  # stale: the daemon had no chance to clean up
    stale = run_cli("daemon", "status", cwd=tmp_path)
    assert stale.returncode == 1 and "E502" in stale.stderr
    count = status(tmp_path)["crasher"]["restart_count"]
    assert status(tmp_path)["steady"]["pid"] == steady
    with running_daemon(tmp_path) as second:
        assert second.pid != first.pid
        assert status(tmp_path)["crasher"]["restart_count"] >= count  # kept in tmux
        wait_for(lambda: status(tmp_path)["crasher"]["restart_count"] > count, timeout=30)
        rows = status(tmp_path)
        assert rows["parked"]["manually_stopped"] and not rows["parked"]["running"]
        assert rows["steady"]["pid"] == steady


def test_one_supervisor_per_project(project: Path) -> None:
    # The holder runs in a thread (its claim answers from a thread of its own); the
    # refused ones run in the test's main thread.
    with running_daemon(project) as daemon:
        assert isinstance(daemon, DaemonThread)
        port = str(daemon.info["port"])
        second = run_refused(["daemon", "--port", "0"], cwd=project)
        assert second.returncode == 1
        assert "E501" in second.stderr and f"pid {daemon.pid}" in second.stderr
        assert port in second.stderr
        monitor = run_refused(["start", "-m"], cwd=project)
        assert monitor.returncode == 1 and f"pid {daemon.pid}" in monitor.stderr
        assert daemon.error is None
        assert call(daemon, "status")["ok"]
        assert "stopped" not in daemon.log_text  # the refused ones left its log alone


def test_a_busy_port_is_a_clear_error(project: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = run_refused(["daemon", "--port", port], cwd=project)
    assert result.returncode == 1 and "E304" in result.stderr and port in result.stderr
    assert "Traceback" not in result.stderr
    paths = ProjectPaths.for_config(project / "taskmux.toml")
    assert not paths.daemon_state.exists() and not paths.daemon_token.exists()
    with running_daemon(project) as daemon:  # the failed start left no claim behind
        assert call(daemon, "status")["ok"]


def test_the_default_port_is_clear_of_the_demo(project: Path) -> None:
    """A newcomer runs the demo, then `taskmux daemon` as the README shows: no E304."""
    from taskmux.daemon.server import DEFAULT_PORT

    demo = Path(__file__).parents[2] / "examples" / "demo"
    tasks = tomllib.loads((demo / "taskmux.toml").read_text())["tasks"].values()
    demo_ports = {task["port"] for task in tasks if "port" in task}
    common = {3000, 3001, 4200, 5000, 5173, 5432, 6379, 8000, 8080, 8443, 8765, 8888, 9000}
    assert demo_ports and DEFAULT_PORT not in demo_ports | common
    assert str(DEFAULT_PORT) not in (demo / "worker.py").read_text()
    help_text = run_cli("daemon", "--help", cwd=project, env={"COLUMNS": "200"}).stdout
    assert f"[default: {DEFAULT_PORT}]" in help_text

    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):  # the demo's web server, if its port is free here
            stack.enter_context(socket.create_server(("127.0.0.1", min(demo_ports))))
        try:
            socket.create_server(("127.0.0.1", DEFAULT_PORT)).close()
        except OSError:
            pytest.skip(f"port {DEFAULT_PORT} is in use on this machine")
        # The command's default (its help above) is the port this daemon binds.
        daemon = DaemonThread(project, ui_port=0, port=DEFAULT_PORT).begin()
        stack.callback(daemon.stop)
        assert daemon.info["port"] == DEFAULT_PORT
        assert call(daemon, "status")["ok"]


def test_daemon_status_and_stop(project: Path) -> None:
    start_tasks(project)
    before = pids(project)
    with running_daemon(project, process=True) as daemon:  # `daemon stop` signals its pid
        wait_for(lambda: str(daemon.info["port"]) in daemon.output.read_text())  # --port 0
        shown = run_cli("daemon", "status", "--json", cwd=project)
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        assert data["pid"] == daemon.pid and data["port"] == daemon.info["port"]
        assert Path(data["token_file"]).read_text().strip() == daemon.token
        assert stat.S_IMODE(Path(data["token_file"]).stat().st_mode) == 0o600

        stopped = run_cli("daemon", "stop", "--json", cwd=project)
        assert stopped.returncode == 0, stopped.stderr
        assert json.loads(stopped.stdout) == {"ok": True, "pid": daemon.pid, "forced": False}
        assert daemon.process.wait(5) == 0
        assert not daemon.paths.daemon_state.exists()
        assert not daemon.paths.daemon_token.exists()
    assert pids(project) == before  # tasks keep running
    again = run_cli("daemon", "stop", cwd=project)
    assert again.returncode == 1 and "E502" in again.stderr
    gone = run_cli("daemon", "status", "--json", cwd=project)
    assert gone.returncode == 1 and json.loads(gone.stdout)["error"]["code"] == "E502"


def test_stale_state_file_reads_as_not_running(project: Path) -> None:
    paths = ProjectPaths.for_config(project / "taskmux.toml").ensure()
    dead = subprocess.Popen(["true"])
    dead.wait()
    paths.daemon_state.write_text(
        json.dumps({"pid": dead.pid, "port": 1, "token_file": "x", "started": time.time()})
    )
    result = run_cli("daemon", "status", cwd=project)
    assert result.returncode == 1 and "stale" in result.stderr
    with running_daemon(project) as daemon:  # and it does not block a new daemon
        assert call(daemon, "status")["ok"]


def test_a_lost_tmux_server_is_logged_and_its_tasks_come_back(
    project: Path,
    tmux_socket: str,  # noqa: F811
) -> None:
    write_config(
        project,
        'name = "dproj"\n[tasks.alpha]\ncommand = "sleep 300"\nrestart_policy = "always"\n'
        '[tasks.blip]\ncommand = "exit 0"\n',
    )
    start_tasks(project, "alpha")
    events = ProjectPaths.for_config(project / "taskmux.toml").events
    with running_daemon(project) as daemon:
        run_cli("start", "blip", cwd=project)
        # Only a supervisor records exits: once blip's is there, the daemon has seen the session.
        wait_for(lambda: '"exited"' in events.read_text())
        before = pids(project)["alpha"]
        server = subprocess.run(
            ["tmux", "-L", tmux_socket, "display", "-p", "#{pid}"], capture_output=True, text=True
        )
        os.kill(int(server.stdout), signal.SIGKILL)
        wait_for(lambda: "tmux session 'dproj' lost" in daemon.log_text)
        assert "relaunching alpha" in daemon.log_text
        wait_for(lambda: "recreated; relaunched alpha" in daemon.log_text)
        after = status(project)["alpha"]
        assert after["running"] and after["pid"] != before
        assert not status(project)["blip"]["running"]  # completed: it stays down
