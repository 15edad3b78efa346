"""The supervisor as scripted histories: deaths, checks and manual stops at given fake
times are replayed through `tick()` against an in-memory project (a fake `Supervised`:
no tmux, no processes, no sleeping), and the actions it took are compared with a table.

Each history is a script of steps `(time, what, task, arg)`; after each step the clock
is set to its time, the supervisor ticks once and everything it started (restarts,
checks) is let finish. What it did is read back from the fake as `(time, verb, task)`.
"""

from __future__ import annotations

import dataclasses
import signal
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from taskmux.config.models import validate_config
from taskmux.config.schema import Condition, ProjectConfig
from taskmux.errors import PortBusy, StopFailed
from taskmux.lifecycle.results import Checked, Launched, StartReport
from taskmux.runtime.health import CheckResult
from taskmux.runtime.port_guard import Holder
from taskmux.runtime.state import TaskState, in_start_period, next_health
from taskmux.runtime.timing import Timing, wait_until
from taskmux.runtime.tmux_manager import Observation
from taskmux.supervision.filewatch import WatchSpec
from taskmux.supervision.supervisor import Supervisor

T0 = 1_000_000.0  # the fake clock's epoch: every time in a script is relative to it


def _config(text: str) -> ProjectConfig:
    config, problems = validate_config(tomllib.loads(dedent(text)))
    assert config is not None, problems
    return config


