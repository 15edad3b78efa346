"""Supervision end to end on a private tmux server: `start -m`'s own start and monitor
run in the test's process (`Project.supervise`), or as a real process where only one
shows the behaviour (signals, a killed supervisor, a second one refused)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from harness import Project, Supervising, holds_for, pid_alive, project, wait_until

from taskmux.runtime.timing import TIMING_VAR
from taskmux.runtime.tmux_manager import Observation
from taskmux.supervision.supervisor import Supervisor

__all__ = ["project"]


def _events(project: Project, task: str, kind: str) -> list[dict[str, object]]:
    return [e for e in project.events() if e["task"] == task and e["event"] == kind]


def _looked(supervising: Supervising) -> Supervisor:
    """Wake the supervisor until a whole tick that began after this call has ended, then
    wait for the actions it started: it has seen, and acted on, all that happened before
    (no window of time in which it may or may not have looked)."""
    supervisor = supervising.monitor.supervisor
    since = supervisor.ticks  # a tick under way now may have read tmux before the change

    def looked() -> bool:
        supervisor.wake()
        return supervisor.ticks >= since + 2

    wait_until(looked, timeout=15)
    wait_until(lambda: all(a.done() for a in list(supervisor.actions.values())), timeout=15)
    return supervisor


def _seen(supervising: Supervising, check: Callable[[Observation], bool]) -> None:
    """Wait until the supervisor's own last sight of tmux passes `check`, and that tick
    (with what it decided) is over."""
    supervisor = supervising.monitor.supervisor
    wait_until(lambda: check(supervisor.snapshot), timeout=15)
    _looked(supervising)


def test_policies_under_start_monitor(project: Project) -> None:
    # crash and forever live 0.6 s: well past the 0.15 s settle window even when a loaded
    # machine looks at tmux late (a death seen after the window still reads as a failed start)
    project.write(
        """
        [tasks.crash]
        command = "sleep 0.6; exit 3"
        max_restarts = 2
        restart_delay = 0.2
        restart_backoff = 1.0
        [tasks.done]
        command = "exit 0"
        [tasks.forever]
        command = "sleep 0.6; exit 0"
        restart_policy = "always"
        restart_delay = 0.2
        restart_backoff = 1.0
        max_restarts = 1000
        [tasks.never]
        command = "exit 4"
        restart_policy = "no"
        """
    )
    supervising = project.supervise()  # never's start fails; supervision goes on
    first = wait_until(lambda: _events(project, "crash", "exited"), timeout=15)[0]
    restarted = wait_until(lambda: _events(project, "crash", "restarted"), timeout=15)[0]
    # Noticed and restarted within about a second plus the 0.2 s delay.
    assert restarted["ts"] - first["ts"] < 0.2 + 1.5
    wait_until(lambda: project.status()["crash"]["gave_up"], timeout=20)
    rows = project.status()
    assert rows["crash"]["state"] == "gave up (exited 3)" and rows["crash"]["restart_count"] == 2
    wait_until(lambda: len(_events(project, "forever", "restarted")) >= 2, timeout=15)
    assert (
        _events(project, "done", "restarted") == [] and _events(project, "never", "restarted") == []
    )
    assert rows["done"]["state"] == "completed" and rows["never"]["state"] == "exited 4"
    assert supervising.alive

    # A crash_loop notice (three quick exits) is told apart from the lifecycle, whenever
    # the notifier reads the log: not part of this order.
    kinds = [
        e["event"] for e in project.events() if e["task"] == "crash" and e["event"] != "crash_loop"
    ]
    assert kinds[:4] == ["started", "exited", "restart_scheduled", "started"]
    assert kinds[-1] == "gave_up"
    assert all(e["exit_code"] == 3 for e in _events(project, "crash", "exited"))


def test_manual_stop_and_kill_from_another_process_are_respected(project: Project) -> None:
    """The stop and the kill come from CLI calls, the supervisor runs in a thread: what
    they share (the marks in tmux, the wake-up socket) is what another process sees."""
    project.write(
        """
        [tasks.x]
        command = "sleep 300"
        restart_policy = "always"
        restart_delay = 0.2
        health_check = "true"
        health_interval = 0.1
        [tasks.y]
        command = "sleep 300"
        restart_policy = "always"
        restart_delay = 0.2
        """
    )
    supervising = project.supervise()
    wait_until(lambda: all(r["running"] for r in project.status().values()), timeout=15)
    assert project.run("stop", "x").returncode == 0
    assert project.run("kill", "y").returncode == 0

    # The supervisor has seen both dead, and any restart it might have scheduled has
    # fallen due and been acted on: nothing was restarted.
    # (a killed task's window may be gone from the sight: gone is as dead)
    _seen(
        supervising,
        lambda seen: all((t := seen.tasks.get(n)) is None or t.dead for n in ("x", "y")),
    )
    wait_until(
        lambda: all(
            (due := row.get("next_restart_at")) is None or due <= time.time()
            for row in project.status().values()
        ),
        timeout=15,
    )
    supervisor = _looked(supervising)
    assert "x" not in supervisor.next_check  # no more health checks of a stopped task
    rows = project.status()
    assert rows["x"]["state"] == "stopped" and rows["y"]["state"] == "killed"
    assert _events(project, "x", "restarted") == [] and _events(project, "y", "restarted") == []

    assert project.run("start", "x").returncode == 0
    pid = project.json("inspect", "x")["pid"]
    os.kill(pid, signal.SIGKILL)  # a crash the supervisor did not cause: restarted again
    wait_until(lambda: _events(project, "x", "restarted"), timeout=10)
    wait_until(lambda: project.status()["x"]["running"], timeout=10)


def test_supervisor_crash_loses_nothing(project: Project) -> None:
    project.write(
        """
        [tasks.stable]
        command = "sleep 300"
        [tasks.flaky]
        command = "sleep 0.3; exit 1"
        restart_delay = 0.2
        restart_backoff = 1.0
        max_restarts = 100
        """
    )
    first = project.spawn("start", "-m")  # a real process: killed with SIGKILL below
    wait_until(lambda: project.status()["flaky"]["restart_count"] >= 1, timeout=20)
    pid_stable = project.json("inspect", "stable")["pid"]
    second_try = project.refused("start", "-m")  # another process holds the claim
    assert second_try.returncode == 1 and "E501" in second_try.stderr
    assert f"pid {first.pid}" in second_try.stderr

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert project.json("inspect", "stable")["pid"] == pid_stable  # tasks keep running
    count = project.status()["flaky"]["restart_count"]

    project.supervise()  # the next supervisor (in a thread) takes over
    wait_until(lambda: project.status()["flaky"]["restart_count"] > count, timeout=20)
    assert project.json("inspect", "stable")["pid"] == pid_stable  # left untouched


def test_hanging_health_check_does_not_stall_exit_detection(project: Project) -> None:
    project.write(
        """
        [tasks.hang]
        command = "sleep 300"
        health_check = "sleep 100"
        health_interval = 0.1
        health_timeout = 5
        [tasks.crash]
        command = "sleep 0.3; exit 2"
        restart_delay = 0.2
        restart_backoff = 1.0
        """
    )
    # The check hangs for its whole 5 s timeout (a longer one only keeps the test's
    # process waiting for it at exit); a stalled detection would wait that long too.
    project.supervise()
    started = wait_until(lambda: _events(project, "crash", "started"), timeout=15)[0]
    exited = wait_until(lambda: _events(project, "crash", "exited"), timeout=15)[0]
    restarted = wait_until(lambda: _events(project, "crash", "restarted"), timeout=15)[0]
    assert exited["ts"] - started["ts"] < 3.0
    assert restarted["ts"] - exited["ts"] < 3.0


def test_sigterm_ends_monitor_and_tasks_keep_running(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n')
    monitor = project.spawn("start", "-m")
    # Started, and supervising or about to: a SIGTERM in either phase ends it the same way.
    wait_until(lambda: _events(project, "a", "started"), timeout=15)
    monitor.send_signal(signal.SIGTERM)
    output, _ = monitor.communicate(timeout=15)
    assert monitor.returncode == 0
    assert "tasks keep running" in output
    assert project.status()["a"]["running"] is True
    assert json.loads(project.run("events", "--json").stdout)["ok"] is True


def test_failing_health_checks_restart_the_task(project: Project) -> None:
    project.write(
        """
        [tasks.sick]
        command = "sleep 300"
        health_check = "echo not ready; exit 1"
        health_interval = 0.2
        health_retries = 2
        restart_delay = 0.2
        restart_backoff = 1.0
        max_restarts = 1
        """
    )
    project.supervise()
    wait_until(lambda: project.json("inspect", "sick")["pid"], timeout=15)
    for _ in range(5):  # manual checks never extend the streak on their own
        project.run("health")
    restarted = wait_until(lambda: _events(project, "sick", "restarted"), timeout=15)[0]
    assert "failed health checks" in str(restarted["reason"])
    wait_until(lambda: project.status()["sick"]["gave_up"], timeout=15)
    row = wait_until(lambda: (r := project.status()["sick"]) and not r["running"] and r, timeout=15)
    assert row["state"].startswith("gave up")
    kinds = [e["event"] for e in project.events() if e["task"] == "sick"]
    # Each run: one health_failed when its streak reached 2, then the policy acts.
    assert kinds[:7] == [
        "started",
        "health_failed",
        "restart_scheduled",
        "started",
        "restarted",
        "health_failed",
        "gave_up",
    ], kinds
    assert set(kinds[7:]) <= {"exited"}, kinds  # gave up: the supervisor stopped it


def _server_pid(project: Project) -> int:
    result = project.tmux("display", "-p", "#{pid}")
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def _global_events(project: Project, kind: str) -> list[dict[str, object]]:
    return [e for e in project.events() if e["event"] == kind]


def test_a_killed_tmux_server_is_noticed_and_the_session_recreated(project: Project) -> None:
    project.write(
        """
        [tasks.keeper]
        command = "trap '' HUP; exec sleep 300"
        restart_policy = "always"
        restart_delay = 0.2
        stop_grace_period = 0.5
        [tasks.held]
        command = "sleep 300"
        restart_policy = "always"
        restart_delay = 0.2
        [tasks.never]
        command = "sleep 300"
        restart_policy = "no"
        """
    )
    supervising = project.supervise()
    wait_until(lambda: all(r["running"] for r in project.status().values()), timeout=15)
    assert project.run("stop", "held").returncode == 0
    # The supervisor has seen it stopped by hand: the loss below must leave it alone.
    _seen(
        supervising,
        lambda seen: (t := seen.tasks.get("held")) is not None and t.dead and t.manually_stopped,
    )
    assert project.state("held") == "stopped"
    keeper = project.status()["keeper"]["pid"]

    os.kill(_server_pid(project), signal.SIGKILL)
    lost = wait_until(lambda: _global_events(project, "session_lost"), timeout=10)[0]
    assert "tmux server" in str(lost["cause"]) and "died" in str(lost["cause"])
    assert lost["relaunch"] == ["keeper"]
    assert lost["left"] == {"held": "stopped by hand", "never": 'restart_policy = "no"'}

    # The SIGHUP-deaf keeper outlived the server; it is stopped, then launched again.
    recovered = wait_until(lambda: _global_events(project, "session_recovered"), timeout=15)[0]
    assert recovered["relaunched"] == ["keeper"] and recovered["failed"] == {}
    assert recovered["leftovers_stopped"] == {"keeper": "SIGINT"}
    assert not pid_alive(keeper)
    rows = project.status()
    assert rows["keeper"]["running"] is True and rows["keeper"]["pid"] != keeper
    assert rows["keeper"]["restart_count"] == 1
    assert rows["held"]["running"] is False and rows["never"]["running"] is False
    env = project.tmux("show-environment", "-t", f"={project.session}").stdout
    assert "TASKMUX" not in env

    # And it is still supervised: an exit of the relaunched task is restarted as usual.
    os.kill(rows["keeper"]["pid"], signal.SIGKILL)
    wait_until(lambda: _events(project, "keeper", "restarted"), timeout=15)
    assert supervising.alive


def test_stop_of_everything_under_a_supervisor_is_not_a_loss(project: Project) -> None:
    project.write(
        """
        [tasks.a]
        command = "sleep 300"
        restart_policy = "always"
        [tasks.b]
        command = "sleep 300"
        restart_policy = "always"
        """
    )
    supervising = project.supervise()
    wait_until(lambda: all(r["running"] for r in project.status().values()), timeout=15)
    assert project.json("stop")["session_ended"] is True

    # The supervisor has seen the session gone (a loss is noticed, and its recovery
    # started, in the tick that sees it): it took it for the stop it was.
    _seen(supervising, lambda seen: not seen.session_exists)
    assert project.tmux("has-session", "-t", f"={project.session}").returncode != 0
    assert _global_events(project, "session_lost") == []
    # A later start clears the mark: a loss after it is a loss again (once the supervisor
    # has seen the new session: a session it never saw is no loss).
    assert project.run("start").returncode == 0
    wait_until(lambda: all(r["running"] for r in project.status().values()), timeout=15)
    _seen(
        supervising,
        lambda seen: all((t := seen.tasks.get(n)) is not None and t.is_alive for n in ("a", "b")),
    )
    os.kill(_server_pid(project), signal.SIGKILL)
    lost = wait_until(lambda: _global_events(project, "session_lost"), timeout=10)[0]
    assert lost["relaunch"] == ["a", "b"]
    wait_until(lambda: all(r["running"] for r in project.status().values()), timeout=15)


def test_start_m_follows_edits_of_the_config(project: Project) -> None:
    project.write(
        """
        [tasks.a]
        command = "sleep 300"
        """
    )
    supervising = project.supervise()
    wait_until(lambda: project.status()["a"]["running"], timeout=15)
    project.write(
        """
        [tasks.a]
        command = "sleep 300"
        [tasks.b]
        command = "sleep 301"
        restart_policy = "always"
        restart_delay = 0.2
        """
    )
    # The added task is started by the reload and supervised with its own policy.
    wait_until(lambda: _events(project, "b", "started"), timeout=15)  # it lived to be started
    row = project.status()["b"]
    os.kill(int(row["pid"]), signal.SIGKILL)
    wait_until(lambda: _events(project, "b", "restarted"), timeout=15)
    again = wait_until(lambda: (r := project.status()["b"]) and r["running"] and r, timeout=15)
    assert again["pid"] != row["pid"]
    # An invalid edit changes nothing: both keep running, and supervision goes on.
    project.config.write_text(project.config.read_text() + "\n[tasks.c\n")
    wait_until(lambda: "invalid" in supervising.reloads[-1].describe(), timeout=15)
    _looked(supervising)
    assert all(r["running"] for r in project.status().values())
    said = [outcome.describe() for outcome in supervising.reloads]
    assert "config reloaded: started b" in said
    assert "config not reloaded (invalid)" in said[-1]


def test_the_supervisor_acts_on_its_injected_clock(project: Project) -> None:
    """Restart timing follows the clock it is given: no restart before the backoff is
    due however often it ticks, one once it is (ticks driven by hand, no sleeping)."""
    from taskmux.runtime.timing import Timing
    from taskmux.supervision.supervisor import Supervisor

    project.write(
        """
        [tasks.flaky]
        command = "sleep 300"
        restart_backoff = 3.0
        """
    )
    assert project.run("start").returncode == 0
    pid = project.status()["flaky"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not project.status()["flaky"]["running"])
    service = project.service(Timing.fast())
    now = [1_000_000.0]
    supervisor = Supervisor(service, clock=lambda: now[0])
    try:
        supervisor.tick()  # sees the death: schedules the restart, backoff 3 ** 0 = 1 s
        (scheduled,) = _events(project, "flaky", "restart_scheduled")
        for later in (0.2, 0.5, 0.9):  # not yet due, whatever the wall clock says
            now[0] = 1_000_000.0 + later
            supervisor.tick()
            assert not supervisor.actions
        now[0] += 0.2  # past the due time
        supervisor.tick()
        supervisor.actions["flaky"].result(timeout=15)
    finally:
        supervisor.pool.shutdown(wait=False)
        supervisor.action_pool.shutdown(wait=True)
    assert scheduled["delay"] == 1.0
    assert _events(project, "flaky", "restarted")
    row = project.status()["flaky"]
    assert row["running"] and row["pid"] != pid and row["restart_count"] == 1


# Waking on notice, not on a timer --------------------------------------------------


def _counting_tmux(project: Project) -> Path:
    """Put a `tmux` first on PATH that records each call; return the record file."""
    record = project.root / "tmux-calls"
    folder = project.root / "bin"
    folder.mkdir()
    wrapper = folder / "tmux"
    real = shutil.which("tmux")
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> {record}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    project.env["PATH"] = f"{folder}:{project.env['PATH']}"
    return record


def _calls(record: Path) -> int:
    return len(record.read_text().splitlines()) if record.exists() else 0


def _quiet_for(record: Path, seconds: float) -> bool:
    """Whether no tmux call is made for `seconds` from now."""
    before = _calls(record)
    try:
        holds_for(lambda: _calls(record) == before, seconds, interval=0.05)
    except AssertionError:
        return False
    return True


def _status_right(project: Project) -> str:
    """The session's own status-right (read with the real tmux: not counted)."""
    shown = project.tmux("show-options", "-t", f"{project.session}:", "status-right")
    return shown.stdout


