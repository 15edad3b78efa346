"""A wait whose verdicts can only change at a known moment or by a death sleeps until then
(`lifecycle/watchloop.py`): a probe-less task settling into its `min_uptime`, a running
task that has to complete. tmux is read at the start and at the moment, not every poll; a
death in between ends the sleep at once (a pidfd), and so does cancelling the wait."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
from harness import Project, count_tmux_reads, project

__all__ = ["project"]

pytestmark = pytest.mark.skipif(
    not hasattr(__import__("os"), "pidfd_open"), reason="no pidfds: the wait polls"
)


def _service(project: Project) -> Any:
    """Fast pauses, and no sweep to end a sleep early: what ends it is the test's."""
    from dataclasses import replace

    from taskmux.runtime.timing import Timing

    return project.service(replace(Timing.fast(), wait_sweep=60.0))


def test_a_wait_for_min_uptime_reads_tmux_at_its_start_and_end(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write('[tasks.app]\ncommand = "sleep 300"\nmin_uptime = 1\n')
    assert project.json("start")["started"] == ["app"]
    reads = count_tmux_reads(monkeypatch)
    doc = project.json("wait", "app", "--timeout", "20")
    assert doc["ok"] is True, doc
    status = project.status()["app"]
    assert doc["elapsed"] > 0.3 and status["running"]
    assert len(reads) <= 4, f"{len(reads)} tmux reads (polling makes ~25)"


def test_a_death_within_min_uptime_ends_the_sleep_with_todays_reason(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        '[tasks.app]\ncommand = "sleep 0.5; echo no database; exit 3"\n'
        'min_uptime = 5\nrestart_policy = "no"\n'
    )
    assert project.json("start")["started"] == ["app"]
    reads = count_tmux_reads(monkeypatch)
    began = time.monotonic()
    doc = project.json("wait", "app", "--timeout", "20")
    assert time.monotonic() - began < 3, "the death was seen only when min_uptime ran out"
    assert doc["ok"] is False
    app = doc["tasks"]["app"]
    assert app["reason"] == "exited 3" and app["exit_code"] == 3, app
    assert "no database" in app["logs"]
    assert len(reads) <= 5, f"{len(reads)} tmux reads"


def test_a_completed_dependency_is_waited_for_without_polling(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        """
        [tasks.migrate]
        command = "sleep 1; exit 0"
        [tasks.app]
        command = "sleep 300"
        depends_on = [{task = "migrate", condition = "completed_successfully"}]
        """
    )
    service = _service(project)
    service.lifecycle()
    reads = count_tmux_reads(monkeypatch)
    report = service.start()
    assert report.started == ["migrate", "app"] or report.completed == ["migrate"], report
    assert "app" in report.started
    waited = [t for t in reads if t - reads[0] > 0.3]  # after migrate's settle window
    assert len(waited) <= 6, f"{len(waited)} tmux reads (polling makes ~20)"


def test_a_failing_dependency_wait_is_still_seen_at_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        """
        [tasks.migrate]
        command = "sleep 0.4; exit 2"
        [tasks.app]
        command = "sleep 300"
        depends_on = [{task = "migrate", condition = "completed_successfully"}]
        """
    )
    began = time.monotonic()
    report = _service(project).lifecycle().start()
    assert time.monotonic() - began < 3
    assert report.skipped["app"].startswith("dependency 'migrate' exited 2"), report.skipped


def test_a_start_cancels_a_sleeping_dependency_wait_at_once(project: Project) -> None:
    """Another dependency fails: the start ends, and the wait sleeping towards `slow`'s
    min_uptime ends with it, not when that time comes."""
    project.write(
        """
        [tasks.slow]
        command = "sleep 300"
        min_uptime = 30
        [tasks.bad]
        command = "sleep 0.3; exit 1"
        [tasks.app]
        command = "sleep 300"
        depends_on = ["slow", {task = "bad", condition = "completed_successfully"}]
        """
    )
    began = time.monotonic()
    report = _service(project).lifecycle().start()
    assert time.monotonic() - began < 10
    assert "app" in report.skipped, report


def test_a_stopped_wait_ends_during_its_sleep(project: Project) -> None:
    project.write('[tasks.app]\ncommand = "sleep 300"\nmin_uptime = 30\n')
    service = _service(project)
    assert service.start().started == ["app"]
    stop = threading.Event()  # a plain event, as the daemon's and MCP's waits pass
    threading.Timer(0.3, stop.set).start()
    began = time.monotonic()
    with pytest.raises(Exception, match="wait cancelled"):
        service.wait(["app"], "healthy", 60, stop=stop)
    assert time.monotonic() - began < 5


# When the verdicts can next change: pure ---------------------------------------------


def test_the_verdicts_carry_the_moment_they_can_change() -> None:
    from task_states import task_state

    from taskmux.config.schema import TaskConfig
    from taskmux.lifecycle.readiness import dependency_verdict
    from taskmux.lifecycle.waiting import judge

    plain = TaskConfig(command="x", min_uptime=2)
    young = task_state(started_at=1000.0)
    assert judge("healthy", "t", plain, young, False, False, 1000.5).until == 1002.0
    assert dependency_verdict("healthy", plain, young, 1000.5).until == 1002.0
    assert dependency_verdict("completed", plain, young, 1000.5).until == math.inf
    assert judge("exited", "t", plain, young, False, False, 1000.5).until == math.inf
    checked = TaskConfig(command="x", health_check="true")
    assert judge("healthy", "t", checked, young, False, False, 1000.5).until is None
    dead = task_state(dead=True, exit_status=1, next_restart_at=1003.0)
    assert judge("healthy", "t", plain, dead, False, False, 1000.5).until is None


def test_next_change_is_the_earliest_moment_when_every_unmet_verdict_has_one() -> None:
    from task_states import task_state

    from taskmux.lifecycle.readiness import UNTIL_IT_ENDS, Verdict, Wake, next_change

    a, b = task_state(task="a", pid=11), task_state(task="b", pid=12)
    settling = Verdict("pending", "up 0.5s of its min_uptime 2s", 1002.0)
    met = Verdict("met", "running")
    states = {"a": a, "b": b}
    assert next_change({"a": settling, "b": UNTIL_IT_ENDS}, states) == Wake(
        1002.0, frozenset({11, 12})
    )
    assert next_change({"a": settling, "b": met}, states) == Wake(1002.0, frozenset({11}))
    assert next_change({"a": UNTIL_IT_ENDS, "b": met}, states) == Wake(math.inf, frozenset({11}))
    # One that may change any time (a check failed, a restart to come): the usual pause.
    assert next_change({"a": settling, "b": Verdict("pending", "not healthy")}, states) is None
    assert next_change({"a": settling, "b": Verdict("check", "not healthy yet")}, states) is None
    dead = task_state(task="a", dead=True, exit_status=0)
    assert next_change({"a": settling}, {"a": dead}) is None  # tmux has to say more
    assert next_change({"a": settling}, {"a": task_state(pid=None)}) is None
    assert next_change({"a": met}, states) is None
