"""What an uncounted health check (`taskmux health`, a wait's poll) costs in tmux round
trips: one that finds its result stored already, written less than a `health_interval`
ago, neither reads nor writes the window; any change of the facts is written."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from harness import Project, project, wait_until

from taskmux.lifecycle.core import Lifecycle
from taskmux.runtime.state import Health, TaskState
from taskmux.runtime.tmux_manager import Result, Tmux

__all__ = ["project"]


def _lifecycle(project: Project, check: str) -> Lifecycle:
    project.write(
        f"""
        [tasks.web]
        command = "exec sleep 300"
        health_check = "{check}"
        health_interval = 30
        health_retries = 3
        """
    )
    assert project.run("start").returncode == 0
    return project.service().lifecycle()


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real = Tmux._call

    def counted(self: Tmux, argv: list[str], script: str | None = None) -> Result:
        calls.append(argv)
        return real(self, argv, script)

    monkeypatch.setattr(Tmux, "_call", counted)
    return calls


def _state(lifecycle: Lifecycle) -> TaskState:
    return wait_until(lambda: lifecycle.observe().tasks.get("web"))


def test_a_manual_check_that_finds_its_verdict_stored_costs_no_round_trip(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle = _lifecycle(project, "true")
    lifecycle.checked("web", _state(lifecycle))  # the first verdict of the run: written
    state = _state(lifecycle)
    stored = state.health
    assert stored is not None and stored.healthy
    calls = _counting(monkeypatch)
    for _ in range(3):  # `health` run again and again, or a wait polling
        checked = lifecycle.checked("web", state)
        assert checked.result.healthy and checked.after == stored
    assert calls == []
    assert lifecycle.probe("web", state).healthy  # `wait --healthy`'s poll: the same
    assert calls == []
    assert _state(lifecycle).health == stored  # nothing changed on the window


def test_a_manual_check_writes_when_its_facts_change_or_the_verdict_is_old(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle = _lifecycle(project, "exit 1")
    state = _state(lifecycle)
    lifecycle.checked("web", state)
    state = _state(lifecycle)
    stored = state.health
    assert stored is not None and not stored.healthy and stored.failures == 0
    calls = _counting(monkeypatch)

    # The window says it passed (another check, a moment ago): this failure is news.
    passed = Health(True, time.time(), 0, state.started_at, 3, "exit 0")
    lifecycle.checked("web", replace(state, health=passed))
    assert calls, "a changed verdict must be written"
    calls.clear()

    # The same failure, but the stored check is older than health_interval (30 s).
    old = Health(False, time.time() - 31, 0, state.started_at, 3, stored.reason)
    lifecycle.checked("web", replace(state, health=old))
    assert calls, "a verdict older than health_interval is written again"
    after = _state(lifecycle).health
    assert after is not None and after.checked_at > time.time() - 5

    # A verdict of an earlier run of the task is never taken for this run's.
    calls.clear()
    earlier = Health(False, time.time(), 0, (state.started_at or 0) - 100, 3, stored.reason)
    lifecycle.checked("web", replace(state, health=earlier))
    assert calls


def test_the_supervisors_counted_checks_still_write_every_time(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle = _lifecycle(project, "true")
    lifecycle.checked("web", _state(lifecycle), True)
    state = _state(lifecycle)
    assert state.health is not None and state.health.healthy
    calls = _counting(monkeypatch)
    lifecycle.checked("web", state, True)
    assert len(calls) == 1  # the streak's writer keeps the last check's time exact