def test_an_idle_supervisor_does_not_poll_tmux(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n[tasks.b]\ncommand = "sleep 300"\n')
    record = _counting_tmux(project)
    project.env.pop(TIMING_VAR)  # the product's own sweep (15 s), not the tests' 0.5 s
    project.spawn("start", "-m")
    wait_until(lambda: _events(project, "b", "started"), timeout=15)
    # The supervisor's first look ends with the session's status line (a loaded machine
    # can leave a quiet second between the start and that look: not proof it is done).
    wait_until(lambda: "●b" in _status_right(project), timeout=20)
    # From then on tmux hears nothing (once a tick that may follow that look is over):
    # a 0.5 s poll is never quiet for 1.5 s, three of its periods.
    wait_until(lambda: _quiet_for(record, 0.5), timeout=20, interval=0)
    assert _quiet_for(record, 1.5)


def test_restart_delay_zero_relaunches_at_once(project: Project) -> None:
    project.write(
        """
        [tasks.crash]
        command = "sleep 0.5; exit 3"
        restart_delay = 0
        max_restarts = 2
        """
    )
    project.supervise()
    exited = wait_until(lambda: _events(project, "crash", "exited"), timeout=15)[0]
    restarted = wait_until(lambda: _events(project, "crash", "restarted"), timeout=15)[0]
    assert restarted["ts"] - exited["ts"] < 0.5  # no scheduled delay, no poll between
    assert wait_until(
        lambda: project.status()["crash"]["restart_count"] >= 1
    )  # counted in the launch's round trip


def test_a_task_started_by_another_process_is_watched_at_once(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n[tasks.b]\ncommand = "sleep 300"\n')
    project.supervise()
    wait_until(lambda: _events(project, "b", "started"), timeout=15)
    assert project.run("stop", "b").returncode == 0
    assert project.run("start", "b").returncode == 0  # its new process: only a poke tells
    pid = wait_until(lambda: project.status()["b"]["pid"], timeout=15)
    os.kill(pid, signal.SIGKILL)
    began = time.time()
    exited = wait_until(lambda: _events(project, "b", "exited"), timeout=10)[0]
    # The sweep that would otherwise find it runs every 15 s; a notice takes milliseconds.
    assert exited["ts"] - began < 2.0
    assert exited["signal"] == signal.SIGKILL


def test_a_restart_that_fails_waits_the_backoff(project: Project) -> None:
    """A restart refused for a busy port (E304) is tried again after the backoff, as a
    crash is: not once per tick until `max_restarts` is used up (ticks driven by hand)."""
    import socket

    from taskmux.runtime.timing import Timing
    from taskmux.supervision.supervisor import Supervisor

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        holder.close()
    project.write(
        f"""
        [tasks.web]
        command = "sleep 300"
        port = {port}
        max_restarts = 3
        restart_delay = 1.0
        restart_backoff = 2.0
        """
    )
    assert project.run("start", "web").returncode == 0
    pid = project.status()["web"]["pid"]
    with socket.socket() as stranger:  # this test's own process: never signalled
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(("127.0.0.1", port))
        stranger.listen()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not project.status()["web"]["running"])
        service = project.service(Timing.fast())
        now = [1_000_000.0]
        supervisor = Supervisor(service, clock=lambda: now[0])

        def tick_at(at: float) -> None:
            now[0] = 1_000_000.0 + at
            supervisor.tick()
            for action in list(supervisor.actions.values()):
                action.result(timeout=15)

        try:
            tick_at(0)  # the death: restart in 1 s
            tick_at(1.1)  # fails: the port is busy
            for at in (1.2, 1.5, 2.0, 3.0):  # ticks of every kind of wake-up
                tick_at(at)
            assert len(_events(project, "web", "restart_failed")) == 1
            tick_at(3.2)  # 1 * 2 ** 1 = 2 s after the failure
            assert len(_events(project, "web", "restart_failed")) == 2
            tick_at(3.3)
            assert not project.status()["web"]["gave_up"]
        finally:
            supervisor.pool.shutdown(wait=False)
            supervisor.action_pool.shutdown(wait=True)
    failed = _events(project, "web", "restart_failed")
    assert "E304" in str(failed[0]["error"]) or "port" in str(failed[0]["error"])
    delays = [e["delay"] for e in _events(project, "web", "restart_scheduled")]
    assert delays == [1.0, 2.0, 4.0]


def test_a_restart_left_by_an_ended_supervisor_is_not_shown_as_under_way(
    project: Project,
) -> None:
    """A scheduled restart needs a supervisor: once none runs, the row says how the task
    ended and that its restart waits, not "restarting"; the next supervisor does it."""
    project.write(
        """
        [tasks.crash]
        command = "sleep 0.3; exit 3"
        restart_backoff = 5.0
        """
    )
    supervising = project.supervise()
    wait_until(lambda: _events(project, "crash", "restart_scheduled"), timeout=15)
    assert project.status()["crash"]["state"] == "restarting (exited 3)"
    supervising.end()
    row = project.status()["crash"]
    assert row["state"] == "exited 3" and row["next_restart_at"] is not None
    assert row["restart_waits"] == "for a supervisor (start -m, the daemon)"
    table = " ".join(project.run("status").stdout.split())  # the NOTES column wraps
    assert "restart waits for a supervisor" in table
    project.supervise()
    wait_until(lambda: _events(project, "crash", "restarted"), timeout=15)
