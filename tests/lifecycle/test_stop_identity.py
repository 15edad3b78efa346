"""A stop signals only the task's own processes: a pane pid read from tmux a moment ago
that a stranger has taken since is proven not to be the task's before any signal."""

from __future__ import annotations

import os
import subprocess

from harness import Project, pid_alive, project, wait_until

__all__ = ["project"]


def test_a_stale_pid_that_names_a_stranger_is_not_signalled(project: Project) -> None:
    from taskmux.config.taskenv import MARKER_VAR
    from taskmux.runtime.timing import Timing

    project.write('[tasks.app]\ncommand = "sleep 300"\n')
    assert project.run("start", "app").returncode == 0
    task_pid = project.status()["app"]["pid"]
    env = {k: v for k, v in os.environ.items() if k != MARKER_VAR}
    stranger = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
    try:
        service = project.service(Timing.fast())
        # As if the observation was read before the task's process ended and its pid went
        # to this stranger: the stop is handed the stranger's pid.
        used = service.lifecycle().end_processes("app", stranger.pid)
        assert used is not None  # the task itself was found by its marker and stopped
        wait_until(lambda: not pid_alive(task_pid), timeout=10)
        assert stranger.poll() is None, "a process that is not the task's was signalled"
    finally:
        stranger.kill()
        stranger.wait()


def test_the_pane_process_is_still_adopted(project: Project) -> None:
    """A task that cleared its environment (no marker) is still its pane's child of tmux."""
    from taskmux.runtime.timing import Timing

    project.write('[tasks.app]\ncommand = "exec env -i sleep 300"\n')
    assert project.run("start", "app").returncode == 0
    pid = wait_until(lambda: project.status()["app"]["pid"], timeout=10)
    service = project.service(Timing.fast())
    assert service.lifecycle().end_processes("app", pid) is not None
    wait_until(lambda: not pid_alive(pid), timeout=10)
