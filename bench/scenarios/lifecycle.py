"""`start` of many independent tasks until all run, `stop` of all until none remain (30 and
200 tasks, under every tool), and `stop` of one task that obeys or ignores SIGINT.

Each run gets a fresh sandbox (and so a fresh tmux server, or a fresh peer daemon): a
start is measured from nothing but the tool's resident daemon, as on a developer's first
`start`. "Running" is a fact, not the tool's word: every task writes its pid to a file as
its first action, and the bench reads the file's timestamp (a few ms of resolution).
"Gone" is a fact too: the bench polls every task's pid after `stop`.
"""

from __future__ import annotations

import contextlib
import statistics
import time

from bench.core import (
    BenchError,
    Context,
    Figure,
    Sandbox,
    add_note,
    measure,
    pid_alive,
    wait_until,
)
from bench.drivers import Session, TaskSpec

START_30_GOAL_S = 0.15
STOP_30_GOAL_S = 0.3
START_200_GOAL_S = 1.0
STOP_200_GOAL_S = 1.0
STATUS_200_GOAL = 1.5
STOP_GOAL_S = 0.5
IGNORING_GRACE = 1


def _sleepers(session: Session, size: int) -> list[str]:
    names = [f"t{i:03d}" for i in range(size)]
    session.configure([TaskSpec(name, session.sandbox.sleeper(name)) for name in names])
    return names


def _start(session: Session, names: list[str]) -> tuple[float, float, dict[str, int]]:
    """(seconds until every task ran, seconds until `start` returned, their pids)."""
    began = time.time()
    session.start_all(timeout=600)
    back = time.time()
    pids = session.sandbox.wait_ready(names, timeout=300)
    last = max(session.sandbox.ready_time(name) or back for name in names)
    return last - began, back - began, pids


def _stop(session: Session, pids: dict[str, int]) -> tuple[float, float]:
    """(seconds until no task process remained, seconds until `stop` returned)."""
    remaining = set(pids.values())
    began = time.monotonic()
    session.stop_all(timeout=600)
    back = time.monotonic() - began

    def gone() -> bool:
        for pid in list(remaining):
            if not pid_alive(pid):
                remaining.discard(pid)
        return not remaining

    if not wait_until(gone, 60, interval=0.002):
        raise BenchError(f"{len(remaining)} task process(es) still alive 60 s after `stop`")
    return time.monotonic() - began, back


def _returned_note(figure: Figure, command: str, values: list[float]) -> None:
    if values:
        add_note(figure, f"`{command}` returned after {statistics.median(values):.2f} s")


def start(ctx: Context) -> list[Figure]:
    """Start N tasks until all run, then stop all until none remain (N = 30; 10 quick)."""
    size = 10 if ctx.quick else 30
    started = Figure(
        "start",
        f"start {size} tasks → all running",
        "s",
        goal=f"< {START_30_GOAL_S:g} s",
        limit=START_30_GOAL_S,
        spec="start-30",
    )
    stopped = Figure(
        "start",
        f"stop all {size} → none remain",
        "s",
        goal=f"< {STOP_30_GOAL_S:g} s",
        limit=STOP_30_GOAL_S,
        spec="stop-30",
    )
    returned: list[float] = []
    stop_returned: list[float] = []
    verdicts: list[str] = []

    def once(run: int) -> float:
        with ctx.driver.open(f"start{size}") as session:
            names = _sleepers(session, size)
            until, back, pids = _start(session, names)
            returned.append(back)
            if run == 0:
                verdicts.append(_running_now(session, size))
            until_gone, stop_back = _stop(session, pids)
            stopped.values.append(until_gone)
            stop_returned.append(stop_back)
            return until

    measure(started, ctx, once)
    _follow(stopped, started)
    for verdict in verdicts:
        add_note(started, verdict)
    _returned_note(started, "start", returned)
    _returned_note(stopped, "stop", stop_returned)
    if returned:
        started.limits = f"`start` returned after {statistics.median(returned):.2f} s"
    if stop_returned:
        stopped.limits = f"`stop` returned after {statistics.median(stop_returned):.2f} s"
    return [started, stopped]


def _running_now(session: Session, size: int) -> str:
    """Does `start` guarantee "running" when it returns? Ask the tool at once."""
    try:
        result = session.status()
        return f"status right after start: {session.running(result)}/{size} running"
    except Exception as exc:  # noqa: BLE001 - a note, not a figure
        return f"status right after start failed: {exc}"


def _follow(figure: Figure, leader: Figure) -> None:
    """A figure measured in the same runs as `leader` shares its fate."""
    if leader.status != "ok":
        figure.status, figure.reason = leader.status, leader.reason
        figure.values.clear()