class FakeProject:
    """An in-memory `Supervised`: task windows as `TaskState`s, and a log of what the
    supervisor did to them."""

    def __init__(self, config: ProjectConfig, clock: list[float]) -> None:
        self.config = config
        self.session = "demo"
        self.state_root = Path("/nonexistent/taskmux-histories")
        self.timing = Timing.fast()
        self.clock = clock
        self.windows: dict[str, TaskState] = {}
        self.passing: dict[str, bool] = {}  # the scripted outcome of each task's check
        self.did: list[tuple[float, str, str]] = []
        self.events: list[tuple[float, str, str | None, dict[str, object]]] = []
        self.exists = True
        self.serial = 0
        self.busy: set[str] = set()  # tasks whose launch fails: their port is taken
        self.unkillable: set[str] = set()  # tasks whose processes outlive SIGKILL

    # Scripting -----------------------------------------------------------------------

    def now(self) -> float:
        return self.clock[0]

    def run(self, name: str, restarts: int = 0) -> None:
        """A fresh run of `name` (a launch, as tmux would show it)."""
        self.serial += 1
        self.windows[name] = TaskState(
            task=name,
            window_id=f"@{name}",
            pane_id=f"%{name}",
            pid=10_000 + self.serial,
            dead=False,
            exit_status=None,
            exit_signal=None,
            dead_time=None,
            current_command="sh",
            current_path="/",
            piped=True,
            manually_stopped=False,
            restarts=restarts,
            started_at=self.now(),
            gave_up=False,
            next_restart_at=None,
            health=None,
        )

    def die(self, name: str, status: int | None = None, sig: int | None = None) -> None:
        state = self.windows[name]
        self.windows[name] = replace(
            state,
            dead=True,
            exit_status=status,
            exit_signal=sig,
            dead_time=self.now(),
            health=None,
        )

    def _mark(self, name: str, **changes: Any) -> None:
        self.windows[name] = replace(self.windows[name], **changes)

    def _task(self, window_id: str) -> str:
        return next(n for n, s in self.windows.items() if s.window_id == window_id)

    # Supervised: facts ---------------------------------------------------------------

    def observe(self) -> Observation:
        if not self.exists:
            return Observation(session_exists=False, session=self.session)
        return Observation(True, dict(self.windows), session=self.session, server_pid=1)

    def server_pid(self) -> int | None:
        return 1

    def ended_on_purpose(self) -> bool:
        return False

    def watch_specs(self) -> dict[str, WatchSpec]:
        return {}

    def collector_pid(self) -> int | None:
        return 1

    def ensure_collector(self) -> None:
        return None

    def record(self, event: str, task: str | None, **fields: object) -> None:
        self.events.append((self.now(), event, task, fields))

    def tagged(self, **tags: object) -> FakeProject:
        return self

    # Supervised: marks ---------------------------------------------------------------

    def note_exit_seen(self, window_id: str, death_id: str) -> None:
        self._mark(self._task(window_id), seen_exit=death_id)

    def set_restarts(self, window_id: str, count: int | None) -> None:
        name = self._task(window_id)
        if count is None:
            self.did.append((self.now(), "reset", name))
        self._mark(name, restarts=count or 0)

    def count_restart(self, window_id: str) -> None:
        name = self._task(window_id)
        self._mark(name, restarts=self.windows[name].restarts + 1)

    def give_up(self, window_id: str) -> None:
        name = self._task(window_id)
        self.did.append((self.now(), "give up", name))
        self._mark(name, gave_up=True, next_restart_at=None)

    def schedule_restart(self, window_id: str, at: float) -> None:
        name = self._task(window_id)
        self.did.append((self.now(), f"schedule +{at - self.now():g}", name))
        self._mark(name, next_restart_at=at)

    def cancel_restart(self, window_id: str) -> None:
        name = self._task(window_id)
        self.did.append((self.now(), "cancel", name))
        self._mark(name, next_restart_at=None)

    # Supervised: actions -------------------------------------------------------------

    def check(self, name: str, state: TaskState) -> Checked:
        task = self.config.tasks[name]
        passed = self.passing.get(name, True)
        result = CheckResult(passed, 0 if passed else 1, "" if passed else "exit 1", 0.0)
        current = self.windows[name]
        now = self.now()
        counted = passed or not in_start_period(task.health_start_period, state.started_at, now)
        after = next_health(
            current.health, passed, counted, task.health_retries, now, state.started_at
        )
        self._mark(name, health=after)
        return Checked(result, current.health, after)

    def note_daemonized(self, name: str, state: TaskState, wait: float) -> list[Holder]:
        return []

    def end_processes(self, name: str, pid: int | None) -> str | None:
        self.did.append((self.now(), "end", name))
        if name in self.unkillable:
            raise StopFailed(f"task '{name}': could not stop pid {pid} (SIGKILL failed)")
        if name in self.windows and not self.windows[name].dead:
            self.die(name, sig=signal.SIGTERM)
            return "SIGTERM"
        return None

    def end_all_processes(self, pids: dict[str, int | None]) -> dict[str, str | None]:
        self.did.append((self.now(), "end all", ",".join(sorted(pids))))
        return dict.fromkeys(pids)

    def relaunch(self, names: list[str], count_restart: bool = False) -> Launched:
        launched = Launched()
        for name in names:
            state = self.windows.get(name)
            if state is not None and (state.is_alive or state.manually_stopped):
                launched.refused.append(name)
                continue
            if name in self.busy:
                self.did.append((self.now(), "restart failed", name))
                launched.failures[name] = PortBusy(f"task '{name}': port 3000 is taken")
                continue
            restarts = (state.restarts if state else 0) + (1 if count_restart else 0)
            self.did.append((self.now(), "restart", name))
            self.exists = True
            self.run(name, restarts)
            launched.started.append(name)
        return launched

    def restart(self, name: str) -> StartReport:
        self.did.append((self.now(), "restart (change)", name))
        self.run(name)
        return StartReport(started=[name])

    def build(self, name: str, command: str) -> str | None:
        return None

    def wait_condition(self, name: str, condition: Condition, timeout: float) -> str | None:
        self.did.append((self.now(), f"wait {condition}", name))
        return None


@dataclass(frozen=True)
class History:
    config: str
    script: list[tuple[float, str, str, Any]]
    expected: list[tuple[float, str, str]]
    events: list[tuple[float, str, str | None]] = dataclasses.field(default_factory=list)


CRASHER = """
[tasks.app]
command = "app"
max_restarts = 2
restart_backoff = 2.0
restart_delay = 1.0
"""

