"""Recovering a lost session: stop what its tasks left running, relaunch them in
dependency order, and carry their restart counts over (the plan is `recovery.py`'s)."""

from __future__ import annotations

from taskmux.runtime.tmux_manager import Observation
from taskmux.supervision.recovery import RecoveryPlan, relaunch_waves
from taskmux.supervision.seam import Supervised


def recover(project: Supervised, previous: Observation, plan: RecoveryPlan) -> str:
    """Stop what the lost tasks left running, then relaunch the plan's tasks in order;
    a line that says what was done, for a person."""
    failed: dict[str, str] = {}
    try:  # one process scan for every lost task, their escalations side by side
        ended = project.end_all_processes(dict.fromkeys(previous.tasks))
    except Exception as exc:  # noqa: BLE001 - the relaunch goes on; each task says why
        ended = {}
        failed = {n: f"could not stop what it left running: {exc}" for n in previous.tasks}
    leftovers = {name: used for name, used in ended.items() if used}
    relaunched = _relaunch(project, previous, plan, failed)
    project.record(
        "session_recovered",
        None,
        session=project.session,
        leftovers_stopped=leftovers,
        relaunched=relaunched,
        failed=failed,
    )
    text = f"session '{project.session}' recreated; relaunched {', '.join(relaunched) or 'nothing'}"
    if leftovers:
        text += f"; stopped what {', '.join(leftovers)} left running"
    if failed:
        text += "; not relaunched: " + "; ".join(f"{n} ({why})" for n, why in failed.items())
    return text


def _relaunch(
    project: Supervised,
    previous: Observation,
    plan: RecoveryPlan,
    failed: dict[str, str],
) -> list[str]:
    """Launch wave by wave; a wave's dependents wait for it to be healthy, as `start` does."""
    graph = project.config.graph()
    relaunched: list[str] = []
    for wave in relaunch_waves(graph, [n for n in plan.relaunch if n not in failed]):
        ready = []
        for name in wave:
            bad = [d for d in graph.get(name, ()) if d in failed]
            if bad:
                failed[name] = f"dependency '{bad[0]}' did not come back"
            else:
                ready.append(name)
        launched = project.relaunch(ready)
        for name, error in launched.failures.items():
            failed[name] = error.message
        relaunched += launched.started
        _carry_restart_counts(project, previous, launched.started)
        needed = {
            (d.task, d.condition)
            for n in plan.relaunch
            if n in project.config.tasks
            for d in project.config.tasks[n].depends_on
            if d.task in ready
        }
        for dep, condition in sorted(needed):
            if dep in failed:
                continue
            wait = project.timing.recovery_dependency_wait
            problem = project.wait_condition(dep, condition, wait)
            if problem is not None:
                failed[dep] = problem
    return relaunched


def _carry_restart_counts(project: Supervised, previous: Observation, names: list[str]) -> None:
    """A relaunch counts as an automatic restart, so a server that keeps dying ends in
    "gave up" rather than a loop."""
    if not names:
        return
    now = project.observe()
    for name in names:
        state = now.tasks.get(name)
        if state is not None:
            count = previous.tasks[name].restarts + 1
            project.set_restarts(state.window_id, count)
