"""`ensure` (SPEC §13): the one call an agent makes before it needs the stack.

For each task in scope (the named ones, or every `auto_start` task, with what they
depend on): one that runs and is current is kept; one that is not running (never
started, stopped, exited, crashed, gave up, killed) is started; one that runs but is
unhealthy or stale is restarted. Stale: a port its environment was built from has
moved (`stale.py`), its definition changed since its launch (`definition.py`), or a
file it watches is newer than its start (`watchscan.py`). Then it waits like
`start --wait`: the start machinery launches what is not running, in dependency order,
and every task in scope must become ready within the timeout.

`judge` is the decision, pure (`ensure_verdict.py`); `ensure` gathers the facts and
carries it out.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from taskmux.config.deps import start_order, transitive_dependencies
from taskmux.config.watchglobs import WatchSpec
from taskmux.lifecycle import definition
from taskmux.lifecycle.ensure_verdict import Action, Staleness, Verdict, judge
from taskmux.lifecycle.named_urls import proxy_port
from taskmux.lifecycle.readmodel import port_of, recorded_ports, url_of
from taskmux.lifecycle.stale import stale_tasks, why_stale
from taskmux.lifecycle.watchscan import BUDGET, Scan

if TYPE_CHECKING:
    from taskmux.config.schema import TaskConfig
    from taskmux.errors import TaskmuxError
    from taskmux.lifecycle.core import Lifecycle
    from taskmux.lifecycle.results import StartReport
    from taskmux.lifecycle.waiting import WaitResult
    from taskmux.runtime.state import TaskState


@dataclass(frozen=True)
class TaskOutcome:
    name: str
    action: Action
    reason: str
    port: int | None
    ready: bool | None = None  # None: not waited for (the start failed first)
    url: str | None = None  # its named URL (SPEC §14), with the proxy on

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "reason": self.reason or None,
            "port": self.port,
            "url": self.url,
            "ready": self.ready,
        }


@dataclass(frozen=True)
class EnsureResult:
    """Every task in scope with what was done, and how the wait for readiness ended."""

    tasks: tuple[TaskOutcome, ...]
    wait: WaitResult | None = None
    report: StartReport | None = None
    notes: tuple[str, ...] = ()  # what could not be looked at in full (a large tree)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.action != "failed" and t.ready is not False for t in self.tasks)

    def to_dict(self) -> dict[str, object]:
        document: dict[str, object] = {
            "ok": self.ok,
            "tasks": {t.name: t.to_dict() for t in self.tasks},
        }
        if self.wait is not None and not self.wait.ok:  # each unready task's facts
            document["wait"] = self.wait.to_dict()
        if self.notes:
            document["notes"] = list(self.notes)
        if self.warnings:
            document["warnings"] = list(self.warnings)
        return document


def scope(lifecycle: Lifecycle, names: list[str] | None) -> list[str]:
    """The named tasks (none: every `auto_start` one) and all they depend on, in order."""
    config = lifecycle.config
    if names:
        lifecycle.project.check_names(names)
        wanted = list(dict.fromkeys(names))
    else:
        wanted = [n for n, t in config.tasks.items() if t.auto_start] if config.auto_start else []
    graph = config.graph()
    return start_order(graph, transitive_dependencies(graph, wanted))


def verdicts(lifecycle: Lifecycle, names: list[str]) -> tuple[dict[str, Verdict], list[str]]:
    """Each task's verdict from one observation, and notes on what was not looked at."""
    project = lifecycle.project
    observation = lifecycle.observe()
    moved = stale_tasks(lifecycle.config, str(lifecycle.paths.root), observation)
    scan = Scan()
    found: dict[str, Verdict] = {}
    for name in names:
        task, state = project.task(name), observation.tasks.get(name)
        stale = Staleness()
        if state is not None:
            stale = _staleness(lifecycle, name, task, state, moved.get(name), scan)
        found[name] = judge(task, state, name in observation.killed, stale)
    notes = [
        f"task '{name}': its watched files were looked at up to {BUDGET} entries, "
        "the rest not compared (a supervisor watches large trees: `taskmux daemon`)"
        for name in scan.cut or []
    ]
    return found, notes