CHECKED = """
[tasks.web]
command = "web"
health_check = "probe"
health_interval = 5.0
health_retries = 2
restart_delay = 0
"""

HISTORIES: dict[str, History] = {
    "a crash is restarted after restart_delay": History(
        CRASHER,
        [
            (0, "start", "app", None),
            (1, "exit", "app", 3),
            (1.5, "tick", "", None),  # not due yet
            (2, "tick", "", None),
        ],
        [(1, "schedule +1", "app"), (2, "restart", "app")],
        [(1, "exited", "app"), (1, "restart_scheduled", "app"), (2, "restarted", "app")],
    ),
    "the backoff grows, then it gives up at max_restarts": History(
        CRASHER,
        [
            (0, "start", "app", None),
            (1, "exit", "app", 1),
            (2, "tick", "", None),
            (3, "exit", "app", 1),
            (4, "tick", "", None),  # 1 * 2 ** 1 = 2 s after the second death
            (5, "tick", "", None),
            (6, "exit", "app", 1),
            (7, "tick", "", None),
        ],
        [
            (1, "schedule +1", "app"),
            (2, "restart", "app"),
            (3, "schedule +2", "app"),
            (5, "restart", "app"),
            (6, "give up", "app"),
        ],
    ),
    "a death by signal is a failure too": History(
        CRASHER,
        [(0, "start", "app", None), (1, "signal", "app", signal.SIGSEGV), (2, "tick", "", None)],
        [(1, "schedule +1", "app"), (2, "restart", "app")],
    ),
    "on-failure leaves a clean exit alone": History(
        CRASHER,
        [(0, "start", "app", None), (1, "exit", "app", 0), (10, "tick", "", None)],
        [],
        [(1, "exited", "app")],
    ),
    "policy no restarts nothing": History(
        CRASHER.replace('command = "app"', 'command = "app"\nrestart_policy = "no"'),
        [(0, "start", "app", None), (1, "exit", "app", 1), (10, "tick", "", None)],
        [],
    ),
    "always restarts a clean exit, once it is seen not to have daemonized": History(
        CRASHER.replace('command = "app"', 'command = "app"\nrestart_policy = "always"'),
        [
            (0, "start", "app", None),
            (1, "exit", "app", 0),  # first: did it leave a server on its port?
            (2, "tick", "", None),
            (3, "tick", "", None),
        ],
        [(2, "schedule +1", "app"), (3, "restart", "app")],
    ),
    "a manual stop is never restarted": History(
        CRASHER,
        [(0, "start", "app", None), (1, "stop", "app", None), (10, "tick", "", None)],
        [],
    ),
    "a stop by hand during the backoff wins": History(
        CRASHER,
        [
            (0, "start", "app", None),
            (1, "exit", "app", 1),
            (1.5, "stop", "app", None),
            (5, "tick", "", None),
        ],
        [(1, "schedule +1", "app")],
    ),
    "failing checks make it unhealthy, then restarted": History(
        CHECKED,
        [
            (0, "start", "web", None),
            (5, "tick", "", None),  # first check: passes
            (6, "fail", "web", None),
            (10, "tick", "", None),  # failure 1
            (15, "tick", "", None),  # failure 2: unhealthy
            (15.1, "tick", "", None),  # the verdict is read: restart at once
        ],
        [(15.1, "end", "web"), (15.1, "restart", "web")],
        [(15.1, "health_failed", "web"), (15.1, "restarted", "web")],
    ),
    "a check that passes again ends the streak": History(
        CHECKED,
        [
            (0, "start", "web", None),
            (1, "fail", "web", None),
            (5, "tick", "", None),  # failure 1
            (6, "pass", "web", None),
            (10, "tick", "", None),  # passes: the streak is over
            (10.1, "tick", "", None),
            (15, "tick", "", None),
        ],
        [],
    ),
    "a restart count is reset after a healthy minute": History(
        CRASHER,
        [
            (0, "start", "app", None),
            (1, "exit", "app", 1),
            (2, "tick", "", None),
            (70, "tick", "", None),
        ],
        [(1, "schedule +1", "app"), (2, "restart", "app"), (70, "reset", "app")],
    ),
    "a restart that fails waits the backoff before the next try": History(
        CRASHER.replace("max_restarts = 2", "max_restarts = 3"),
        [
            (0, "start", "app", None),
            (0.5, "busy", "app", None),
            (1, "exit", "app", 1),
            (2, "tick", "", None),  # fails: the next try 1 * 2 ** 1 = 2 s later
            (2.1, "tick", "", None),  # not again at once
            (3.9, "tick", "", None),
            (4, "tick", "", None),  # fails: 4 s later
            (4.5, "free", "app", None),
            (7.9, "tick", "", None),
            (8, "tick", "", None),  # the port is free again
        ],
        [
            (1, "schedule +1", "app"),
            (2, "restart failed", "app"),
            (2, "schedule +2", "app"),
            (4, "restart failed", "app"),
            (4, "schedule +4", "app"),
            (8, "restart", "app"),
        ],
        [(2, "restart_failed", "app"), (2, "restart_scheduled", "app"), (8, "restarted", "app")],
    ),
    "failed restarts still end in giving up at max_restarts": History(
        CRASHER,
        [
            (0, "start", "app", None),
            (0.5, "busy", "app", None),
            (1, "exit", "app", 1),
            (2, "tick", "", None),
            (4, "tick", "", None),
            (4.1, "tick", "", None),
        ],
        [
            (1, "schedule +1", "app"),
            (2, "restart failed", "app"),
            (2, "schedule +2", "app"),
            (4, "restart failed", "app"),
            (4, "give up", "app"),
        ],
    ),
    "a restart never launches beside processes that outlived SIGKILL": History(
        CHECKED,
        [
            (0, "start", "web", None),
            (1, "fail", "web", None),
            (1, "unkillable", "web", None),
            (5, "tick", "", None),  # failure 1
            (10, "tick", "", None),  # failure 2: unhealthy
            (10.1, "tick", "", None),  # the restart's stop leaves survivors: no launch
        ],
        [(10.1, "end", "web"), (10.1, "cancel", "web")],
        [(10.1, "restart_failed", "web")],
    ),
    "a lost session is recovered: leftovers stopped, tasks relaunched": History(
        CRASHER,
        [(0, "start", "app", None), (1, "lose", "", None)],
        [(1, "end all", "app"), (1, "restart", "app")],
        [(1, "session_lost", None), (1, "session_recovered", None)],
    ),
}


