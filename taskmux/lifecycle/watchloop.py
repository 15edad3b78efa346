"""The one loop of `wait` and of a start's dependency waits: read tmux, judge, check.

Each round reads tmux once and asks a judge about every task; a "check" verdict runs the
task's health check. Deciding what a round's facts mean is the caller's (pure) judge.

Between rounds it pauses `interval`, unless every unmet verdict can only change at a
known moment or when its task's pane process ends (`readiness.next_change`: a task
settling into its `min_uptime`, a running task that has to complete): then it sleeps until
that moment, woken by the kernel when one of those processes ends (a pidfd) or by the
wait's stop, and reads tmux once more. A tmux read costs a client process and a parse;
a dependency that takes a minute to complete was read 240 times.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from taskmux.lifecycle.readiness import Verdict, Wake, next_change
from taskmux.logs.stopflag import StopFlag
from taskmux.runtime.health import CheckResult
from taskmux.runtime.pidwait import wait_exits
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
    sweep: float,
) -> Watched:
    """Look at the tasks until every verdict is met, one failed, `deadline` (a
    `time.monotonic()` value; None: no end) passed or `stop` was set: the one loop both
    `wait` and a start's dependency waits run.

    Each round reads tmux once and asks `judge` about every task; a "check" verdict runs
    the task's `check` (side by side, with the time left), whose pass is remembered for
    that run and whose failure is pending with `unhealthy`'s reason. Between rounds:
    `interval`, or a sleep until the verdicts can change (see the module docstring), of
    at most `sweep` seconds. A `StopFlag` as `stop` ends that sleep at once; a plain
    event is looked at every `interval`.
    """
    checks: dict[str, CheckResult] = {}
    healthy_run: dict[str, str] = {}  # task -> the run whose health check passed
    rounds: list[Watched] = []
    pause = _Pause(interval, sweep, stop, rounds)

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
        done = wait_until(finished, timeout, interval=interval, stop=stop, sleep=pause)
    last = rounds[-1]
    last.timed_out = not done and not (stop is not None and stop.is_set())
    return last


@dataclass
class _Pause:
    """The pause after the last of `rounds` (see `watch`)."""

    interval: float
    sweep: float
    stop: threading.Event | None
    rounds: list[Watched]
    ended: frozenset[int] = frozenset()  # pane processes the last sleep saw end

    def __call__(self, left: float) -> None:
        last = self.rounds[-1] if self.rounds else None
        wake = None if last is None else next_change(last.verdicts, last.observation.tasks)
        # A process the kernel saw end that tmux still shows alive: tmux has yet to mark
        # its pane dead, so look again after the usual pause, not at once.
        if wake is not None and not wake.pids & self.ended:
            ended = self._sleep(wake, min(left, self.sweep, max(0.0, wake.at - time.time())))
            if ended is not None:
                self.ended = frozenset(ended)
                return
        if self.stop is not None:
            self.stop.wait(min(self.interval, left))
        else:
            time.sleep(min(self.interval, left))

    def _sleep(self, wake: Wake, span: float) -> set[int] | None:
        """Sleep `span` seconds, less if one of `wake.pids` ends or `stop` is set; the
        pids that ended. None without pidfds."""
        end = time.monotonic() + span
        flag = self.stop.fileno() if isinstance(self.stop, StopFlag) else None
        while True:
            if self.stop is not None and self.stop.is_set():
                return set()
            polled = flag is None and self.stop is not None
            until = time.monotonic() + self.interval if polled else end
            ended = wait_exits(wake.pids, min(end, until), first=True, wake=flag)
            if ended is None or ended or time.monotonic() >= end:
                return ended


def _run_identity(state: TaskState | None) -> str:
    return f"{state.pid}:{state.started_at}" if state else ""
