"""What comes back after a lost session, as tables of cases: no tmux, time passed in."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskmux.lifecycle.restart import Policy
from taskmux.runtime.state import TaskState
from taskmux.supervision.recovery import recovery_plan, relaunch_waves, session_lost

NOW = 1_000_000.0
RUNNING = TaskState(
    task="t",
    window_id="@1",
    pane_id="%1",
    pid=100,
    dead=False,
    exit_status=None,
    exit_signal=None,
    dead_time=None,
    current_command="sleep",
    current_path="/",
    piped=True,
    manually_stopped=False,
    restarts=0,
    started_at=NOW - 30,
    gave_up=False,
    next_restart_at=None,
    health=None,
)
STOPPED = replace(RUNNING, dead=True, exit_signal=2, manually_stopped=True)
COMPLETED = replace(RUNNING, dead=True, exit_status=0)
CRASHED = replace(RUNNING, dead=True, exit_status=3, next_restart_at=NOW + 1)
GAVE_UP = replace(RUNNING, dead=True, exit_status=3, gave_up=True, restarts=5)
WORN = replace(RUNNING, restarts=5)  # alive, but out of restarts


@pytest.mark.parametrize(
    ("state", "policy", "relaunched", "why"),
    [
        (RUNNING, "always", True, None),
        (RUNNING, "on-failure", True, None),  # it died with the session: not a clean exit
        (RUNNING, "no", False, 'restart_policy = "no"'),
        (STOPPED, "always", False, "stopped by hand"),
        (COMPLETED, "on-failure", False, "completed"),
        (COMPLETED, "always", True, None),
        (CRASHED, "on-failure", True, None),  # a restart was due anyway
        (GAVE_UP, "always", False, "had given up"),
        (WORN, "always", False, "gave up: killed by SIGHUP; 5 restarts already"),
    ],
)
def test_which_lost_tasks_come_back(
    state: TaskState, policy: str, relaunched: bool, why: str | None
) -> None:
    plan = recovery_plan({"t": state}, {"t": Policy(policy)}, frozenset(), NOW)
    assert plan.relaunch == (("t",) if relaunched else ())
    assert plan.left.get("t") == why


def test_killed_and_removed_tasks_stay_away() -> None:
    previous = {"killed": RUNNING, "gone": RUNNING, "kept": RUNNING}
    policies = {"killed": Policy("always"), "kept": Policy("always")}
    plan = recovery_plan(previous, policies, frozenset({"killed"}), NOW)
    assert plan.relaunch == ("kept",)
    assert plan.left == {"killed": "stopped by hand", "gone": "no longer in taskmux.toml"}


def test_relaunch_follows_dependencies() -> None:
    graph = {"api": ["db"], "db": [], "web": ["api"], "cache": []}
    previous = dict.fromkeys(["web", "api", "db", "cache"], RUNNING)
    policies = dict.fromkeys(previous, Policy("always"))
    plan = recovery_plan(previous, policies, frozenset(), NOW, graph)
    assert plan.relaunch == ("db", "cache", "api", "web")
    assert relaunch_waves(graph, plan.relaunch) == [["db", "cache"], ["api"], ["web"]]
    assert relaunch_waves(graph, ["web", "cache"]) == [["web", "cache"]]


@pytest.mark.parametrize(
    ("previous", "killed", "on_purpose", "lost"),
    [
        ({"a": RUNNING}, (), False, True),
        ({"a": RUNNING}, (), True, False),  # `stop` ended it
        ({"a": RUNNING}, ("a",), False, False),  # `kill` of the last task ended it
        ({"a": STOPPED, "b": STOPPED}, (), False, False),
        ({"a": STOPPED, "b": COMPLETED}, (), False, True),
        ({}, (), False, False),
    ],
)
def test_a_lost_session_is_told_from_one_ended_by_hand(
    previous: dict[str, TaskState], killed: tuple[str, ...], on_purpose: bool, lost: bool
) -> None:
    assert session_lost(previous, frozenset(killed), on_purpose) is lost
