"""Readiness end to end (SPEC §9): real tasks on a private tmux server, driven through the
installed CLI. Probes against an HTTP server in the test, ready lines printed late,
migrations that exit 0 and 1, `start --wait` and `--with-deps`."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from harness import Project, holds_for, project, wait_until
from probe_server import ProbeServer, free_port, probe_server

__all__ = ["probe_server", "project"]

# A database-like task: accepts TCP connections only after a while, like a server that
# replays its journal first. `{port}` and `{delay}` are filled in per test.
DB = """python3 -u -c "
import socket, time
time.sleep({delay})
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', {port}))
s.listen()
print('db: accepting connections', flush=True)
while True:
    s.accept()[0].close()
"
"""


def _events(project: Project, task: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in project.events() if e.get("task") == task and e["event"] == kind]


def _stack(project: Project, migrate: str, db_port: int, web_port: int) -> None:
    project.write(
        f"""
        [tasks.db]
        command = '''{DB.format(delay=0.8, port=db_port)}'''
        port = {db_port}
        health_tcp = true
        health_interval = 0.5
        stop_grace_period = 1

        [tasks.migrate]
        command = "{migrate}"
        depends_on = ["db"]

        [tasks.web]
        command = "mkdir -p site && echo 'shop OK' > site/index.html && exec python3 -m http.server {web_port} --bind 127.0.0.1 --directory site"
        port = {web_port}
        health_url = "http://127.0.0.1:{web_port}/"
        health_expect_body = "shop OK"
        depends_on = [{{ task = "migrate", condition = "completed_successfully" }}, "db"]
        stop_grace_period = 1
        """
    )


def test_a_stack_with_a_migration_comes_up_and_start_wait_returns_when_ready(
    project: Project,
) -> None:
    db_port, web_port = free_port(), free_port()
    _stack(project, "sleep 1; echo applying 0042; echo done > migrated.txt", db_port, web_port)
    began = time.monotonic()
    result = project.run("start", "--wait", "--timeout", "30", "--json")
    took = time.monotonic() - began
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["wait"]["timed_out"] is False
    # db came up after 0.8 s, the migration ran 1 s after db was healthy, then web.
    assert 1.8 <= took < 15, took
    assert (project.root / "migrated.txt").read_text() == "done\n"
    tasks = doc["wait"]["tasks"]
    assert {name: t["met"] for name, t in tasks.items()} == {
        "db": True,
        "migrate": True,
        "web": True,
    }
    assert tasks["migrate"]["state"] == "completed" and tasks["migrate"]["exit_code"] == 0
    assert tasks["web"]["health"]["probe"] == "http"
    assert tasks["web"]["health"]["reason"] == "status 200, body matched /shop OK/"
    assert tasks["db"]["health"]["reason"] == f"port {db_port} accepted a connection"
    # web was launched only once the migration had finished.
    rows = project.status()
    assert rows["web"]["started_at"] > (project.root / "migrated.txt").stat().st_mtime
    assert rows["web"]["healthy"] is True and rows["web"]["probe"] == "http"
    assert rows["db"]["probe"] == "tcp"


def test_start_wait_fails_within_a_second_of_a_failed_migration(project: Project) -> None:
    db_port, web_port = free_port(), free_port()
    migrate = (
        "sleep 0.3; echo applying 0042; echo 'ERROR: relation users already exists';"
        " python3 -c 'import time; print(time.time())' > failed_at; exit 1"
    )
    _stack(project, migrate, db_port, web_port)
    result = project.run("start", "--wait", "--timeout", "30")
    ended = time.time()
    assert result.returncode == 1, result.stdout + result.stderr
    failed_at = float((project.root / "failed_at").read_text())
    assert ended - failed_at < 1.0, ended - failed_at
    output = result.stdout + result.stderr
    assert "✗ migrate: exited 1" in output and "exit code: 1" in output
    assert "ERROR: relation users already exists" in output  # its last lines
    assert "web: skipped: dependency 'migrate' exited 1" in output
    assert "error[E403]: migrate: exited 1" in result.stderr
    rows = project.status()
    assert rows["web"]["state"] == "not started" and rows["db"]["running"] is True

    doc = project.json("start", "--wait", "--timeout", "30")  # the same, as JSON
    assert doc["ok"] is False and doc["error"]["code"] == "E403"
    migrate_wait = doc["wait"]["tasks"]["migrate"]
    assert (migrate_wait["exit_code"], migrate_wait["met"]) == (1, False)
    assert migrate_wait["logs"][-1] == "ERROR: relation users already exists"
    assert migrate_wait["logs"].count("applying 0042") == 1  # this run's lines only
    assert doc["skipped"]["web"].startswith("dependency 'migrate' exited 1")
    assert doc["wait"]["tasks"]["web"]["logs"] == []


def test_http_probe_reasons_reach_start_wait_and_status(
    project: Project, probe_server: ProbeServer
) -> None:
    project.write(
        f"""
        [tasks.api]
        command = "echo api booting; sleep 300"
        health_url = "{probe_server.url}"
        health_expect_body = "ok: ready"
        health_timeout = 1
        """
    )
    probe_server.answer.status = 500
    probe_server.answer.body = "Internal Server Error: database is locked"
    began = time.monotonic()
    doc = project.json("start", "--wait", "--timeout", "1.5")
    assert 1.4 <= time.monotonic() - began < 10
    assert doc["ok"] is False and doc["wait"]["timed_out"] is True
    api = doc["wait"]["tasks"]["api"]
    assert api["reason"] == ("timed out after 1.5s: not healthy: status 500 (expected 200-399)")
    assert "database is locked" in api["health"]["output"]
    assert api["logs"] == ["api booting"]

    probe_server.answer.status = 200
    probe_server.answer.body = "<h1>Compile error</h1>"
    wrong = project.json("wait", "api", "--timeout", "0.5")
    assert wrong["tasks"]["api"]["reason"].endswith("status 200, body did not match /ok: ready/")
    assert project.run("health").returncode == 1
    row = project.status()["api"]
    assert row["probe_reason"] == "status 200, body did not match /ok: ready/"
    assert "http probe: status 200, body did not match" in _status_text(project)

    probe_server.answer.body = "ok: ready"
    assert project.json("start", "--wait", "--timeout", "10")["ok"] is True  # already running
    assert project.status()["api"]["healthy"] is True


def _status_text(project: Project) -> str:
    """`status` as a person reads it, on a terminal wide enough for the notes on one line."""
    project.env["COLUMNS"] = "250"
    try:
        return " ".join(project.run("status").stdout.split())
    finally:
        del project.env["COLUMNS"]


def test_a_ready_line_printed_late(project: Project) -> None:
    project.write(
        """
        [tasks.web]
        command = "echo compiling; if [ -f slow ]; then sleep 1.5; fi; while [ -f hold ]; do sleep 0.05; done; echo 'ready in 42ms on :3000'; sleep 300"
        ready_log = "ready in \\\\d+ms"
        stop_grace_period = 0.5
        """
    )
    (project.root / "slow").touch()
    began = time.monotonic()
    doc = project.json("start", "--wait", "--timeout", "20")
    took = time.monotonic() - began
    assert doc["ok"] is True, doc
    assert 1.5 <= took < 10, took  # not ready before the line, ready soon after it
    assert project.status()["web"]["ready"] is True

    # A restart needs a new line: the one the previous run printed does not count.
    (project.root / "slow").unlink()
    (project.root / "hold").touch()  # the next run prints its line once this is gone
    assert project.run("restart", "web").returncode == 0
    early = project.json("wait", "web", "--timeout", "0.5")
    assert early["ok"] is False
    assert early["tasks"]["web"]["reason"].endswith(r"ready line /ready in \d+ms/ not printed yet")
    assert early["tasks"]["web"]["logs"] == ["compiling"]  # this run's lines, not the last one's
    assert project.status()["web"]["ready"] is False
    (project.root / "hold").unlink()
    assert project.json("wait", "web", "--timeout", "20")["ok"] is True
    assert project.status()["web"]["ready"] is True


def test_a_dependency_that_exits_skips_its_dependents_at_once(project: Project) -> None:
    project.write(
        """
        [tasks.api]
        command = "echo starting api; sleep 1; echo 'fatal: config missing'; exit 2"
        health_check = "false"
        health_interval = 10
        health_retries = 10
        restart_policy = "no"

        [tasks.worker]
        command = "sleep 300"
        depends_on = ["api"]
        """
    )
    began = time.monotonic()
    result = project.run("start", "--json")
    assert time.monotonic() - began < 6  # not the 100 s a healthy wait could take
    doc = json.loads(result.stdout)
    assert result.returncode == 1 and doc["started"] == ["api"]
    assert doc["skipped"] == {
        "worker": "dependency 'api' exited 2; it can no longer become healthy"
    }


def test_started_and_completed_conditions(project: Project) -> None:
    project.write(
        """
        [tasks.slowdb]
        command = "sleep 300"
        health_check = "false"
        health_interval = 10

        [tasks.seed]
        command = "sleep 0.5; echo partly seeded; exit 4"

        [tasks.app]
        command = "sleep 300"
        depends_on = [
            { task = "slowdb", condition = "started" },
            { task = "seed", condition = "completed" },
        ]
        """
    )
    began = time.monotonic()
    doc = project.json("start")
    assert time.monotonic() - began < 8
    assert "app" in doc["started"], doc  # started: no health wait; completed: any exit
    assert doc["skipped"] == {} and doc["failed"] == {}
    rows = project.status()
    assert rows["seed"]["state"] == "exited 4" and rows["app"]["running"] is True


def test_with_deps_starts_what_the_named_tasks_need(project: Project) -> None:
    project.write(
        """
        [tasks.db]
        command = "sleep 300"
        auto_start = false
        min_uptime = 0.2

        [tasks.migrate]
        command = "echo migrated"
        depends_on = ["db"]
        auto_start = false

        [tasks.web]
        command = "sleep 300"
        min_uptime = 0.2
        depends_on = [{ task = "migrate", condition = "completed_successfully" }]

        [tasks.other]
        command = "sleep 300"
        """
    )
    alone = project.run("start", "web", "--json")
    assert alone.returncode == 0
    assert "dependency 'migrate' has not completed successfully" in alone.stderr
    assert "--with-deps" in alone.stderr
    assert project.run("stop").returncode == 0
    doc = project.json("start", "web", "--with-deps", "--wait")
    assert doc["ok"] is True, doc
    assert doc["started"] == ["db", "web"] and doc["completed"] == ["migrate"]
    rows = project.status()
    assert rows["other"]["state"] == "not started"
    # A migration that completed earlier meets its condition: no warning this time.
    again = project.run("restart", "web")
    assert again.returncode == 0 and "W401" not in again.stderr


def test_success_exit_codes_complete_and_are_not_restarted(project: Project) -> None:
    project.write(
        """
        [tasks.job]
        command = "echo done, nothing to do; exit 3"
        success_exit_codes = [0, 3]
        """
    )
    doc = project.json("start", "--wait")
    assert doc["ok"] is True and doc["completed"] == ["job"], doc
    project.supervise()
    wait_until(lambda: _events(project, "job", "exited"), timeout=15)  # the supervisor saw it
    holds_for(lambda: not _events(project, "job", "restart_scheduled"), 0.5)
    rows = project.status()
    assert rows["job"]["state"] == "completed (exit 3)" and rows["job"]["restart_count"] == 0
    assert _events(project, "job", "restart_scheduled") == []


def test_health_start_period_keeps_failed_checks_from_counting(project: Project) -> None:
    project.write(
        """
        [tasks.warm]
        command = "sleep 300"
        health_check = "echo cold; exit 1"
        health_interval = 0.2
        health_retries = 2
        health_start_period = 2
        restart_policy = "no"
        """
    )
    project.supervise()
    wait_until(lambda: project.status()["warm"]["running"])
    started = project.status()["warm"]["started_at"]
    failed = wait_until(lambda: _events(project, "warm", "health_failed"), timeout=15)
    # Five checks fail inside the period; only those after it make the streak of two.
    assert failed[0]["ts"] >= started + 2.0, failed[0]["ts"] - started
    assert project.status()["warm"]["state"] == "unhealthy"


def test_restart_delay_zero_restarts_at_once(project: Project) -> None:
    project.write(
        """
        [tasks.crashy]
        command = "sleep 0.3; exit 1"
        restart_delay = 0
        max_restarts = 2
        """
    )
    project.supervise()
    gave_up = wait_until(lambda: _events(project, "crashy", "gave_up"), timeout=20)
    scheduled = _events(project, "crashy", "restart_scheduled")
    assert [e["delay"] for e in scheduled] == [0, 0]
    restarted = _events(project, "crashy", "restarted")
    assert len(restarted) == 2 and gave_up


def test_stop_signal_is_the_first_signal_of_a_stop(project: Project) -> None:
    ignores_int = (
        'python3 -u -c "import signal, sys, time; '
        "signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
        "print('up', flush=True); time.sleep(300)\""
    )
    project.write(
        f"""
        [tasks.term]
        command = '''{ignores_int}'''
        stop_signal = "SIGTERM"
        stop_grace_period = 20

        [tasks.quit]
        command = "sleep 300"
        stop_signal = "QUIT"
        stop_grace_period = 20
        """
    )
    assert project.json("start", "--wait")["ok"] is True
    wait_until(lambda: "up" in project.run("logs", "term", "-n", "5").stdout)
    began = time.monotonic()
    doc = project.json("stop", "term", "quit")
    assert time.monotonic() - began < 5  # not the 20 s grace: SIGINT was never sent
    assert doc["stopped"] == {"term": "SIGTERM", "quit": "SIGQUIT"}


def test_check_reports_the_readiness_mistakes(project: Project) -> None:
    project.write(
        """
        [tasks.web]
        command = "sleep 1"
        health_check = "true"
        health_url = "localhost:3000"
        ready_log = "ready ("
        stop_signal = "SIGHALT"
        success_exit_codes = [0, 300]

        [tasks.db]
        command = "sleep 1"
        health_tcp = true
        health_expect_body = "ok"
        depends_on = [{ task = "web", condition = "finished" }]
        """
    )
    doc = project.json("check")
    found = {(p["task"], p["key"], p["code"]) for p in doc["problems"]}
    assert doc["ok"] is False
    assert ("web", "success_exit_codes", "E113") in found
    assert ("db", "depends_on.condition", "E112") in found
    project.write(
        """
        [tasks.web]
        command = "sleep 1"
        health_check = "true"
        health_url = "localhost:3000"
        ready_log = "ready ("
        stop_signal = "SIGHALT"

        [tasks.db]
        command = "sleep 1"
        health_tcp = true
        health_expect_body = "ok"
        """
    )
    doc = project.json("check")
    found = {(p["task"], p["key"], p["code"]) for p in doc["problems"]}
    assert found == {
        ("web", "health_url", "E130"),
        ("web", "health_url", "E133"),
        ("web", "ready_log", "E131"),
        ("web", "stop_signal", "E132"),
        ("db", "health_tcp", "E133"),
        ("db", "health_expect_body", "W134"),
    }
    assert project.run("check").returncode == 2


def test_the_timeout_bounds_the_waits_for_dependencies_too(project: Project) -> None:
    project.write(
        """
        [tasks.migrate]
        command = "echo migrating forever; sleep 300"
        stop_grace_period = 0.5

        [tasks.web]
        command = "sleep 300"
        depends_on = [{ task = "migrate", condition = "completed_successfully" }]
        """
    )
    began = time.monotonic()
    doc = project.json("start", "--wait", "--timeout", "2")
    assert 1.9 <= time.monotonic() - began < 8
    assert doc["ok"] is False
    assert doc["skipped"] == {
        "web": "dependency 'migrate' was still running when the timeout ran out"
    }
    assert doc["wait"]["tasks"]["web"]["reason"].startswith("skipped: dependency 'migrate'")


@pytest.mark.parametrize("flood", [3, 40])  # KB: past every kept file (1 KB each, one backup)
def test_a_ready_line_rotated_away_before_the_first_check_is_seen(
    project: Project, flood: int
) -> None:
    """The line is printed, then enough output to rotate the log past it, all before
    `start --wait` first looks: the current run's lines are read wherever they went."""
    project.write(
        f"""
        log_max_size_mb = 0.001
        log_backups = 1
        [tasks.web]
        command = "echo 'ready on :3000'; i=0; while [ $i -lt {flood * 16} ]; do printf '%063d\\\\n' $i; i=$((i+1)); done; sleep 300"
        ready_log = "ready on :\\\\d+"
        stop_grace_period = 0.5
        """
    )
    doc = project.json("start", "--wait", "--timeout", "8")
    assert doc["ok"] is True, doc
    assert project.status()["web"]["ready"] is True
