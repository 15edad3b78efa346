"""`stop` on a full disk: the tasks stop and the session ends whatever the disk says
(the state folder's writes are best-effort there), and an error names its file.

A 4 MB tmpfs is mounted over the state root (root only) and filled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
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


@pytest.fixture
def small_disk(isolated_home: Path) -> Iterator[Path]:
    """The state folder's file system: a 4 MB tmpfs (root only), filled on demand."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where = Path(os.environ["XDG_STATE_HOME"])
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "ab", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)


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
    _fill(small_disk)
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
    _fill(small_disk)
    started = project.run("start")  # its event log's append cannot be recorded
    assert started.returncode == 1
    line = next(x for x in started.stderr.splitlines() if x.startswith("error[E002]"))
    assert "No space left on device: " in line and str(small_disk) in line


def test_daemon_stop_on_a_full_disk(project: Project, small_disk: Path) -> None:
    project.write(TASKS)
    daemon = project.spawn("daemon", "--port", "0")
    try:
        wait_until(lambda: project.paths.daemon_state.exists(), timeout=20)
        _fill(small_disk)
        stopped = project.run("daemon", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert daemon.wait(10) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()


def test_daemon_on_a_full_disk_names_its_file(project: Project, small_disk: Path) -> None:
    project.write(TASKS)
    assert project.run("check").returncode == 0
    _fill(small_disk)
    result = project.run("daemon", "--port", "0", timeout=30)
    line = next(x for x in result.stderr.splitlines() if x.startswith("error[E002]"))
    assert "No space left on device: " in line and str(small_disk) in line