def _staleness(
    lifecycle: Lifecycle,
    name: str,
    task: TaskConfig,
    state: TaskState,
    moved: dict[str, list[int]] | None,
    scan: Scan,
) -> Staleness:
    now = definition.digest(lifecycle.project, name)
    then = definition.recorded(lifecycle.project, name)
    if then is None and state.is_alive:  # launched by a taskmux that recorded nothing
        definition.record(lifecycle.project, name, now)
    changed = then is not None and then != now
    newer = None
    if task.watch and state.is_alive and state.started_at is not None and not changed:
        root = os.path.realpath(lifecycle.project.task_cwd(name))
        spec = WatchSpec(root, tuple(task.watch), tuple(task.watch_ignore))
        newer = scan.newer(name, spec, state.started_at)
    return Staleness(why_stale(moved) if moved else None, changed, newer)


def ensure(
    lifecycle: Lifecycle,
    names: list[str] | None,
    timeout: float,
    stop: threading.Event | None = None,
    holder: str | None = None,
) -> EnsureResult:
    """Keep, start or restart every task in scope, then wait for all to be ready. A
    task another holder claims is never restarted for `holder` (SPEC §13: E307)."""
    from taskmux.lifecycle.waiting import start_and_wait

    began = time.monotonic()
    wanted = scope(lifecycle, names)
    found, notes = verdicts(lifecycle, wanted)
    _spare_held(lifecycle, [n for n in wanted if found[n].action == "restarted"], found, holder)
    _stop_for_restart(lifecycle, [n for n in wanted if found[n].action == "restarted"], found)
    running = [n for n in wanted if not found[n].done]
    report, wait = start_and_wait(lifecycle, running, False, timeout, stop)
    # A port this start moved (the old one was taken) leaves the tasks built from it
    # stale, kept ones and ones launched beside it: one more round restarts them.
    again = {n: why for n, why in report.needs_restart.items() if n in running}
    _spare_held(lifecycle, list(again), found, holder)
    again = {n: why for n, why in again.items() if found[n].action != "failed"}
    if again:
        for name, why in again.items():
            found[name] = Verdict("restarted", why)
        _stop_for_restart(lifecycle, list(again), found)
        left = max(0.0, timeout - (time.monotonic() - began))
        report, wait = start_and_wait(lifecycle, running, False, left, stop)
    ready = {t.task: t.met for t in wait.tasks} | {n: True for n in wanted if found[n].done}
    ports = recorded_ports(str(lifecycle.paths.root))
    facts = {n: {"port": lifecycle.project.task(n).port} for n in wanted}
    proxy = (lifecycle.session, proxy_port(lifecycle.config.proxy_port))
    outcomes = []
    for name in [n for n in lifecycle.config.tasks if n in wanted]:  # the file's order
        verdict = found[name]
        problem = report.failed.get(name) or report.skipped.get(name)
        if problem is not None and verdict.action != "failed":
            verdict = Verdict("failed", problem)
        port = port_of(name, facts[name], ports)
        url = url_of(name, facts[name], proxy)
        outcomes.append(
            TaskOutcome(name, verdict.action, verdict.reason, port, ready.get(name), url)
        )
    return EnsureResult(tuple(outcomes), wait, report, tuple(notes), list(report.warnings))


def _spare_held(
    lifecycle: Lifecycle, names: list[str], found: dict[str, Verdict], holder: str | None
) -> None:
    """A task that another holder's live claim covers is left running, as `failed`
    with the reason (E307), instead of being restarted under it."""
    from taskmux.lifecycle.holdrules import blocker

    if not names:
        return
    tasks, now = lifecycle.observe().tasks, time.time()
    for name in names:
        state = tasks.get(name)
        other = blocker(state.live_holder(now), holder, False) if state is not None else None
        if other is not None:
            found[name] = Verdict(
                "failed",
                f"held by '{other}': not restarted (E307); ensure as that holder "
                "(--holder), or once its claim lapses",
            )


def _stop_for_restart(lifecycle: Lifecycle, names: list[str], found: dict[str, Verdict]) -> None:
    if not names:
        return
    stopped = lifecycle.stop(names)
    for name, why in stopped.failed.items():
        found[name] = Verdict("failed", f"could not be stopped to restart it: {why}")


def failure(result: EnsureResult) -> TaskmuxError:
    """The error of an ensure that did not make every task ready: the wait's reasons,
    under the start's own code when a start failed outright (a hook, a port, a death)."""
    from taskmux.errors import StartFailed, WaitFailed

    failed = [t for t in result.tasks if t.action == "failed"]
    summary = result.wait.summary() if result.wait is not None and not result.wait.ok else ""
    if not summary:
        summary = "; ".join(f"{t.name}: {t.reason}" for t in failed)
    start_error = result.report.error() if result.report is not None else None
    if failed and start_error is not None:
        return StartFailed(summary, code=start_error.code)
    return WaitFailed(summary)