def _replay(history: History) -> tuple[FakeProject, Supervisor]:
    clock = [T0]
    fake = FakeProject(_config(history.config), clock)
    supervisor = Supervisor(lambda: fake, clock=lambda: clock[0], timing=Timing.fast())
    try:
        for at, what, task, arg in history.script:
            clock[0] = T0 + at
            _apply(fake, what, task, arg)
            supervisor.tick()
            _settle(supervisor)
    finally:
        supervisor.pool.shutdown(wait=True)
        supervisor.action_pool.shutdown(wait=True)
    return fake, supervisor


def _apply(fake: FakeProject, what: str, task: str, arg: Any) -> None:
    if what == "start":
        fake.run(task)
    elif what == "exit":
        fake.die(task, status=arg)
    elif what == "signal":
        fake.die(task, sig=int(arg))
    elif what == "stop":
        fake.die(task, sig=signal.SIGINT)
        fake._mark(task, manually_stopped=True)
    elif what in ("fail", "pass"):
        fake.passing[task] = what == "pass"
    elif what == "unkillable":
        fake.unkillable.add(task)
    elif what in ("busy", "free"):
        (fake.busy.add if what == "busy" else fake.busy.discard)(task)
    elif what == "lose":  # the tmux server died: windows and all
        fake.exists = False
        fake.windows.clear()


def _settle(supervisor: Supervisor) -> None:
    """Let every restart, check and recovery the tick started finish."""
    pending: list[Future[Any]] = [*supervisor.actions.values(), *supervisor.checks.values()]
    for future in pending:
        future.exception(timeout=10)


