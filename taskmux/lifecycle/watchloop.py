"""The one loop of `wait` and of a start's dependency waits: read tmux, judge, check.

Each round reads tmux once and asks a judge about every task; a "check" verdict runs the
task's health check. Deciding what a round's facts mean is the caller's (pure) judge.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from taskmux.lifecycle.readiness import Verdict
from taskmux.runtime.health import CheckResult
from taskmux.runtime.state import TaskState
from taskmux.runtime.timing import wait_until
from taskmux.runtime.tmux_manager import Observation

Check = Callable[[str, TaskState, float | None], CheckResult]


@dataclass
class Watched:
    """The last round of a wait: what tmux showed, each task's verdict, the checks run."""

    observation: Observation
    verdicts: dict[str, Verdict]
    checks: dict[str, CheckResult] = field(default_factory=dict)
    timed_out: bool = False


def watch(
    observe: Callable[[], Observation],
    names: list[str],
    judge: Callable[[Observation], dict[str, Verdict]],
    check: Check,
    unhealthy: Callable[[CheckResult], str],
    *,
    deadline: float | None,
    interval: float,
    stop: threading.Event | None = None,
) -> Watched:
    """Look at the tasks until every verdict is met, one failed, `deadline` (a
    `time.monotonic()` value; None: no end) passed or `stop` was set: the one loop both
    `wait` and a start's dependency waits run.

    Each round reads tmux once and asks `judge` about every task; a "check" verdict runs
    the task's `check` (side by side, with the time left), whose pass is remembered for
    that run and whose failure is pending with `unhealthy`'s reason.
    """
    checks: dict[str, CheckResult] = {}
    healthy_run: dict[str, str] = {}  # task -> the run whose health check passed
    rounds: list[Watched] = []

    def left() -> float | None:
        return None if deadline is None else max(0.05, deadline - time.monotonic())

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(names)))) as pool:

        def finished() -> bool:
            if rounds and stop is not None and stop.is_set():
                return False  # cancelled: no further round (its check could take long)
            observation = observe()
            verdicts = judge(observation)
            to_check = []
            for name, verdict in verdicts.items():
                if verdict.status != "check":
                    continue
                if healthy_run.get(name) == _run_identity(observation.tasks[name]):
                    verdicts[name] = Verdict("met", "healthy")
                else:
                    to_check.append(name)
            remaining = left()
            futures = {n: pool.submit(check, n, observation.tasks[n], remaining) for n in to_check}
            for name, future in futures.items():
                checks[name] = result = future.result()
                if result.healthy:
                    healthy_run[name] = _run_identity(observation.tasks[name])
                    verdicts[name] = Verdict("met", "healthy")
                else:
                    verdicts[name] = Verdict("pending", unhealthy(result))
            rounds[:] = [Watched(observation, verdicts, checks)]
            statuses = {v.status for v in verdicts.values()}
            return statuses == {"met"} or "failed" in statuses

        timeout = math.inf if deadline is None else max(0.0, deadline - time.monotonic())
        done = wait_until(finished, timeout, interval=interval, stop=stop)
    last = rounds[-1]
    last.timed_out = not done and not (stop is not None and stop.is_set())
    return last


def _run_identity(state: TaskState | None) -> str:
    return f"{state.pid}:{state.started_at}" if state else ""
