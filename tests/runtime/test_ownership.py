"""taskmux touches only what is its own: its session, its task windows, its task processes.

A person's window in a task session, and a person's own session that happens to carry
the project's name, are left alone, on a real private tmux server.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from harness import Project, holds_for, pid_alive, project, wait_until

from taskmux.config.project import load_project
from taskmux.config.taskenv import MARKER_VAR
from taskmux.errors import SessionConflict
from taskmux.lifecycle.core import Lifecycle
from taskmux.runtime import procs
from taskmux.runtime.tmux_manager import Launch, Tmux
from taskmux.statedir.paths import ProjectPaths

__all__ = ["project"]

TWO_TASKS = """
[tasks.web]
command = "sleep 300"
stop_grace_period = 0.5
[tasks.worker]
command = "sleep 300"
stop_grace_period = 0.5
"""


def _open_own_window(project: Project, name: str = "mine") -> int:
    """What a person does in an attached session (prefix-c): a window of their own."""
    result = project.tmux(
        "new-window", "-d", "-t", f"={project.session}:", "-n", name, "-P", "-F", "#{pane_pid}",
        "sleep 300",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def _windows(project: Project, session: str | None = None) -> list[str]:
    result = project.tmux("list-windows", "-t", f"={session or project.session}", "-F", "#W")
    return result.stdout.split() if result.returncode == 0 else []


def _environ(pid: int) -> dict[str, str]:
    import psutil

    return dict(psutil.Process(pid).environ())


def test_the_task_marker_stays_out_of_the_session_environment(project: Project) -> None:
    project.write(TWO_TASKS)
    assert project.run("start").returncode == 0
    session_env = project.tmux("show-environment", "-t", f"={project.session}")
    assert session_env.returncode == 0
    assert "TASKMUX" not in session_env.stdout, session_env.stdout
    server_env = project.tmux("show-environment", "-g").stdout
    assert MARKER_VAR not in server_env and "TASKMUX_TASK=" not in server_env
    # The first task, which created the session, still carries its own marker.
    web = project.status()["web"]["pid"]
    assert _environ(web)[MARKER_VAR] == project.paths.marker("web")
    assert _environ(web)["TASKMUX_TASK"] == "web"
    mine = _environ(_open_own_window(project))
    assert MARKER_VAR not in mine and "TASKMUX_TASK" not in mine


def test_a_persons_window_survives_stop_and_restart_of_the_first_task(project: Project) -> None:
    project.write(TWO_TASKS)
    assert project.run("start").returncode == 0
    mine = _open_own_window(project)
    assert project.run("stop", "web").returncode == 0
    assert pid_alive(mine)
    assert project.run("restart", "web").returncode == 0
    assert project.status()["web"]["running"] is True
    assert pid_alive(mine)

    # `stop` of everything stops every task but keeps the session for the person's window.
    data = project.json("stop")
    assert data["ok"] is True and data["session_ended"] is False
    assert "'mine'" in data["session_kept"]
    assert sorted(data["stopped"]) == ["web", "worker"]
    assert pid_alive(mine) and "mine" in _windows(project)
    human = project.run("stop")
    assert human.returncode == 0 and "kept" in human.stdout and "'mine'" in human.stdout
    rows = project.status()
    assert rows["web"]["state"] == "stopped" and rows["worker"]["state"] == "stopped"

    # Once the person's window is gone, `stop` ends the session.
    project.tmux("kill-window", "-t", f"={project.session}:=mine")
    data = project.json("stop")
    assert data["session_ended"] is True and data["session_kept"] is None
    assert project.tmux("has-session", "-t", f"={project.session}").returncode != 0


def test_kill_of_the_last_task_keeps_a_persons_window(project: Project) -> None:
    project.write('[tasks.only]\ncommand = "sleep 300"\n')
    assert project.run("start").returncode == 0
    mine = _open_own_window(project)
    assert project.json("kill", "only")["was_running"] is True
    assert _windows(project) == ["mine"]
    assert pid_alive(mine)
    assert project.state("only") == "killed"
    # Starting again adds the task's window back to the session taskmux created.
    assert project.run("start").returncode == 0
    assert sorted(_windows(project)) == ["mine", "only"]


def test_a_persons_session_with_the_projects_name_is_left_alone(project: Project) -> None:
    project.tmux("new-session", "-d", "-s", project.session, "-n", "editor", "sleep 300")
    project.tmux("new-window", "-d", "-t", f"={project.session}:", "-n", "shell", "sleep 300")
    pids = project.tmux("list-panes", "-s", "-t", f"={project.session}:", "-F", "#{pane_pid}")
    before = [int(p) for p in pids.stdout.split()]
    project.write(TWO_TASKS)

    for command in (["start"], ["stop"], ["status"], ["kill", "web"], ["restart"], ["start", "-m"]):
        result = project.run(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "error[E305]" in result.stderr and f"'{project.session}'" in result.stderr
        assert "name" in result.stderr and str(project.config) in result.stderr
    data = project.json("status")
    assert data["ok"] is False and data["error"]["code"] == "E305"

    assert _windows(project) == ["editor", "shell"]
    assert all(pid_alive(pid) for pid in before)
    assert project.marked_processes() == []


def test_a_session_that_appears_during_a_start_is_not_joined(project: Project) -> None:
    """The "duplicate session" fallback adds windows only to a session that is ours."""
    project.write('[tasks.web]\ncommand = "sleep 300"\n')
    lifecycle = Lifecycle(load_project(project.config), Tmux(socket_name=project.socket_name))
    stale = lifecycle.observe()
    assert not stale.session_exists
    project.tmux("new-session", "-d", "-s", project.session, "-n", "mine", "sleep 300")
    spec = Launch("web", "sleep 300", project.root, lifecycle.task_env("web"))
    with pytest.raises(SessionConflict):
        lifecycle.launcher._launch_in_tmux([spec], stale, True)
    assert _windows(project) == ["mine"]


def test_a_racing_start_of_this_project_is_joined(project: Project) -> None:
    """…while a session another taskmux process just created for this project is used."""
    project.write('[tasks.web]\ncommand = "sleep 300"\n[tasks.api]\ncommand = "sleep 300"\n')
    lifecycle = Lifecycle(load_project(project.config), Tmux(socket_name=project.socket_name))
    stale = lifecycle.observe()
    assert project.run("start", "api").returncode == 0
    spec = Launch("web", "sleep 300", project.root, lifecycle.task_env("web"))
    lifecycle.launcher._launch_in_tmux([spec], stale, True)
    assert sorted(_windows(project)) == ["api", "web"]
    wait_until(lambda: project.status()["web"]["running"])
    holds_for(lambda: project.status()["api"]["running"], 0.3)


def test_two_users_of_one_config_path_never_share_a_marker(tmp_path: Path) -> None:
    """`/srv/app/taskmux.toml` run by two users: one state folder name, two state homes.
    Root's sweep for its own leftovers must not take the other user's task for one."""
    config = tmp_path / "app" / "taskmux.toml"
    mine = ProjectPaths(tmp_path / "root-state" / "taskmux" / "app-0123456789")
    theirs = ProjectPaths(tmp_path / "ann-state" / "taskmux" / "app-0123456789")
    assert mine.root.name == theirs.root.name
    assert mine.marker("web") != theirs.marker("web")
    assert ProjectPaths.for_config(config).marker("web").endswith("/web")
    sleepers = [
        subprocess.Popen(["sleep", "300"], env={**os.environ, MARKER_VAR: paths.marker("web")})
        for paths in (mine, theirs)
    ]
    try:
        found = procs.marked(mine.marker_prefix)
        assert [p.pid for p in found["web"]] == [sleepers[0].pid]
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
