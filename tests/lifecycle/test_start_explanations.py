"""`start --wait`'s explanation: one line per task with its true cause (the timeout when
it ran out), lines of the current run only, and the cause's own error code."""

from __future__ import annotations

import socket

from harness import Project, project

__all__ = ["project"]


def test_a_timeout_is_blamed_on_the_timeout(project: Project) -> None:
    project.write(
        """
        [tasks.db]
        command = "sleep 300"
        health_check = "false"
        health_interval = 0.5
        health_retries = 50
        [tasks.app]
        command = "sleep 300"
        depends_on = ["db"]
        """
    )
    result = project.run("start", "--wait", "--timeout", "1")
    assert result.returncode == 1
    assert "app failed" not in result.stdout + result.stderr
    assert "db: timed out after 1s" in result.stderr


def test_only_the_current_runs_lines_are_shown(project: Project) -> None:
    project.write(
        """
        [tasks.api]
        command = "test -f second || { touch second; echo 'first run: config broken'; exit 1; }; sleep 300"
        health_check = "false"
        restart_policy = "no"
        """
    )
    assert project.run("start").returncode == 1  # the first run dies at once
    result = project.run("start", "--wait", "--timeout", "1")
    assert result.returncode == 1
    assert "first run: config broken" not in result.stdout + result.stderr


def test_a_busy_port_keeps_its_own_code_when_dependents_are_skipped(project: Project) -> None:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        project.write(
            f"""
            [tasks.web]
            command = "sleep 300"
            port = {port}
            [tasks.api]
            command = "sleep 300"
            depends_on = ["web"]
            """
        )
        result = project.run("start", "--wait", "--timeout", "5")
    assert result.returncode == 1
    assert "error[E304]" in result.stderr, result.stderr
    assert "api: skipped: dependency 'web' failed to start (E304, see 'web')" in result.stderr
    assert result.stderr.count("is held by") == 1  # the cause's sentence once, not per task
