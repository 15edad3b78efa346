"""Supervision shared by `taskmux start -m` and the daemon: notice exits, run health
checks on their own schedules, and carry out the restart decision of `restart.py`.

The loop polls tmux (one round trip) every half second, so an exit is noticed within
about a second; health checks and restarts run in worker threads and never delay it.
Everything that must survive this process (counts, marks, scheduled restarts) lives on
the task's tmux window, so a supervisor started after a crash carries on where the
last one stopped.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from taskmux import procs
from taskmux.errors import SupervisorRunning
from taskmux.filelock import try_lock
from taskmux.lifecycle import Checked, Lifecycle
from taskmux.restart import Action, Decision, decide, history_of, observed_of, policy_of
from taskmux.schema import TaskConfig
from taskmux.state import TaskState, health_change, same_run
from taskmux.tmux_manager import Observation

POLL_INTERVAL = 0.5


class Supervisor:
    """Applies restart policies to every task of one project until told to stop."""

    def __init__(self, lifecycle: Lifecycle, clock: Callable[[], float] = time.time) -> None:
        self.lifecycle = lifecycle
        self.clock = clock
        # Separate pools: sixteen hanging health checks must not hold up a restart.
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="taskmux-check")
        self.action_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="taskmux-act")
        self.checks: dict[str, Future[Checked]] = {}
        self.next_check: dict[str, float] = {}
        self.actions: dict[str, Future[object]] = {}
        self.snapshot = Observation(session_exists=False)
        self._lock = threading.Lock()

    def replace_lifecycle(self, lifecycle: Lifecycle) -> None:
        """Use a reloaded config from the next tick on."""
        with self._lock:
            self.lifecycle = lifecycle

    def run(self, stop: threading.Event) -> None:
        last_error = ""
        try:
            while not stop.is_set():
                try:
                    self.tick()
                    last_error = ""
                except Exception as exc:  # noqa: BLE001 - one bad tick (tmux restarting, a
                    # config mid-reload) must not end supervision; it is recorded, once.
                    if str(exc) != last_error:
                        last_error = str(exc)
                        self.lifecycle.events.append("supervisor_error", None, error=last_error)
                stop.wait(POLL_INTERVAL)
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.action_pool.shutdown(wait=False, cancel_futures=True)

    def tick(self) -> None:
        with self._lock:
            lifecycle = self.lifecycle
        now = self.clock()
        observation = lifecycle.observe()
        self.snapshot = observation
        for name, state in observation.tasks.items():
            task = lifecycle.config.tasks.get(name)
            if task is None:
                continue  # no longer in the config: left alone
            action = self.actions.get(name)
            if action is not None and not action.done():
                continue
            self._note_exit(lifecycle, name, state)
            self._run_health(lifecycle, name, task, state, now)
            decision = decide(policy_of(task), observed_of(state), history_of(state), now)
            self._apply(lifecycle, name, state, decision, now)

    def _note_exit(self, lifecycle: Lifecycle, name: str, state: TaskState) -> None:
        if not state.dead or state.seen_exit == state.death_id:
            return
        lifecycle.tmux.set_marks(state.window_id, {"seen": state.death_id})
        if not state.manually_stopped:
            lifecycle.events.append(
                "exited",
                name,
                exit_code=state.exit_status,
                signal=state.exit_signal,
                description=state.exit_text(),
            )

    def _run_health(
        self, lifecycle: Lifecycle, name: str, task: TaskConfig, state: TaskState, now: float
    ) -> None:
        if task.health_check is None or state.dead or state.manually_stopped:
            self.next_check.pop(name, None)
            return
        future = self.checks.get(name)
        if future is not None:
            if not future.done():
                return
            del self.checks[name]
            checked = future.result()
            self._report_health(lifecycle, name, checked)
            if checked.after is not None and same_run(checked.after.run, state.started_at):
                # This tick's observation may predate that verdict; the next check counts on.
                state = replace(state, health=checked.after)
        due = self.next_check.setdefault(name, (state.started_at or now) + task.health_interval)
        if now >= due:
            self.next_check[name] = now + task.health_interval
            self.checks[name] = self.pool.submit(lifecycle.checked, name, state, True)

    def _report_health(self, lifecycle: Lifecycle, name: str, checked: Checked) -> None:
        """An event when the failure streak reaches `health_retries`, and when it ends after
        that; single failures of a task still coming up are only counted on its window."""
        if checked.after is None:
            return
        change = health_change(checked.before, checked.after)
        if change == "health_failed":
            output = checked.result.output[-500:]
            lifecycle.events.append(change, name, failures=checked.after.failures, output=output)
        elif change == "health_recovered":
            lifecycle.events.append(change, name)

    def _apply(
        self, lifecycle: Lifecycle, name: str, state: TaskState, decision: Decision, now: float
    ) -> None:
        if decision.action is Action.RESET:
            lifecycle.tmux.set_marks(state.window_id, {"restarts": None})
            lifecycle.events.append("restart_count_reset", name, reason=decision.reason)
        elif decision.action is Action.GIVE_UP:
            lifecycle.tmux.set_marks(state.window_id, {"gave_up": "1", "next_restart": None})
            lifecycle.events.append(
                "gave_up", name, reason=decision.reason, restarts=state.restarts
            )
            if state.is_alive:  # still running but unhealthy: "gave up" leaves it stopped
                task = lifecycle.project.task(name)
                marker = lifecycle.marker(name)
                self._act(
                    lifecycle, name, procs.stop_tree, state.pid, marker, task.stop_grace_period
                )
        elif decision.action is Action.RESTART:
            if state.next_restart_at is None:
                due = now + decision.delay
                lifecycle.tmux.set_marks(state.window_id, {"next_restart": f"{due:.3f}"})
                lifecycle.events.append(
                    "restart_scheduled",
                    name,
                    delay=round(decision.delay, 3),
                    reason=decision.reason,
                )
            elif now >= state.next_restart_at:
                self._act(lifecycle, name, self._restart, lifecycle, name, decision.reason)
        elif state.is_alive and state.next_restart_at is not None:
            # A restart was due for failing checks, but the task recovered: forget it.
            lifecycle.tmux.set_marks(state.window_id, {"next_restart": None})

    def _act(
        self, lifecycle: Lifecycle, name: str, action: Callable[..., object], *args: object
    ) -> None:
        """Run an action in the background; a failure becomes an event, never silence."""
        future = self.action_pool.submit(action, *args)

        def report(done: Future[object]) -> None:
            error = done.exception() if not done.cancelled() else None
            if error is not None:
                lifecycle.events.append("supervisor_error", name, error=str(error))

        future.add_done_callback(report)
        self.actions[name] = future

    def _restart(self, lifecycle: Lifecycle, name: str, reason: str) -> None:
        state = lifecycle.observe().tasks.get(name)
        if state is None or state.manually_stopped or state.gave_up:
            return
        if state.is_alive:  # unhealthy: stop it the usual way, without a manual mark
            task = lifecycle.project.task(name)
            procs.stop_tree(state.pid, lifecycle.marker(name), task.stop_grace_period)
            _wait_for_death(lifecycle, name)
        launched = lifecycle.launch([name], manual=False)
        if name in launched.refused:
            return  # stopped by hand meanwhile, or running again: nothing was restarted
        lifecycle.tmux.add_restart(state.window_id)
        attempt = state.restarts + 1
        if name in launched.failures:
            error = launched.failures[name].message
            lifecycle.events.append("restart_failed", name, attempt=attempt, error=error)
        else:
            lifecycle.events.append("restarted", name, attempt=attempt, reason=reason)


def _wait_for_death(lifecycle: Lifecycle, name: str, timeout: float = 3.0) -> None:
    """tmux marks a pane dead a moment after its process dies; wait for that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = lifecycle.observe().tasks.get(name)
        if state is None or state.dead:
            return
        time.sleep(0.02)