def _relative(rows: list[tuple[float, str, str]]) -> Iterator[tuple[float, str, str]]:
    for at, verb, task in rows:
        yield round(at - T0, 3), verb, task


@pytest.mark.parametrize("name", list(HISTORIES))
def test_history(name: str) -> None:
    history = HISTORIES[name]
    fake, _ = _replay(history)
    assert list(_relative(fake.did)) == history.expected
    if history.events:
        seen = [(round(at - T0, 3), event, task) for at, event, task, _ in fake.events]
        for wanted in history.events:
            assert wanted in seen, (wanted, seen)


def test_the_restart_event_counts_the_attempt() -> None:
    fake, _ = _replay(HISTORIES["the backoff grows, then it gives up at max_restarts"])
    attempts = [f["attempt"] for _, event, _, f in fake.events if event == "restarted"]
    assert attempts == [1, 2]
    (gave_up,) = [f for _, event, _, f in fake.events if event == "gave_up"]
    assert gave_up["restarts"] == 2


class _Wakes:
    """Stands in for the loop's exit watch: counts the wakes a finished check asks for."""

    def __init__(self) -> None:
        self.count = 0

    def wake(self) -> None:
        self.count += 1


def test_a_quiet_pass_wakes_nobody_and_its_tick_is_the_next_checks_due_time() -> None:
    clock = [T0]
    fake = FakeProject(_config(CHECKED), clock)  # health_interval = 5
    supervisor = Supervisor(lambda: fake, clock=lambda: clock[0], timing=Timing.fast())
    wakes = _Wakes()
    supervisor._exits = wakes  # type: ignore[assignment]
    judged = []  # the checks whose end the supervisor has judged (in the check's thread)
    judge = supervisor._check_done

    def judging(name: str, done: Future[Checked]) -> None:
        judge(name, done)
        judged.append(name)

    supervisor._check_done = judging  # type: ignore[method-assign]
    try:
        fake.run("web")

        def check_at(at: float) -> int:
            """Tick at `at`, let the check it starts end; the wakes that end asked for."""
            clock[0] = T0 + at
            before, ends = wakes.count, len(judged)
            supervisor.tick()
            wait_until(lambda: len(judged) > ends, timeout=10)
            return wakes.count - before

        assert check_at(5) == 1  # the run's first verdict: news
        assert T0 + 10 in supervisor._dues  # the next check's time is the next look
        assert check_at(10) == 0  # a pass after a pass: taken in by the tick at 15
        assert T0 + 15 in supervisor._dues
        fake.passing["web"] = False
        assert check_at(15) == 1  # a failure is news at once
        fake.passing["web"] = True
        assert check_at(20) == 1  # so is the pass that ends the streak
        assert check_at(25) == 0
        assert [e for _, e, _, _ in fake.events if e.startswith("health")] == []
    finally:
        supervisor.pool.shutdown(wait=True)
        supervisor.action_pool.shutdown(wait=True)


def test_a_quiet_pass_still_wakes_the_loop_when_it_ends_after_its_due_time() -> None:
    clock = [T0]
    supervisor = Supervisor(lambda: FakeProject(_config(CHECKED), clock), clock=lambda: clock[0])
    wakes = _Wakes()
    supervisor._exits = wakes  # type: ignore[assignment]
    healthy = next_health(None, True, True, 3, T0, T0)
    done: Future[Checked] = Future()
    done.set_result(Checked(CheckResult(True, 0, "", 0.0), healthy, healthy))
    supervisor.next_check["web"] = T0 + 1
    supervisor._check_done("web", done)
    assert wakes.count == 0
    clock[0] = T0 + 1  # a slow check: the tick at its due time found it still running
    supervisor._check_done("web", done)
    assert wakes.count == 1
    failed: Future[Checked] = Future()
    failed.set_exception(RuntimeError("boom"))
    clock[0] = T0
    supervisor._check_done("web", failed)
    assert wakes.count == 2
    supervisor.pool.shutdown(wait=True)
    supervisor.action_pool.shutdown(wait=True)
