"""Never report what did not happen: a start that dies at once, health below its retries,
and tasks nobody meant to run. The installed CLI against a real, private tmux server."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from harness import Project, project, wait_until

from taskmux.config.project import load_project
from taskmux.errors import PartialFailure
from taskmux.runtime import timing
from taskmux.service import Service

__all__ = ["project"]


def _events(project: Project, task: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in project.events() if e["task"] == task and e["event"] == kind]


def test_a_task_that_dies_at_once_fails_its_start(project: Project) -> None:
    project.write(
        """
        [tasks.migrate]
        command = "echo applying 0042; nosuchprogram-xyz --up"
        [tasks.web]
        command = "sleep 300"
        depends_on = ["migrate"]
        [tasks.crash]
        command = "kill -USR1 $$"
        restart_policy = "no"
        [tasks.fine]
        command = "sleep 300"
        """
    )
    result = project.run("start", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["error"]["code"] == "E402"
    assert data["started"] == ["fine"] and data["completed"] == []
    migrate = data["died"]["migrate"]
    assert migrate["exit_code"] == 127 and migrate["state"] == "exited 127"
    assert migrate["logs"][0] == "applying 0042"
    assert "nosuchprogram-xyz" in migrate["logs"][-1] and "not found" in migrate["logs"][-1]
    assert "exited 127" in data["failed"]["migrate"]
    assert "nosuchprogram-xyz" in data["failed"]["migrate"]  # the last output, in the message
    assert data["died"]["crash"]["signal"] == "SIGUSR1"
    assert data["skipped"] == {"web": "dependency 'migrate' failed to start (exited 127)"}
    assert "exited 127" in data["error"]["message"]

    rows = project.status()
    assert rows["web"]["state"] == "not started" and rows["fine"]["state"] == "running"
    assert _events(project, "migrate", "started") == []  # never announced as started
    (failed,) = _events(project, "migrate", "start_failed")
    assert failed["exit_code"] == 127 and failed["logs"] == migrate["logs"]

    again = project.run("restart", "migrate")  # restart goes through the same start
    assert again.returncode == 1
    assert "error[E402]: task 'migrate' exited 127" in again.stderr
    lines = again.stdout.splitlines()
    assert "migrate: starting" in lines and "migrate: started" not in lines
    assert any(line.startswith("migrate: failed: ") for line in lines)


def test_one_shots_complete_and_servers_are_started_after_the_window(project: Project) -> None:
    project.write(
        """
        [tasks.setup]
        command = "echo ready > setup.out"
        [tasks.app]
        command = "sleep 300"
        depends_on = ["setup"]
        """
    )
    data = project.json("start")
    assert data["ok"] is True, data
    assert data["completed"] == ["setup"] and data["started"] == ["app"]
    assert data["failed"] == {} and data["died"] == {}
    assert (project.root / "setup.out").read_text() == "ready\n"
    rows = project.status()
    assert rows["setup"]["state"] == "completed" and rows["app"]["state"] == "running"
    (started,) = _events(project, "app", "started")
    # "started" is said once the task has lived through the settle window, not at launch.
    assert started["ts"] >= rows["app"]["started_at"] + timing.current().settle - 0.01
    assert _events(project, "setup", "started")[0]["completed"] is True


def test_unhealthy_only_after_health_retries_failures(project: Project) -> None:
    project.write(
        """
        [tasks.slow]
        command = "sleep 300"
        health_check = "test -f ready || { echo not yet; exit 1; }"
        health_interval = 0.2
        health_retries = 4
        restart_policy = "no"
        [tasks.boot]
        command = "sleep 1; touch booted; sleep 300"
        health_check = "test -f booted"
        health_interval = 0.2
        health_retries = 6
        """
    )
    project.supervise()
    seen_below: list[dict[str, Any]] = []

    def unhealthy_row() -> dict[str, Any] | None:
        row = project.status()["slow"]
        failures = row["health_failures"]
        assert (row["state"] == "unhealthy") == (failures >= 4), row
        if 1 <= failures < 4:
            seen_below.append(row)
        return row if row["state"] == "unhealthy" else None

    row = wait_until(unhealthy_row, timeout=20)
    assert row["healthy"] is False
    assert seen_below, "no status showed the streak below health_retries"
    assert all(r["state"] in ("starting", "running") for r in seen_below)
    assert all(r["healthy"] is None for r in seen_below)
    wait_until(lambda: project.status()["slow"]["health_failures"] >= 6, timeout=20)
    (failed,) = _events(project, "slow", "health_failed")  # once per streak, not per check
    assert failed["failures"] == 4 and "not yet" in failed["output"]

    (project.root / "ready").touch()
    wait_until(lambda: _events(project, "slow", "health_recovered"), timeout=20)
    row = project.status()["slow"]
    assert row["state"] == "running" and row["healthy"] is True and row["health_failures"] == 0

    boot = wait_until(lambda: (r := project.status()["boot"])["healthy"] and r, timeout=20)
    assert boot["state"] == "running"
    assert _events(project, "boot", "health_failed") == []  # coming up is not failing


@pytest.mark.xdist_group("mcp")  # imports the MCP SDK: on the worker that has it
def test_health_ignores_tasks_nobody_meant_to_run(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        """
        [tasks.up]
        command = "sleep 300"
        health_check = "echo '[/x] fine'"
        [tasks.manual]
        command = "sleep 300"
        auto_start = false
        [tasks.stopped]
        command = "sleep 300"
        [tasks.gone]
        command = "sleep 300"
        [tasks.once]
        command = "true"
        [tasks.late]
        command = "sleep 0.6; exit 3"
        auto_start = false
        restart_policy = "no"
        """
    )
    assert project.run("start").returncode == 0
    assert project.run("stop", "stopped").returncode == 0
    assert project.run("kill", "gone").returncode == 0

    quiet = project.run("health", "--json")
    assert quiet.returncode == 0, quiet.stdout
    data = json.loads(quiet.stdout)
    assert data["ok"] is True and data["healthy"] is True and "error" not in data
    states = {name: (t["state"], t["healthy"], t["output"]) for name, t in data["tasks"].items()}
    assert states["up"] == ("running", True, "[/x] fine")
    assert states["manual"] == ("not running", None, "not started")
    assert states["stopped"] == ("not running", None, "stopped by hand")
    assert states["gone"] == ("not running", None, "killed")
    assert states["once"] == ("completed", None, "completed")
    human = project.run("health")
    assert human.returncode == 0 and "Traceback" not in human.stderr
    assert "not running" in human.stdout and "[/x] fine" in human.stdout  # not markup

    assert project.run("start", "late").returncode == 0  # it lives through the window...
    wait_until(lambda: project.state("late") == "exited 3", timeout=15)  # ...then dies
    loud = project.run("health", "--json")
    assert loud.returncode == 1
    report = json.loads(loud.stdout)
    assert report["ok"] is False and report["healthy"] is False
    assert report["error"] == {"code": "E404", "message": "not healthy: late (exited 3)"}
    assert report["tasks"]["late"]["state"] == "exited 3"

    # The daemon's API and MCP give the same report and the same verdict.
    from taskmux.mcp.server import Tools

    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", project.socket_name)
    expected = _timeless({k: v for k, v in report.items() if k not in ("ok", "error")})
    with pytest.raises(PartialFailure) as api:
        Service.for_project(load_project(str(project.config))).call("health", {})
    assert api.value.to_dict()["code"] == "E404"
    assert _timeless(api.value.details) == expected
    with pytest.raises(PartialFailure) as mcp:
        Tools(str(project.config), threading.Event()).run("health", {})
    assert mcp.value.error.message == report["error"]["message"]
    assert _timeless(mcp.value.details) == expected


def _timeless(report: dict[str, Any]) -> dict[str, Any]:
    """A health report without the checks' durations, which differ from run to run."""
    tasks = {name: {**t, "duration": 0} for name, t in report["tasks"].items()}
    return {**report, "tasks": tasks}
