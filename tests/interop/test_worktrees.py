"""Parallel checkouts of one project (git worktrees, copies) run side by side: each its
own session, ports, logs and daemon; a fixed port another checkout's task holds is left
alone."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import start_daemon
from harness import Project, project, wait_until

__all__ = ["project"]

WEB = """\
import os, sys, urllib.request
from http.server import HTTPServer, SimpleHTTPRequestHandler

with urllib.request.urlopen(os.environ["API_URL"] + "/checkout.txt", timeout=10) as reply:
    seen = reply.read().decode()
with open("web.out", "w") as out:
    out.write(f"{os.environ['API_URL']}|{seen}")
print("web up, api says", seen, flush=True)
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), SimpleHTTPRequestHandler).serve_forever()
"""

CONFIG = f"""
[tasks.api]
command = "{sys.executable} -m http.server $PORT --bind 127.0.0.1"
port = "auto"
health_tcp = true
health_interval = 0.2
health_start_period = 30  # web waits for api's first pass, however loaded the machine is
stop_grace_period = 0.5

[tasks.web]
command = "{sys.executable} web.py"
port = "auto"
depends_on = ["api"]
env = {{ API_URL = "http://127.0.0.1:${{tasks.api.port}}" }}
stop_grace_period = 0.5
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def worktrees(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The project as a git repository, plus a second worktree of it (a Project too)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    project.write(CONFIG)
    (project.root / "web.py").write_text(WEB)
    _git(project.root, "init", "-q")
    _git(project.root, "add", "taskmux.toml", "web.py")
    _git(project.root, "commit", "-q", "-m", "project")
    second_root = tmp_path_factory.mktemp("checkouts") / "feature"
    _git(project.root, "worktree", "add", "-q", "--detach", str(second_root))
    second = Project(second_root, project.socket_name)
    second.session = project.session
    for checkout in (project, second):
        (checkout.root / "checkout.txt").write_text(str(checkout.root))
    try:
        yield second
    finally:
        second.cleanup()


def _failure(checkout: Project, start: dict[str, object]) -> str:
    """The whole start report and the tasks' logs (a failed start is otherwise cut short)."""
    logs = checkout.run("logs", "--lines", "40").stdout
    return f"{json.dumps(start, indent=1)}\n--- logs ---\n{logs}"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_two_worktrees_run_side_by_side(project: Project, worktrees: Project) -> None:
    second = worktrees
    first_start = project.json("start")
    assert first_start["ok"] is True, _failure(project, first_start)
    assert first_start["session"] == project.session
    second_start = second.json("start")
    assert second_start["ok"] is True, _failure(second, second_start)
    alternate = f"{project.session}-{second.paths.checkout_id}"
    assert second_start["session"] == alternate
    human = second.run("status")
    assert human.returncode == 0 and alternate in human.stdout

    rows = {}
    for checkout, session in ((project, project.session), (second, alternate)):
        data = checkout.json("status")
        assert data["session"] == session and data["session_running"] is True
        rows[session] = {row["name"]: row for row in data["tasks"]}
        assert checkout.json("inspect", "api")["session"] == session
        out = wait_until(lambda c=checkout: _read(c.root / "web.out"), timeout=20)
        api_port = rows[session]["api"]["port"]
        # web found its own checkout's api through ${tasks.api.port}.
        assert out == f"http://127.0.0.1:{api_port}|{checkout.root}"
        web_port = rows[session]["web"]["port"]
        wait_until(lambda p=web_port: _listening(p), timeout=20)
    ports = [rows[s][t]["port"] for s in rows for t in ("api", "web")]
    assert len(set(ports)) == 4, ports
    logs = {rows[s]["api"]["log_file"] for s in rows}
    assert len(logs) == 2
    for log in logs:
        wait_until(lambda p=log: "GET /checkout.txt" in _read(Path(p)), timeout=10)

    # One daemon per checkout, both at once (each claims its own checkout's supervision).
    daemons = [start_daemon(c.root) for c in (project, second)]
    try:
        infos = [_daemon_info(c) for c in (project, second)]
        assert infos[0] is not None and infos[1] is not None
        assert infos[0]["port"] != infos[1]["port"]
        assert [d.info["port"] for d in daemons] == [i["port"] for i in infos]
    finally:
        for daemon in daemons:
            daemon.stop()

    # Stopping one checkout leaves the other running; its session name is kept.
    assert project.json("stop")["session_ended"] is True
    assert all(row["running"] for row in second.status().values())
    assert second.json("status")["session"] == alternate


def test_a_fixed_port_held_by_another_checkouts_task_is_never_killed(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = f"""
    [tasks.db]
    command = "{sys.executable} -m http.server {port} --bind 127.0.0.1"
    port = {port}
    stop_grace_period = 0.5
    """
    project.write(body)
    assert project.run("start").returncode == 0
    wait_until(lambda: _listening(port), timeout=20)
    holder = project.status()["db"]["pid"]
    copy = Project(tmp_path_factory.mktemp("copy"), project.socket_name)
    copy.session = project.session
    try:
        copy.write(body)
        result = copy.run("start")
        assert result.returncode == 1, result.stderr
        assert "error[E304]" in result.stderr
        assert "task 'db' of another taskmux project" in result.stderr
        assert (
            f"session '{project.session}'" in result.stderr and str(project.root) in result.stderr
        )
        assert _listening(port) and project.status()["db"]["pid"] == holder
        assert project.status()["db"]["running"] is True
    finally:
        copy.cleanup()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _daemon_info(checkout: Project) -> dict[str, object] | None:
    try:
        data: dict[str, object] = json.loads(checkout.paths.daemon_state.read_text())
    except (OSError, ValueError):
        return None
    return data
