"""A tmux server that dies with no supervisor (issue 23, item 7): `status` says what is
left running of the lost session's tasks, and `start` ends those leftovers (even one run
as another user, when taskmux runs as root) instead of doubling them or refusing E304."""

from __future__ import annotations

import os

import pytest
from harness import Project, pid_alive, project, wait_until

from taskmux.runtime.ports import kernel_port

__all__ = ["project"]

# Outlives the hang-up of a dying tmux server, as a database run through `runuser` does.
_SERVE = (
    "import os, socket, time; s = socket.socket(); "
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
    "s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen(); time.sleep(300)"
)


def _kill_server(project: Project) -> None:
    project.tmux("kill-server")
    wait_until(lambda: project.tmux("has-session").returncode != 0)


def _pid_of(project: Project, task: str) -> int:
    pid = wait_until(lambda: project.json("inspect", task)["pid"])
    assert isinstance(pid, int)
    return pid


def test_status_names_the_leftovers_and_start_ends_them(project: Project) -> None:
    port = kernel_port()
    project.write(
        f"""
        [tasks.db]
        command = '''trap '' HUP; exec python3 -c "{_SERVE}"'''
        port = {port}
        [tasks.worker]
        command = "trap '' HUP; exec sleep 300"
        [tasks.web]
        command = "sleep 300"
        """
    )
    assert project.run("start").returncode == 0
    db, worker = _pid_of(project, "db"), _pid_of(project, "worker")
    _kill_server(project)
    assert pid_alive(db) and pid_alive(worker)  # they outlived the server: leftovers

    document = project.json("status")
    rows = {row["name"]: row for row in document["tasks"]}
    assert not document["session_running"]
    assert rows["db"]["state"] == "left over" and rows["db"]["leftover_pids"] == [db]
    assert rows["worker"]["leftover_pids"] == [worker]
    assert rows["web"]["state"] == "not started" and "leftover_pids" not in rows["web"]
    (note,) = document["session_notes"]
    assert "is gone" in note and "2 leftovers" in note and f"db (pid {db})" in note
    human = project.run("status").stdout
    assert "left over" in human and "2 leftovers" in " ".join(human.split())

    started = project.run("start", "--json")
    assert started.returncode == 0, started.stderr
    wait_until(lambda: not pid_alive(db) and not pid_alive(worker))
    rows = project.status()
    assert rows["db"]["running"] and rows["worker"]["running"]
    assert [p.pid for p in project.marked_processes() if p.pid in (db, worker)] == []
    ended = {e["task"]: e for e in project.events() if e["event"] == "leftovers_ended"}
    assert ended["db"]["pids"] == [db] and ended["worker"]["pids"] == [worker]
    assert "session_notes" not in project.json("status")


def test_after_a_stop_nothing_is_looked_for(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n')
    assert project.run("start").returncode == 0
    assert project.run("stop").returncode == 0
    document = project.json("status")
    assert "session_notes" not in document
    assert document["tasks"][0]["state"] == "stopped"  # by the stop, not lost


@pytest.mark.skipif(os.geteuid() != 0, reason="running a task as another user needs root")
def test_start_ends_a_leftover_run_as_another_user(project: Project) -> None:
    """A database run through `runuser` holds the task's port after the server died: the
    start ends it (root may signal it, and it carries this project's marker), no E304."""
    port = kernel_port()
    project.root.chmod(0o755)  # `nobody` runs in the project folder
    project.write(
        f"""
        [tasks.db]
        command = '''trap '' HUP; exec runuser -u nobody -- python3 -c "{_SERVE}"'''
        port = {port}
        """
    )
    assert project.run("start").returncode == 0, project.run("events").stdout
    runner = _pid_of(project, "db")  # runuser itself, as root
    server = wait_until(lambda: [p.pid for p in project.marked_processes() if p.uids().real != 0])[
        0
    ]
    _kill_server(project)
    assert pid_alive(server)
    rows = project.status()
    assert rows["db"]["state"] == "left over" and rows["db"]["leftover_pids"] == [runner]

    started = project.run("start", "--json")
    assert started.returncode == 0, started.stderr  # not E304
    wait_until(lambda: not pid_alive(server))
    assert wait_until(lambda: project.status()["db"]["running"])


def test_a_lost_session_with_nothing_left_is_said_to_be_gone(project: Project) -> None:
    """Without the note, rows of "not started" would read as if nothing had ever run."""
    project.write('[tasks.a]\ncommand = "sleep 300"\n')
    assert project.run("start").returncode == 0
    _kill_server(project)
    document = project.json("status")
    (note,) = document["session_notes"]
    assert "is gone" in note and "none of its tasks runs" in note, note
    assert "is gone" in " ".join(project.run("status").stdout.split())
    assert project.run("start").returncode == 0
    assert "session_notes" not in project.json("status")
