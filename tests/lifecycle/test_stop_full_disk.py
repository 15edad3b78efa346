"""`stop` on a full disk: the tasks stop and the session ends whatever the disk says
(the state folder's writes are best-effort there), and an error names its file.

A 4 MB tmpfs is mounted over the state root (root only) and filled.
"""

from __future__ import annotations

from pathlib import Path

from conftest import fill_disk
from harness import Project, pid_alive, project, wait_until

__all__ = ["project"]

TASKS = """
[tasks.alpha]
command = "sleep 300"
stop_grace_period = 0.5
[tasks.beta]
command = "sleep 300"
stop_grace_period = 0.5
"""


def _pids(project: Project) -> dict[str, int] | None:
    rows = project.status()
    if not all(row["running"] for row in rows.values()):
        return None
    return {name: row["pid"] for name, row in rows.items()}


def test_stop_on_a_full_disk_stops_the_tasks_and_ends_the_session(
    project: Project, small_disk: Path
) -> None:
    project.write(TASKS)
    assert project.run("start").returncode == 0
    pids = wait_until(lambda: _pids(project))
    assert pids
    fill_disk(small_disk)
    stopped = project.run("stop", "alpha")
    assert stopped.returncode == 0, stopped.stderr
    ended = project.run("stop")
    assert ended.returncode == 0, ended.stderr
    assert "Traceback" not in ended.stderr
    assert project.tmux("has-session", "-t", project.session).returncode != 0
    assert wait_until(lambda: not any(pid_alive(pid) for pid in pids.values()), timeout=8)


def test_a_disk_error_names_its_file(project: Project, small_disk: Path) -> None:
    project.write(TASKS)
    assert project.run("check").returncode == 0  # the state folder exists
    fill_disk(small_disk)
    started = project.run("start")  # its event log's append cannot be recorded
    assert started.returncode == 1
    line = next(x for x in started.stderr.splitlines() if x.startswith("error[E002]"))
    assert "No space left on device: " in line and str(small_disk) in line


def test_daemon_stop_on_a_full_disk(project: Project, small_disk: Path) -> None:
    project.write(TASKS)
    daemon = project.spawn("daemon", "--port", "0")
    try:
        wait_until(lambda: project.paths.daemon_state.exists(), timeout=20)
        fill_disk(small_disk)
        stopped = project.run("daemon", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert daemon.wait(10) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()


def test_daemon_on_a_full_disk_names_its_file(project: Project, small_disk: Path) -> None:
    project.write(TASKS)
    assert project.run("check").returncode == 0
    fill_disk(small_disk)
    result = project.refused("daemon", "--port", "0")
    line = next(x for x in result.stderr.splitlines() if x.startswith("error[E002]"))
    assert "No space left on device: " in line and str(small_disk) in line
