"""Holders carried out: refuse another holder's stop/restart/kill (E307), record claims.

Every face reaches an operation through `Service.call`, which hands the bound params
here: `holder` and `force` are taken off, the held tasks are looked at in one
observation, and after the operation the caller's claim is written on the windows of
the tasks it started, restarted or kept (one tmux round trip). The rules are
`holdrules.py`'s; the claim's marks live on the task's window, so every process sees
them. No holder given: nothing is recorded, and only another's live claim refuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from taskmux.errors import HeldByOther, PartialFailure, UsageError
from taskmux.lifecycle import holdrules

if TYPE_CHECKING:
    from taskmux.lifecycle.core import Lifecycle
    from taskmux.runtime.tmux_manager import Observation

Result = TypeVar("Result")
GUARDED = frozenset({"stop", "restart", "kill"})  # refused over another's live claim
CLAIMING = frozenset({"start", "restart", "ensure"})  # record the caller's claim
_MARKS = ("holder", "held_since", "held_until")


def as_holder(
    lifecycle: Callable[[], Lifecycle],
    operation: str,
    bound: dict[str, Any],
    run: Callable[[dict[str, Any]], Result],
) -> Result:
    """Run `operation` with its params (`holder` and `force` taken off), as that holder."""
    if operation not in GUARDED | CLAIMING:
        return run(bound)
    rest = dict(bound)
    holder: str | None = rest.pop("holder", None)
    force = bool(rest.pop("force", False))
    if holder is not None and (problem := holdrules.name_problem(holder)):
        raise UsageError(f"--holder: {problem}")
    names = _named(rest)
    seen = None
    if operation in GUARDED:
        seen = _refuse_if_held(lifecycle(), operation, names, holder, force)
    if operation == "ensure":  # it restarts only what no other holder claims: it must know
        rest["holder"] = holder
    try:
        result = run(rest)
    except PartialFailure:
        _after(lifecycle(), operation, names, rest, holder, force, seen)
        raise
    _after(lifecycle(), operation, names, rest, holder, force, seen)
    return result


def _named(params: dict[str, Any]) -> list[str] | None:
    """The tasks an operation names (None: every task)."""
    if params.get("task"):
        return [params["task"]]
    return list(params["tasks"]) if params.get("tasks") else None


def _refuse_if_held(
    lifecycle: Lifecycle, operation: str, names: list[str] | None, holder: str | None, force: bool
) -> Observation:
    """E307 when another holder's live claim covers a task the operation would act on;
    else the observation it looked at."""
    observation = lifecycle.observe()
    now = time.time()
    blocked: dict[str, tuple[str, float]] = {}
    for task, state in observation.tasks.items():
        if names is not None and task not in names:
            continue
        other = holdrules.blocker(state.live_holder(now), holder, force)
        if other is not None:
            blocked[task] = (other, state.held_until or now)
    if blocked:
        raise HeldByOther(holdrules.refusal(operation, blocked, now))
    return observation


def _after(
    lifecycle: Lifecycle,
    operation: str,
    names: list[str] | None,
    params: dict[str, Any],
    holder: str | None,
    force: bool,
    seen: Observation | None = None,
) -> None:
    """A stop ends the claims on what it stopped (the claims seen when it was checked,
    `seen`: no second look at tmux); a start, restart or ensure by a holder claims (or
    renews) the tasks in its scope that now run."""
    if operation == "stop" and names:
        release(lifecycle, names, seen)
    elif operation in CLAIMING and holder is not None:
        scope = _scope(lifecycle, operation, names, params)
        claim(lifecycle, scope, holder, force)


def _scope(
    lifecycle: Lifecycle, operation: str, names: list[str] | None, params: dict[str, Any]
) -> list[str]:
    """The tasks an operation acted on: the named ones (with their dependencies for
    `ensure` and `start --with-deps`), or every (auto_start) task."""
    config = lifecycle.config
    if names is None:
        if operation == "restart":
            return list(config.tasks)
        return [n for n, t in config.tasks.items() if t.auto_start and config.auto_start]
    if operation == "ensure" or params.get("with_deps"):
        graph = config.graph()
        frontier, seen = list(names), set[str]()
        while frontier:
            if (name := frontier.pop()) not in seen:
                seen.add(name)
                frontier += [d for d in graph.get(name, []) if d in graph]
        return [name for name in config.tasks if name in seen]
    return names


def claim(lifecycle: Lifecycle, names: list[str], holder: str, force: bool = False) -> None:
    """Write `holder`'s claim on each of `names` that runs, unless another holds it."""
    observation = lifecycle.observe()
    now, ttl = time.time(), lifecycle.config.hold_ttl
    commands: list[list[str]] = []
    for name in names:
        state = observation.tasks.get(name)
        if state is None or not state.is_alive:
            continue
        current = state.live_holder(now)
        if holdrules.claims(current, holder, force):
            marks = holdrules.claim_marks(current, state.held_since, holder, now, ttl)
            commands += _set(state.window_id, marks)
    if commands:
        lifecycle.tmux.run(*commands)


def release(lifecycle: Lifecycle, names: list[str], observation: Observation | None = None) -> None:
    """End the claims on these tasks' windows (they were stopped)."""
    seen = observation or lifecycle.observe()
    commands = [
        ["set-option", "-w", "-u", "-t", state.window_id, f"@taskmux_{mark}"]
        for name in names
        if (state := seen.tasks.get(name)) is not None and state.holder
        for mark in _MARKS
    ]
    if commands:
        lifecycle.tmux.run(*commands)


def _set(window_id: str, marks: dict[str, str]) -> list[list[str]]:
    return [["set-option", "-w", "-t", window_id, f"@taskmux_{k}", v] for k, v in marks.items()]
