"""A task whose environment was built from another task's automatic port is stale once
that port moves (issue 23, item 5): `status` says so on both read paths, a `start`
without a supervisor names it, and a supervisor restarts it once."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from harness import Project, project, wait_until

from taskmux.lifecycle.readmodel import LeanRead
from taskmux.runtime.timing import Timing
from taskmux.service import Service
from taskmux.supervision.supervisor import Supervisor

__all__ = ["project"]

_CONFIG = """
[tasks.api]
command = "sleep 300"
port = "auto"
[tasks.web]
command = "sleep 300"
env = { API_URL = "http://127.0.0.1:${tasks.api.port}" }
[tasks.lone]
command = "sleep 300"
"""


@contextmanager
def _stranger_on(port: int) -> Iterator[None]:
    """Something else listens on `port` (the old port was taken while api was stopped)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield


def _move_api_port(project: Project) -> tuple[int, int, dict[str, object]]:
    """Start everything, then restart api while its port is taken: (old, new, start's JSON)."""
    project.write(_CONFIG)
    assert project.run("start").returncode == 0
    old = project.status()["api"]["port"]
    assert isinstance(old, int)
    assert project.run("stop", "api").returncode == 0
    with _stranger_on(old):
        report = project.json("start", "api")
    new = project.status()["api"]["port"]
    assert isinstance(new, int) and new != old
    return old, new, report


def _service(project: Project) -> Service:
    return project.service(Timing.fast())


def test_status_and_start_name_the_stale_task(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new, report = _move_api_port(project)
    assert list(report["needs_restart"]) == ["web"]
    assert f"from {old} to {new}" in report["needs_restart"]["web"]
    assert any("web" in w and "needs a restart" in w for w in report["warnings"])

    rows = project.status()
    assert rows["web"]["stale"] == {"api": [old, new]}
    assert "stale" not in rows["api"] and "stale" not in rows["lone"]
    assert rows["web"]["state"] == "running"  # it runs: stale is said beside the state
    human = " ".join(project.run("status").stdout.split())
    assert "running (stale)" in human and f"api's port {old} is now {new}" in human
    # The service path and the lean path give the same rows.
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", project.socket_name)
    lean = {r["name"]: r for r in LeanRead(str(project.config)).status()["tasks"]}
    served = {r["name"]: r for r in _service(project).status().tasks}
    assert lean["web"]["stale"] == served["web"]["stale"] == {"api": [old, new]}

    assert project.run("restart", "web").returncode == 0
    assert "stale" not in project.status()["web"]


def test_a_supervisor_restarts_a_stale_task_once(project: Project) -> None:
    old, new, _report = _move_api_port(project)
    web = project.status()["web"]["pid"]
    supervisor = Supervisor(_service(project))
    try:
        supervisor.tick()
        supervisor.actions["web"].result(timeout=15)
        supervisor.tick()  # its new run has the new port: nothing more to do
        assert "web" not in supervisor._busy()
    finally:
        supervisor.pool.shutdown(wait=False)
        supervisor.action_pool.shutdown(wait=True)
    restarted = [e for e in project.events() if e["event"] == "restarted"]
    assert [e["task"] for e in restarted] == ["web"]
    assert restarted[0]["stale"] == {"api": [old, new]} and restarted[0]["trigger"] == "stale"
    row = wait_until(lambda: project.status()["web"])
    assert row["running"] and row["pid"] != web and "stale" not in row
