"""Hooks as a user meets them: a bounded wait that is a setting, a line saying what runs,
and no hook left behind when the CLI is interrupted. Real CLI, real private tmux server."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time

import psutil
import pytest
from conftest import TASKMUX
from harness import Project, pid_alive, project, wait_until

__all__ = ["project"]


def _hook_processes(project: Project, pid_file_lines: int = 2) -> list[psutil.Process]:
    """The hook's shell (its pid is the first line of `pids`) and everything it started."""
    pid_file = project.root / "pids"
    wait_until(
        lambda: pid_file.exists() and len(pid_file.read_text().split()) >= pid_file_lines,
        timeout=15,
    )
    shell = psutil.Process(int(pid_file.read_text().split()[0]))
    wait_until(lambda: len(shell.children()) >= 2)  # its background and foreground sleeps
    return [shell, *shell.children(recursive=True)]


def _kill(processes: list[psutil.Process]) -> None:
    for proc in processes:
        try:
            proc.kill()
        except psutil.Error:
            continue


# The hook records its own pid and its background child's, then waits on a long sleep.
SLOW_HOOK = "echo $$ > pids; sleep 600 & echo $! >> pids; sleep 601"


@pytest.mark.parametrize(
    ("signum", "level"),
    [(signal.SIGINT, "global"), (signal.SIGTERM, "task")],  # each signal, each hook level
)
def test_interrupting_the_cli_kills_the_hooks_process_group(
    project: Project, signum: signal.Signals, level: str
) -> None:
    table = "[hooks]" if level == "global" else "[tasks.web.hooks]"
    project.write(
        f"""
        [tasks.web]
        command = "sleep 300"
        {table}
        before_start = "{SLOW_HOOK}"
        """
    )
    cli = project.spawn("start")
    processes = _hook_processes(project)
    try:
        started = time.monotonic()
        cli.send_signal(signum)
        code = cli.wait(10)
        assert code == (130 if signum == signal.SIGINT else 128 + signal.SIGTERM)
        wait_until(lambda: not any(pid_alive(p.pid) for p in processes), timeout=3)
        assert time.monotonic() - started < 5
    finally:
        _kill(processes)
    assert project.status()["web"]["running"] is False  # the interrupted start launched nothing


def test_hook_timeout_is_a_setting_named_when_it_strikes(project: Project) -> None:
    project.write(
        f"""
        hook_timeout = 0.5
        [tasks.web]
        command = "sleep 300"
        [tasks.web.hooks]
        before_start = "{SLOW_HOOK}"
        """
    )
    started = time.monotonic()
    result = project.run("start")
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    assert "error[E401]" in result.stderr and "timed out after 0.5s" in result.stderr
    assert "hook_timeout" in result.stderr
    pids = [int(p) for p in (project.root / "pids").read_text().split()]
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=3)
    assert project.status()["web"]["running"] is False


def test_a_task_hook_timeout_overrides_the_top_level_one(project: Project) -> None:
    project.write(
        """
        hook_timeout = 0.3
        [hooks]
        before_start = "sleep 0.6"
        [tasks.web]
        command = "sleep 300"
        hook_timeout = 5
        [tasks.web.hooks]
        before_start = "sleep 0.6"
        [tasks.api]
        command = "sleep 300"
        auto_start = false
        hook_timeout = 0.2
        [tasks.api.hooks]
        before_start = "sleep 0.6"
        """
    )
    global_too_slow = project.run("start", "web")
    assert global_too_slow.returncode == 1
    assert "global before_start hook timed out after 0.3s" in global_too_slow.stderr
    project.write(  # the global hook is gone: web's own 5 s is enough, api's 0.2 s is not
        """
        hook_timeout = 0.3
        [tasks.web]
        command = "sleep 300"
        hook_timeout = 5
        [tasks.web.hooks]
        before_start = "sleep 0.6"
        [tasks.api]
        command = "sleep 300"
        auto_start = false
        hook_timeout = 0.2
        [tasks.api.hooks]
        before_start = "sleep 0.6"
        """
    )
    assert project.run("start", "web").returncode == 0
    api = project.run("start", "api")
    assert api.returncode == 1 and "task 'api' before_start hook timed out after 0.2s" in api.stderr


def test_hooks_are_told_their_session_and_task(project: Project) -> None:
    """As docs/configuration.md says: TASKMUX_SESSION always, TASKMUX_TASK_NAME for a
    task's hook (and the names tasks see, TASKMUX_PROJECT and TASKMUX_TASK)."""
    record = "env | grep ^TASKMUX_ | sort > {}.env"
    project.write(
        f"""
        [hooks]
        before_start = "{record.format("global")}"
        [tasks.web]
        command = "sleep 300"
        [tasks.web.hooks]
        after_start = "{record.format("web")}"
        """
    )
    assert project.run("start").returncode == 0
    env = dict(line.split("=", 1) for line in (project.root / "web.env").read_text().split())
    assert env["TASKMUX_SESSION"] == env["TASKMUX_PROJECT"] == project.session
    assert env["TASKMUX_TASK_NAME"] == env["TASKMUX_TASK"] == "web"
    global_env = (project.root / "global.env").read_text()
    assert f"TASKMUX_SESSION={project.session}\n" in global_env
    assert "TASKMUX_TASK_NAME" not in global_env and "TASKMUX_TASK=" not in global_env


def test_a_running_hook_is_shown(project: Project) -> None:
    project.write(
        """
        [hooks]
        before_start = "true"
        [tasks.web]
        command = "sleep 300"
        [tasks.web.hooks]
        before_start = "true"
        after_start = "true"
        """
    )
    result = project.run("start")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "global: running before_start hook…"
    assert "web: running before_start hook…" in lines
    assert lines.index("web: running before_start hook…") < lines.index("web: started")
    assert "web: running after_start hook…" in lines
    assert project.run("stop").returncode == 0
    quiet = project.run("start", "--json")
    assert "hook" not in quiet.stdout  # --json prints one document, no progress
    assert json.loads(quiet.stdout)["started"] == ["web"]


def test_a_running_hook_is_shown_on_a_terminal(project: Project) -> None:
    project.write(
        """
        [tasks.web]
        command = "sleep 300"
        [tasks.web.hooks]
        before_start = "sleep 0.3"
        """
    )
    leader, follower = os.openpty()
    cli = subprocess.Popen(
        [TASKMUX, "start"],
        cwd=project.root,
        env={**project.env, "TERM": "xterm", "COLUMNS": "100"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if not ready:
                if cli.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the CLI
                break
            if not chunk:
                break
            seen += chunk
        assert cli.wait(10) == 0
    finally:
        os.close(leader)
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    text = seen.decode(errors="replace")
    assert "running before_start hook…" in text
    assert "started" in text