@dataclass
class Claim:
    """This process's hold on the project's one supervisor slot."""

    fd: int
    info_path: Path

    def release(self) -> None:
        try:
            self.info_path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)


def claim_supervision(lock_path: Path, kind: str, **info: Any) -> Claim:
    """Become the project's only supervisor, or raise naming the one that already is.

    The lock is an flock, released by the kernel when its holder dies, so a crashed
    supervisor never blocks the next one.
    """
    info_path = lock_path.with_suffix(".json")
    fd = try_lock(lock_path)
    if fd is None:
        raise SupervisorRunning(
            f"another supervisor runs for this project: {describe_holder(info_path)}"
        )
    record = {"pid": os.getpid(), "kind": kind, "since": time.time(), **info}
    tmp = info_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, info_path)
    return Claim(fd, info_path)


def supervisor_running(lock_path: Path) -> bool:
    """Whether a live process holds the supervisor lock (a dead one's lock is free)."""
    fd = try_lock(lock_path)
    if fd is None:
        return True
    os.close(fd)
    return False


def read_holder(info_path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe_holder(info_path: Path) -> str:
    holder = read_holder(info_path)
    if holder is None:
        return "unknown process"
    text = f"{holder.get('kind', 'supervisor')} (pid {holder.get('pid')}"
    if holder.get("port"):
        text += f", port {holder['port']}"
    return text + ")"