def scale(ctx: Context) -> list[Figure]:
    """200 tasks (40 quick): start until all run, status against 10 tasks, stop all."""
    size = 40 if ctx.quick else 200
    runs = 1 if ctx.quick else min(ctx.runs, 3)
    started = Figure(
        "scale",
        f"start {size} tasks → all running",
        "s",
        goal=f"< {START_200_GOAL_S:g} s",
        limit=START_200_GOAL_S,
        spec="start-200",
    )
    status = Figure(
        "scale",
        f"status, {size} tasks ÷ status, 10 tasks",
        "x",
        goal=f"< {STATUS_200_GOAL:g}x",
        limit=STATUS_200_GOAL,
        spec="status-200",
    )
    stopped = Figure(
        "scale",
        f"stop all {size} → none remain",
        "s",
        goal=f"< {STOP_200_GOAL_S:g} s",
        limit=STOP_200_GOAL_S,
        spec="stop-200",
    )
    returned: list[float] = []
    stop_returned: list[float] = []
    small: list[float] = []
    large: list[float] = []

    def check_running(session: Session, count: int) -> None:
        result = session.status()
        if session.running(result) != count:
            raise BenchError(
                f"`{session.status_command()}` shows {session.running(result)} of {count} running"
            )

    # The 10-task sandbox stays up through every run, so the two status figures are
    # taken side by side (alternating), at the same moment and under the same load.
    with contextlib.ExitStack() as stack:
        holder: list[Session] = []

        def small_session() -> Session:
            if not holder:
                session = stack.enter_context(ctx.driver.open("scale10"))
                _start(session, _sleepers(session, 10))
                check_running(session, 10)
                holder.append(session)
            return holder[0]

        def once(run: int) -> float:
            ten = small_session()
            with ctx.driver.open(f"scale{size}") as session:
                names = _sleepers(session, size)
                until, back, pids = _start(session, names)
                returned.append(back)
                check_running(session, size)
                pairs = [(ten.status().elapsed, session.status().elapsed) for _ in range(4)]
                small.extend(p[0] for p in pairs)
                large.extend(p[1] for p in pairs)
                status.values.append(
                    statistics.median(p[1] for p in pairs) / statistics.median(p[0] for p in pairs)
                )
                until_gone, stop_back = _stop(session, pids)
                stopped.values.append(until_gone)
                stop_returned.append(stop_back)
                return until

        measure(started, ctx.with_runs(runs), once, slow_after=1e9)
    _follow(status, started)
    _follow(stopped, started)
    _returned_note(started, "start", returned)
    _returned_note(stopped, "stop", stop_returned)
    if returned:
        started.limits = f"`start` returned after {statistics.median(returned):.2f} s"
    if stop_returned:
        stopped.limits = f"`stop` returned after {statistics.median(stop_returned):.2f} s"
    if small and large:
        fact = (
            f"{statistics.median(large) * 1000:.0f} ms at {size} tasks, "
            f"{statistics.median(small) * 1000:.0f} ms at 10 (alternating)"
        )
        add_note(status, fact)
        status.limits = fact
    return [started, status, stopped]


def stop(ctx: Context) -> list[Figure]:
    obeys = Figure(
        "stop",
        "stop a task that obeys SIGINT",
        "s",
        goal=f"< {STOP_GOAL_S:g} s",
        limit=STOP_GOAL_S,
        spec="stop-one",
    )
    ignores = Figure(
        "stop",
        f"stop a task that ignores SIGINT (grace {IGNORING_GRACE} s)",
        "s",
        goal=f"< {IGNORING_GRACE + STOP_GOAL_S:g} s (grace + 0.5)",
        limit=IGNORING_GRACE + STOP_GOAL_S,
    )
    for figure, deaf in ((obeys, False), (ignores, True)):
        outlived: list[int] = []
        measure(figure, ctx, lambda _run, d=deaf, o=outlived: _stop_once(ctx, d, o))
        if outlived:
            add_note(figure, f"the task outlived `stop`'s return in {len(outlived)} run(s)")
    return [obeys, ignores]


def _stop_once(ctx: Context, ignore_sigint: bool, outlived: list[int]) -> float:
    with Sandbox(ctx.tool, "stop") as sandbox:
        task: dict[str, object] = {
            "command": sandbox.sleeper("s", ignore_sigint),
            "restart_policy": "no",
        }
        if ignore_sigint:
            task["stop_grace_period"] = IGNORING_GRACE
        sandbox.write_config({"s": task})
        sandbox.run("start")
        pid = sandbox.wait_ready(["s"])["s"]
        if not wait_until(lambda: _is_sleeping(pid), 10):
            raise BenchError("the task never reached its `sleep`")
        began = time.monotonic()
        sandbox.run("stop", "s", timeout=60)
        back = time.monotonic()
        if not pid_alive(pid):
            return back - began
        outlived.append(pid)
        if not wait_until(lambda: not pid_alive(pid), 30, interval=0.002):
            raise BenchError(f"the task (pid {pid}) was still alive 30 s after `stop`")
        return time.monotonic() - began


def _is_sleeping(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).name() == "sleep"
    except psutil.Error:
        return False
