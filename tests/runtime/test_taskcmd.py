"""A task's command becomes the pane's own process when `exec` can safely run it."""

from __future__ import annotations

import signal
import subprocess

import pytest
from harness import Project, project, wait_until

from taskmux.runtime.taskcmd import inner_command, is_simple, pane_command

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
    assert inner_command(command) == (f"exec {command}" if simple else command)


def test_the_task_is_the_waiting_shells_only_child(project: Project) -> None:
    """The pid shown is the task's own (the waiting shell's only child), and a
    death by signal is reported as that signal, not as the shell's exit 137."""
    project.write('[tasks.a]\ncommand = "sleep 300"\nrestart_policy = "no"\n')
    assert project.run("start").returncode == 0

    def comm_of_pid() -> str:
        with open(f"/proc/{project.status()['a']['pid']}/comm") as comm:
            return comm.read().strip()

    wait_until(lambda: comm_of_pid() == "sleep")  # once the task's `sh -c` has exec'd it
    pid = project.status()["a"]["pid"]
    project.tmux("run-shell", f"kill -KILL {pid}")
    row = wait_until(lambda: (r := project.status()["a"]) and not r["running"] and r)
    assert row["signal"] == "SIGKILL"


@pytest.mark.parametrize(
    ("command", "returncode"),
    [
        ("exit 0", 0),
        ("exit 3", 3),
        ("sleep 0", 0),
        ("sh -c 'exit 128'", 128),
        ("sh -c 'exit 145'", 145),  # 128 + SIGCHLD: no signal ends a process that way
        ("sh -c 'exit 200'", 200),
        ("sh -c 'kill -TERM $$'", -signal.SIGTERM),
        ("sh -c 'kill -SEGV $$'", -signal.SIGSEGV),
        ("exec sh -c 'kill -KILL $$'", -signal.SIGKILL),
        ("sh -c 'exit 137'", -signal.SIGKILL),  # what a shell cannot tell apart (docstring)
    ],
)
def test_the_waiting_shell_ends_as_the_task_did(command: str, returncode: int) -> None:
    """Outside a terminal (no tmux to ask) the waiter only relays the task's end."""
    done = subprocess.run(
        ["/bin/sh", "-c", pane_command(command)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == returncode
    assert done.stderr == b""  # no "Terminated" from the waiting shell


def test_the_task_keeps_the_terminal_and_its_stderr() -> None:
    done = subprocess.run(
        ["/bin/sh", "-c", pane_command("echo out; echo err >&2; ls /proc/self/fd")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.split()[:1] == [b"out"] and done.stderr == b"err\n"
    assert b"3" not in done.stdout.split()[1:-1]  # fd 3 (the waiter's) is not the task's


def test_a_quick_task_loses_none_of_its_output(project: Project) -> None:
    """A task that prints fast and exits at once: its last line is in the log (tmux drops
    what it has not read when the pane's process exits), with the question the waiting
    shell asked tmux left out, and the pane reports the task's own exit code."""
    project.write('[tasks.a]\ncommand = "sh -c \'seq 1 30000; exit 7\'"\nrestart_policy = "no"\n')
    project.run("start")
    row = wait_until(lambda: (r := project.status()["a"]) and not r["running"] and r)
    assert row["exit_code"] == 7
    done = project.run("logs", "a", "-n", "30000", "--raw")
    lines = done.stdout.splitlines()
    assert lines[-1] == "30000" and len(lines) == 30000
    assert "\x1b" not in done.stdout
