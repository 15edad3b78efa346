"""Lifecycle end to end: the installed CLI against a real, private tmux server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from harness import Project, pid_alive, project, wait_until
from libtmux import Server

from taskmux.runtime.tmux_manager import Tmux

__all__ = ["project"]


def test_start_status_inspect_stop(project: Project) -> None:
    project.write(
        """
        [tasks.web]
        command = "sleep 300"
        min_uptime = 0.2
        [tasks.worker]
        command = "sleep 301"
        depends_on = ["web"]
        """
    )
    result = project.json("start")
    assert result["ok"] is True
    assert sorted(result["started"]) == ["web", "worker"]
    rows = project.status()
    assert rows["web"]["state"] == "running" and rows["worker"]["state"] == "running"
    assert rows["worker"]["depends_on"] == ["web"]

    info = project.json("inspect", "web")
    assert info["running"] is True and info["healthy"] is True
    assert psutil.Process(info["pid"]).name() == "sleep"  # the real process, not `sh -c`
    assert info["exit_code"] is None and info["manually_stopped"] is False
    assert info["started_at"] > 0 and info["window_id"].startswith("@")

    again = project.json("start")
    assert again["already_running"] == ["web", "worker"] and again["started"] == []
    assert project.json("inspect", "web")["pid"] == info["pid"]

    stopped = project.json("stop", "web")
    assert stopped["stopped"] == {"web": "SIGINT"}
    assert not pid_alive(info["pid"])
    rows = project.status()
    assert rows["web"]["state"] == "stopped" and rows["web"]["manually_stopped"] is True
    assert project.tmux("list-windows", "-t", f"={project.session}", "-F", "#W").stdout.split() == [
        "web",
        "worker",
    ]  # the window stays, showing the last output

    final = project.json("stop")
    assert final["session_ended"] is True
    assert project.tmux("has-session", "-t", f"={project.session}").returncode != 0
    assert project.marked_processes() == []


def test_stop_escalates_sigint_sigterm_sigkill(project: Project) -> None:
    project.write(
        """
        [tasks.polite]
        command = "sleep 300"
        [tasks.stubborn]
        command = "trap '' INT; sleep 300"
        stop_grace_period = 0.2
        [tasks.deaf]
        command = "trap '' INT TERM; while true; do sleep 0.1; done"
        stop_grace_period = 0.2
        """
    )
    assert project.run("start").returncode == 0
    began = time.monotonic()
    polite = project.json("stop", "polite")
    assert polite["stopped"]["polite"] == "SIGINT"
    assert time.monotonic() - began < 5  # generous; the benchmark measures the real figure
    assert project.json("stop", "stubborn")["stopped"]["stubborn"] == "SIGTERM"
    assert project.json("stop", "deaf")["stopped"]["deaf"] == "SIGKILL"
    assert project.marked_processes() == []


def test_setsid_grandchild_dies_on_stop_and_kill(project: Project) -> None:
    # `&` in sh: the grandchild ignores SIGINT, so the stop goes on to SIGTERM
    script = "setsid sh -c 'echo $$ > {name}.pid; exec sleep 300' & sleep 300"
    project.write(
        f"""
        [tasks.a]
        command = "{script.format(name="a")}"
        stop_grace_period = 0.3
        [tasks.b]
        command = "{script.format(name="b")}"
        stop_grace_period = 0.3
        """
    )
    assert project.run("start").returncode == 0
    pid_a = int(wait_until(lambda: _read(project.root / "a.pid")))
    pid_b = int(wait_until(lambda: _read(project.root / "b.pid")))
    assert pid_alive(pid_a) and os.getsid(pid_a) == pid_a  # it escaped the pane's session
    assert project.run("stop", "a").returncode == 0
    assert not pid_alive(pid_a)
    assert pid_alive(pid_b)
    assert project.json("kill", "b")["was_running"] is True
    assert not pid_alive(pid_b)
    assert project.state("b") == "killed"
    assert project.marked_processes() == []


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def test_exit_codes_and_signals_over_many_quick_exits(project: Project) -> None:
    tasks = "".join(
        f'[tasks.e{i}]\ncommand = "exit {i}"\nrestart_policy = "no"\n' for i in range(1, 16)
    )
    project.write(tasks + '[tasks.k]\ncommand = "kill -9 $$"\n')
    started = project.run("start", "--json")
    assert started.returncode == 1  # each died at once: a failed start, with how it ended
    died = json.loads(started.stdout)["died"]
    assert {name: d["exit_code"] for name, d in died.items() if name != "k"} == {
        f"e{i}": i for i in range(1, 16)
    }
    assert died["k"]["signal"] == "SIGKILL" and died["k"]["exit_code"] is None

    def settled() -> dict[str, dict[str, object]] | None:
        rows = project.status()
        return rows if not any(r["running"] for r in rows.values()) else None

    rows = wait_until(settled)
    for i in range(1, 16):
        assert rows[f"e{i}"]["state"] == f"exited {i}"
        assert rows[f"e{i}"]["exit_code"] == i
    assert rows["k"]["state"] == "killed by SIGKILL"
    info = project.json("inspect", "e3")
    assert info["exit_code"] == 3 and info["running"] is False
    assert project.json("inspect", "k")["signal"] == "SIGKILL"


def test_dependency_order_and_parallel_start(project: Project) -> None:
    project.write(
        """
        [tasks.db]
        command = "sleep 0.3; date +%s.%N > db.ready; sleep 300"
        health_check = "test -f db.ready"
        health_interval = 1
        health_retries = 10
        [tasks.api]
        command = "date +%s.%N > api.started; sleep 300"
        depends_on = ["db"]
        [tasks.i1]
        command = "sleep 300"
        [tasks.i2]
        command = "sleep 300"
        [tasks.i3]
        command = "sleep 300"
        """
    )
    result = project.json("start")
    assert result["ok"] is True
    assert float(_read(project.root / "api.started")) >= float(_read(project.root / "db.ready"))
    rows = project.status()
    starts = [rows[n]["started_at"] for n in ("db", "i1", "i2", "i3")]
    assert max(starts) - min(starts) < 1.0  # independent tasks launched together
    assert rows["api"]["started_at"] > rows["db"]["started_at"]


def test_never_healthy_dependency_skips_dependents(project: Project) -> None:
    project.write(
        """
        [tasks.db]
        command = "sleep 300"
        health_check = "false"
        health_interval = 0.2
        health_retries = 2
        [tasks.api]
        command = "sleep 300"
        depends_on = ["db"]
        [tasks.web]
        command = "sleep 300"
        depends_on = ["api"]
        [tasks.other]
        command = "sleep 300"
        """
    )
    result = project.run("start", "--json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["error"]["code"] == "E402"
    assert set(data["skipped"]) == {"api", "web"}
    assert "db" in data["skipped"]["api"]
    assert sorted(data["started"]) == ["db", "other"]
    assert project.status()["api"]["running"] is False


def test_start_with_nothing_to_start_says_why(project: Project) -> None:
    project.write("")
    result = project.run("start")
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'no tasks in taskmux.toml (add one with `taskmux add NAME "COMMAND"`)\n'
    doc = project.json("start")
    assert doc["ok"] is True and doc["started"] == []
    assert doc["note"].startswith("no tasks in taskmux.toml")

    project.write(
        """
        [tasks.web]
        command = "sleep 300"
        auto_start = false
        """
    )
    result = project.run("start")
    assert result.returncode == 0, result.stderr
    assert "no task in taskmux.toml has auto_start = true" in result.stdout
    assert "`taskmux start web`" in result.stdout
    assert project.state("web") != "running"
    assert "note" not in project.json("start", "web")  # named: it just starts
    assert project.run("stop").returncode == 0


def test_named_start_warns_about_missing_dependency(project: Project) -> None:
    project.write(
        """
        [tasks.db]
        command = "sleep 300"
        [tasks.api]
        command = "sleep 300"
        depends_on = ["db"]
        """
    )
    result = project.run("start", "api")
    assert result.returncode == 0
    assert "dependency 'db' is not running" in result.stderr
    rows = project.status()
    assert rows["api"]["running"] is True and rows["db"]["running"] is False


def test_hook_order_and_failing_before_start(project: Project) -> None:
    log = project.root / "hooks.log"
    project.write(
        f"""
        [hooks]
        before_start = "echo global-before-start >> {log}"
        after_start = "echo global-after-start >> {log}"
        before_stop = "echo global-before-stop >> {log}"
        after_stop = "echo global-after-stop >> {log}"
        [tasks.a]
        command = "echo command >> {log}; sleep 300"
        [tasks.a.hooks]
        before_start = "echo task-before-start >> {log}"
        after_start = "sleep 0.3; echo task-after-start >> {log}"
        before_stop = "echo task-before-stop >> {log}"
        after_stop = "echo task-after-stop >> {log}"
        [tasks.bad]
        command = "sleep 300"
        auto_start = false
        [tasks.bad.hooks]
        before_start = "echo broken; exit 7"
        """
    )
    assert project.run("start").returncode == 0
    assert project.run("stop", "a").returncode == 0
    lines = log.read_text().split()
    assert lines == [
        "global-before-start",
        "task-before-start",
        "command",
        "task-after-start",
        "global-after-start",
        "global-before-stop",
        "task-before-stop",
        "task-after-stop",
        "global-after-stop",
    ]
    failed = project.run("start", "bad")
    assert failed.returncode == 1
    assert "exit 7" in failed.stderr and "broken" in failed.stderr
    assert project.status()["bad"]["running"] is False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LISTENER = (
    "import socket,sys,time; s=socket.socket(); "
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); "
    "c=s.accept() if len(sys.argv) > 2 else None; time.sleep(300)"
)
CLIENT = (
    "import socket,sys,time; c=socket.create_connection(('127.0.0.1', int(sys.argv[1]))); "
    "print('connected', flush=True); time.sleep(300)"
)


def test_port_cleanup_kills_listener_not_client(project: Project) -> None:
    port = _free_port()
    # A leftover of this project (started from its folder): see test_ports.py for the rest.
    foreign = subprocess.Popen([sys.executable, "-c", LISTENER, str(port)], cwd=project.root)
    try:
        wait_until(
            lambda: any(
                c.laddr.port == port for c in psutil.net_connections("tcp") if c.status == "LISTEN"
            )
        )
        project.write(
            f"""
            [tasks.srv]
            command = "{sys.executable} -c \\"{LISTENER}\\" {port} accept"
            port = {port}
            """
        )
        assert project.run("start").returncode == 0
        assert foreign.wait(timeout=10) is not None  # the foreign listener was removed
    finally:
        if foreign.poll() is None:
            foreign.kill()
        foreign.wait()
    wait_until(
        lambda: any(
            c.laddr.port == port for c in psutil.net_connections("tcp") if c.status == "LISTEN"
        )
    )
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert client.stdout is not None and client.stdout.readline().strip() == "connected"
        pid_before = project.json("inspect", "srv")["pid"]
        assert project.json("start", "srv")["already_running"] == ["srv"]
        assert project.json("inspect", "srv")["pid"] == pid_before  # start left it alone
        assert project.run("restart", "srv").returncode == 0
        assert client.poll() is None  # a client of the port is not a listener
        assert project.json("inspect", "srv")["pid"] != pid_before
    finally:
        client.kill()
        client.communicate()


def test_hostile_tmux_config_does_not_change_tasks(project: Project, isolated_home: Path) -> None:
    (isolated_home / ".tmux.conf").write_text(
        "set -g default-shell /usr/bin/false\nset -g base-index 1\nset -g default-command /usr/bin/false\n"
    )
    project.write(
        """
        [tasks.a]
        command = "echo ran > a.out; sleep 300"
        [tasks.b]
        command = "exit 5"
        restart_policy = "no"
        """
    )
    assert project.run("start").returncode == 1  # b's exit 5 is a failed start
    assert wait_until(lambda: _read(project.root / "a.out")) == "ran"
    assert wait_until(lambda: project.state("b") == "exited 5")
    assert project.state("a") == "running"


def test_commands_run_verbatim(project: Project) -> None:
    project.write(
        """
        [tasks.v]
        command = '''X=hello; echo "$X 'quoted' world" | tr a-z A-Z > out.txt && echo 'semi;' >> out.txt; exit 0;'''
        restart_policy = "no"
        """
    )
    assert project.run("start").returncode == 0
    wait_until(lambda: project.state("v") == "completed")
    assert (project.root / "out.txt").read_text() == "HELLO 'QUOTED' WORLD\nsemi;\n"


def test_restart_keeps_window_and_clears_manual_stop(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n')
    assert project.run("start").returncode == 0
    before = project.json("inspect", "a")
    assert project.run("stop", "a").returncode == 0
    assert project.json("inspect", "a")["manually_stopped"] is True
    assert project.run("restart", "a").returncode == 0
    after = project.json("inspect", "a")
    assert after["running"] is True and after["manually_stopped"] is False
    assert (after["window_id"], after["pane_id"]) == (before["window_id"], before["pane_id"])
    assert after["pid"] != before["pid"]


def test_health_reports_each_task(project: Project) -> None:
    project.write(
        """
        [tasks.good]
        command = "sleep 300"
        health_check = "true"
        [tasks.bad]
        command = "sleep 300"
        health_check = "echo nope; exit 1"
        [tasks.slow]
        command = "sleep 300"
        health_check = "sleep 30"
        health_timeout = 0.5
        [tasks.plain]
        command = "sleep 300"
        """
    )
    assert project.run("start").returncode == 0
    result = project.run("health", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["healthy"] is False
    assert report["error"]["code"] == "E404"
    assert "bad (health check exited 1: nope)" in report["error"]["message"]
    assert "slow (health check timed out after 0.5s)" in report["error"]["message"]
    data = report["tasks"]
    assert data["good"]["healthy"] is True and data["plain"]["healthy"] is True
    assert data["bad"]["healthy"] is False and "nope" in data["bad"]["output"]
    assert data["slow"]["timed_out"] is True
    assert all(t["state"] == "running" for t in data.values())
    bad = project.status()["bad"]
    assert bad["health_checked_at"] is not None  # the verdict is shared...
    # ...but one failed check by hand is neither a streak nor "unhealthy"
    assert bad["state"] in ("starting", "running") and bad["healthy"] is None
    assert bad["health_failures"] == 0


def test_missing_cwd_and_unknown_task_are_clear_errors(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\ncwd = "nowhere"\n')
    result = project.run("start")
    assert result.returncode == 1
    assert "E303" in result.stderr and "nowhere" in result.stderr, result.stderr
    unknown = project.run("stop", "ghost")
    assert unknown.returncode == 2 and "E201" in unknown.stderr
    assert "Traceback" not in result.stderr + unknown.stderr


@pytest.mark.parametrize("command", ["stop", "restart"])
def test_stop_and_restart_without_session(project: Project, command: str) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\nauto_start = false\n')
    result = project.run(command, "a")
    assert result.returncode == 0, result.stderr


def test_a_longer_session_name_is_not_mistaken_for_ours(project: Project) -> None:
    """tmux resolves `-t =api` to a session `api-v2` when `api` does not exist."""
    other = f"{project.session}-v2"
    project.tmux("new-session", "-d", "-s", other, "-n", "a", "sleep 300")
    project.tmux("set-option", "-w", "-t", f"={other}:=a", "@taskmux_task", "a")
    project.write('[tasks.a]\ncommand = "sleep 300"\n')
    data = project.json("status")
    assert data["session_running"] is False
    assert data["tasks"][0]["state"] == "not started"
    assert project.json("stop")["stopped"] == {}
    assert project.tmux("has-session", "-t", f"={other}").returncode == 0


def test_a_second_checkout_gets_its_own_session(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.write('[tasks.web]\ncommand = "sleep 300"\n')
    assert project.run("start").returncode == 0
    other = Project(tmp_path_factory.mktemp("worktree"), project.socket_name)
    other.session = project.session  # same `name`, another folder: a second worktree
    other.write('[tasks.web]\ncommand = "sleep 301"\n')
    alternate = f"{project.session}-{other.paths.checkout_id}"
    data = other.json("status")
    assert (data["session"], data["session_running"]) == (alternate, False)
    assert other.json("start")["session"] == alternate
    assert other.json("status")["session"] == alternate
    assert other.status()["web"]["running"] is True
    assert other.json("stop")["session_ended"] is True
    assert project.status()["web"]["running"] is True
    assert project.json("status")["session"] == project.session


def test_stop_of_an_exited_task_removes_its_orphans(project: Project) -> None:
    project.write(
        """
        [tasks.t]
        command = "setsid sh -c 'echo $$ > orphan.pid; exec sleep 300' & sleep 0.2; exit 0"
        restart_policy = "no"
        stop_grace_period = 0.3
        """
    )
    assert project.run("start").returncode == 0
    orphan = int(wait_until(lambda: _read(project.root / "orphan.pid")))
    wait_until(lambda: project.state("t") == "completed")
    assert pid_alive(orphan)
    assert project.run("stop", "t").returncode == 0
    assert not pid_alive(orphan)


def test_kill_mark_outlives_the_session(project: Project) -> None:
    project.write('[tasks.only]\ncommand = "sleep 300"\n')
    assert project.run("start").returncode == 0
    assert project.json("kill", "only")["was_running"] is True
    assert project.tmux("has-session", "-t", f"={project.session}").returncode != 0
    row = project.status()["only"]
    assert row["state"] == "killed" and row["manually_stopped"] is True
    assert project.run("start").returncode == 0
    assert project.status()["only"]["state"] == "running"


def test_concurrent_starts_of_one_task_launch_it_once(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n[tasks.b]\ncommand = "sleep 300"\n')
    starters = [project.spawn("start", "a", "b") for _ in range(3)]  # real processes race
    for proc in starters:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    windows = project.tmux("list-windows", "-t", f"={project.session}", "-F", "#W").stdout.split()
    assert sorted(windows) == ["a", "b"]
    assert (
        sorted(p.name() for p in project.marked_processes() if p.name() == "sleep") == ["sleep"] * 2
    )


def test_tmux_seam_accepts_a_libtmux_server(project: Project, server: Server) -> None:
    """One observation through `Tmux.from_server` sees what the CLI started."""
    project.write('[tasks.a]\ncommand = "sleep 300"\n[tasks.b]\ncommand = "exit 4"\n')
    assert project.run("start").returncode == 1  # b's exit 4 is a failed start
    wait_until(lambda: project.state("b") == "exited 4")
    observation = Tmux.from_server(server).observe(project.session)
    assert observation.session_exists and observation.owner == project.paths.root.name
    assert observation.tasks["a"].is_alive and observation.tasks["b"].exit_status == 4


def test_a_plain_command_is_the_waiting_shells_child(project: Project) -> None:
    """`sleep 300` runs as the only child of the pane's waiting shell (runtime/taskcmd.py),
    which ends as the task did, so SIGKILL reads as SIGKILL."""
    project.write('[tasks.a]\ncommand = "sleep 300"\nrestart_policy = "no"\n')
    assert project.run("start").returncode == 0
    info = project.json("inspect", "a")
    assert psutil.Process(info["pid"]).ppid() == info["pane_pid"]
    os.kill(info["pid"], signal.SIGKILL)
    assert wait_until(lambda: project.state("a") == "killed by SIGKILL")


def test_a_stop_of_everything_leaves_its_tasks_shown_as_stopped(project: Project) -> None:
    """No window is left after `stop`, but what it stopped reads "stopped" (on both read
    paths), not "not started"; a one-shot that had completed still reads "completed",
    and a task it never ran "not started"."""
    project.write(
        """
        [tasks.a]
        command = "exec sleep 300"
        [tasks.b]
        command = "exec sleep 300"
        [tasks.later]
        command = "exec sleep 300"
        auto_start = false
        [tasks.once]
        command = "true"
        """
    )
    assert project.run("start").returncode == 0
    wait_until(lambda: project.state("once") == "completed")
    assert project.json("stop")["session_ended"] is True
    for args in (("status", "--json"), ("status", "--json", "--")):  # lean, then service
        rows = {row["name"]: row for row in json.loads(project.run(*args).stdout)["tasks"]}
        states = {name: (row["state"], row["manually_stopped"]) for name, row in rows.items()}
        assert states == {
            "a": ("stopped", True),
            "b": ("stopped", True),
            "later": ("not started", False),
            "once": ("completed", False),  # what it was when its window closed
        }, args
    assert project.run("start").returncode == 0
    assert project.status()["a"]["state"] == "running"
