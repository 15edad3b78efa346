"""Scheduled one-shots: the next-run decision as a table with a fake clock, and the
supervisor starting, skipping and pausing them as scripted histories (no tmux)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from harness import Project, project, wait_until  # noqa: F401  (project is a fixture)
from test_histories import T0, FakeProject, _config, _settle

from taskmux.runtime.timing import Timing
from taskmux.supervision.schedule_plan import Timetable, Verdict, plan
from taskmux.supervision.supervisor import Supervisor

EVERY = """
[tasks.job]
command = "job"
every = "2s"
restart_policy = "no"
"""


@pytest.mark.parametrize(
    ("due", "now", "running", "verdict", "next_run"),
    [
        (None, 0.0, False, Verdict.WAIT, 2.0),  # first look: one period from now
        (2.0, 1.9, False, Verdict.WAIT, 2.0),
        (2.0, 2.0, False, Verdict.RUN, 4.0),
        (2.0, 2.5, True, Verdict.SKIP, 4.0),  # the last run still goes
        (2.0, 9.0, False, Verdict.RUN, 11.0),  # missed times are one run, not a burst
    ],
)
def test_the_next_run_decision(
    due: float | None, now: float, running: bool, verdict: Verdict, next_run: float
) -> None:
    step = plan(Timetable(every=2.0), due, now, running)
    assert (step.verdict, step.next_run) == (verdict, next_run)


def test_cron_times_are_local_minutes() -> None:
    start = datetime(2026, 3, 2, 10, 3, 30).timestamp()  # local time
    first = Timetable(cron="*/5 * * * *").after(start)
    assert datetime.fromtimestamp(first).timetuple()[3:6] == (10, 5, 0)
    assert Timetable(cron="*/5 * * * *").after(first) == first + 300


class ScheduledProject(FakeProject):
    def __init__(self, text: str, clock: list[float], root: Path) -> None:
        super().__init__(_config(text), clock)
        self.state_root = root


def _history(root: Path, script: list[tuple[float, str]]) -> ScheduledProject:
    """Replay `(time, what)` steps (`tick`, `exit`, `stop`) of the task `job`."""
    clock = [T0]
    fake = ScheduledProject(EVERY, clock, root)
    supervisor = Supervisor(lambda: fake, clock=lambda: clock[0], timing=Timing.fast())
    try:
        for at, what in script:
            clock[0] = T0 + at
            if what == "exit":
                fake.die("job", status=0)
            elif what == "stop":
                fake.die("job", sig=2)
                fake._mark("job", manually_stopped=True)
            supervisor.tick()
            _settle(supervisor)
    finally:
        supervisor.action_pool.shutdown(wait=True)
        supervisor.pool.shutdown(wait=True)
    return fake


def _events(fake: FakeProject, *names: str) -> list[tuple[float, str]]:
    return [(round(at - T0, 3), e) for at, e, task, _ in fake.events if e in names]


def test_an_every_task_runs_at_each_time_and_is_skipped_while_running(tmp_path: Path) -> None:
    fake = _history(
        tmp_path,
        [(0, "tick"), (1, "tick"), (2, "tick"), (3, "exit"), (4, "tick"), (6, "tick")],
    )
    assert [(round(at - T0, 3), verb) for at, verb, _ in fake.did] == [
        (2, "restart"),
        (4, "restart"),
    ]
    assert _events(fake, "scheduled_run", "schedule_skipped") == [
        (2, "scheduled_run"),
        (4, "scheduled_run"),
        (6, "schedule_skipped"),  # the run of 4 s still goes
    ]
    skipped = next(f for _, e, _, f in fake.events if e == "schedule_skipped")
    assert skipped["next_run"] == T0 + 8
    written = json.loads((tmp_path / "schedule.json").read_text())
    assert written["next"] == {"job": T0 + 8}


def test_a_stop_by_hand_pauses_the_schedule(tmp_path: Path) -> None:
    fake = _history(tmp_path, [(0, "tick"), (2, "tick"), (3, "stop"), (4, "tick"), (9, "tick")])
    assert _events(fake, "scheduled_run") == [(2, "scheduled_run")]
    assert not (tmp_path / "schedule.json").exists()  # no next run to show


def test_a_scheduled_task_is_never_restarted_by_policy(tmp_path: Path) -> None:
    text = EVERY.replace("every", "restart_delay = 0\nevery").replace('restart_policy = "no"', "")
    clock = [T0]
    fake = ScheduledProject(text, clock, tmp_path)
    fake.run("job")
    fake.die("job", status=1)
    supervisor = Supervisor(lambda: fake, clock=lambda: clock[0], timing=Timing.fast())
    supervisor.tick()
    _settle(supervisor)
    supervisor.action_pool.shutdown(wait=True)
    assert fake.did == []  # an exit is recorded; the next run is at its time
    assert _events(fake, "exited") == [(0, "exited")]


def test_a_bare_start_leaves_a_scheduled_task_alone(project: Project) -> None:  # noqa: F811
    project.write(
        """
        [tasks.web]
        command = "sleep 30"
        [tasks.job]
        command = "echo ran"
        every = "1h"
        restart_policy = "no"
        """
    )
    assert project.run("start").returncode == 0
    rows = project.status()
    assert rows["web"]["running"] and rows["job"]["state"] == "not started"
    assert rows["job"]["schedule"] == "every 1h" and rows["job"]["next_run"] is None
    assert project.run("start", "job").returncode == 0  # naming it starts it
    assert project.state("job") in ("completed", "running")


def test_status_reads_the_next_run_of_a_live_supervisor(tmp_path: Path) -> None:
    import os

    from taskmux.lifecycle.readmodel import next_run

    (tmp_path / "schedule.json").write_text(json.dumps({"pid": os.getpid(), "next": {"job": 5.0}}))
    assert next_run(str(tmp_path), "job") == 5.0
    (tmp_path / "schedule.json").write_text(json.dumps({"pid": 2**22 + 7, "next": {"job": 5.0}}))
    assert next_run(str(tmp_path), "job") is None  # its supervisor is gone


CASCADING = """
[tasks.db]
command = "db"
restart_delay = 0
restart_dependents = true
[tasks.api]
command = "api"
depends_on = ["db"]
"""


def test_a_supervisor_restart_cascades_to_the_dependents(tmp_path: Path) -> None:
    clock = [T0]
    fake = ScheduledProject(CASCADING, clock, tmp_path)
    followed: list[str] = []
    fake.restart_dependents = lambda name: followed.append(name) or ["api"]  # type: ignore[method-assign]
    fake.run("db")
    fake.run("api")
    supervisor = Supervisor(lambda: fake, clock=lambda: clock[0], timing=Timing.fast())
    try:
        fake.die("db", status=1)
        supervisor.tick()
        _settle(supervisor)
        fake.die("api", status=1)  # api has no restart_dependents: nothing follows it
        supervisor.tick()
        _settle(supervisor)
    finally:
        supervisor.action_pool.shutdown(wait=True)
        supervisor.pool.shutdown(wait=True)
    assert followed == ["db"]


@pytest.mark.slow
def test_start_m_runs_an_every_task_and_keeps_the_status_line(project: Project) -> None:  # noqa: F811
    """End to end: `start -m` on a private tmux server runs an `every = "1s"` task about
    every second, status shows its next run, and the session's status line its tags."""
    project.write(
        """
        [tasks.web]
        command = "sleep 60"
        [tasks.tick]
        command = "echo tick"
        every = "1s"
        restart_policy = "no"
        """
    )
    project.supervise()

    def runs() -> list[float]:
        return [e["ts"] for e in project.events() if e["event"] == "scheduled_run"]

    wait_until(lambda: len(runs()) >= 3, timeout=20)
    gaps = [b - a for a, b in zip(runs(), runs()[1:], strict=False)]
    assert all(0.5 < gap < 2.5 for gap in gaps), gaps
    row = project.status()["tick"]
    assert row["schedule"] == "every 1s" and row["next_run"] is not None
    line = project.tmux("show-options", "-t", project.session, "status-right").stdout
    assert "●web" in line
