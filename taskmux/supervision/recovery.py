"""What a supervisor does when the task session vanishes: pure, so tables of cases test it.

The tmux server can die under a supervisor (`kill -9`, the OOM killer): every task
window goes with it, and tasks that ignore SIGHUP (redis, postgres) keep running
outside it. A session that ended because a person ran `taskmux stop` or `kill` is not
lost; one that disappeared any other way is, and the tasks in it are relaunched as
their restart policies would have restarted them.
"""

from __future__ import annotations

import signal
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from taskmux.config.deps import Graph, start_order
from taskmux.lifecycle.restart import Action, Observed, Policy, decide, history_of, observed_of
from taskmux.runtime.state import TaskState


@dataclass(frozen=True)
class RecoveryPlan:
    """Which lost tasks come back (in dependency order), and why each other one does not."""

    relaunch: tuple[str, ...] = ()
    left: dict[str, str] = field(default_factory=dict)


def stopped_by_hand(name: str, state: TaskState, killed: Collection[str]) -> bool:
    return state.manually_stopped or name in killed


def session_lost(
    previous: Mapping[str, TaskState], killed: Collection[str], ended_on_purpose: bool
) -> bool:
    """A session seen a tick ago is gone: lost, unless a person ended it.

    `stop` (all) marks its end as meant before closing the windows; `kill` of the last
    task leaves a kill mark. A session whose tasks were all stopped by hand loses nothing.
    """
    if ended_on_purpose:
        return False
    return any(not stopped_by_hand(n, s, killed) for n, s in previous.items())


def recovery_plan(
    previous: Mapping[str, TaskState],
    policies: Mapping[str, Policy],
    killed: Collection[str],
    now: float,
    graph: Graph | None = None,
) -> RecoveryPlan:
    """Relaunch what its policy would restart; a running task died with the session (SIGHUP).

    Not relaunched: tasks no longer in the config, stopped or killed by hand, given up,
    `restart_policy = "no"`, completed (`on-failure`, exit 0), or out of restarts.
    """
    relaunch: list[str] = []
    left: dict[str, str] = {}
    for name, state in previous.items():
        policy = policies.get(name)
        if policy is None:
            left[name] = "no longer in taskmux.toml"
            continue
        if stopped_by_hand(name, state, killed):
            left[name] = "stopped by hand"
            continue
        if state.gave_up:
            left[name] = "had given up"
            continue
        observed = (
            Observed(alive=False, exit_signal=int(signal.SIGHUP))
            if state.is_alive
            else observed_of(state)
        )
        decision = decide(policy, observed, history_of(state), now)
        if decision.action is Action.RESTART:
            relaunch.append(name)
        elif decision.action is Action.GIVE_UP:
            left[name] = f"gave up: {decision.reason}"
        elif policy.restart_policy == "no":
            left[name] = 'restart_policy = "no"'
        else:
            left[name] = state.exit_text()
    order = start_order(graph, relaunch) if graph is not None else relaunch
    return RecoveryPlan(tuple(order), left)


def relaunch_waves(graph: Graph, names: Iterable[str]) -> list[list[str]]:
    """Group `names` so that each task comes after the ones it depends on (among `names`)."""
    order = start_order(graph, names)
    chosen = set(order)
    level: dict[str, int] = {}
    for name in order:
        deps = [d for d in graph.get(name, ()) if d in chosen]
        level[name] = 1 + max((level.get(d, 0) for d in deps), default=-1)
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in order:
        waves[level[name]].append(name)
    return waves
