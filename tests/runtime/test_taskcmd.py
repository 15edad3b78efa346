"""A task's command becomes the pane's own process when `exec` can safely run it."""

from __future__ import annotations

import pytest
from harness import Project, project, wait_until

from taskmux.runtime.taskcmd import is_simple, pane_command

__all__ = ["project"]


@pytest.mark.parametrize(
    ("command", "simple"),
    [
        ("sleep 1000", True),
        ("node server.js --port $PORT", True),
        ("sh -c 'echo $$ > f; exec sleep 9'", True),
        ('echo "a;b"', True),
        ("redis-server --port 6380", True),
        ("a; b", False),
        ("a && b", False),
        ("a | b", False),
        ("cmd &", False),
        ("cmd > log", False),
        ("x 2>&1", False),
        ("FOO=1 cmd", False),
        ("cd x", False),
        ("exec sleep 1", False),
        ("trap '' INT; sleep 1", False),
        ("if true; then x; fi", False),
        ("while true; do echo; done", False),
        ("echo $(date)", False),
        ('echo "unclosed', False),
        ("a\nb", False),
        ("   ", False),
        ("curl http://h/#frag && echo ok", False),
        ("echo a#b; ls", False),
        ("sleep 5 # a comment", False),
        ("echo a#b", True),
    ],
)
def test_only_one_simple_command_is_execed(command: str, simple: bool) -> None:
    assert is_simple(command) is simple
    assert pane_command(command) == (f"exec {command}" if simple else command)


def test_the_task_is_the_panes_own_process(project: Project) -> None:
    """No waiting shell between tmux and the task: the pane's pid is the task's, and a
    death by signal is reported as that signal, not as the shell's exit 137."""
    project.write('[tasks.a]\ncommand = "sleep 300"\nrestart_policy = "no"\n')
    assert project.run("start").returncode == 0
    pid = project.status()["a"]["pid"]
    with open(f"/proc/{pid}/comm") as comm:
        assert comm.read().strip() == "sleep"
    project.tmux("run-shell", f"kill -KILL {pid}")
    row = wait_until(lambda: (r := project.status()["a"]) and not r["running"] and r)
    assert row["signal"] == "SIGKILL"
