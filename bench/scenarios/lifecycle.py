"""`start` of many independent tasks, and `stop` of one task that obeys or ignores SIGINT.

Each run gets a fresh sandbox (and so a fresh tmux server): a start is measured from
nothing, as on a developer's first `taskmux start`. "Running" is a fact, not the tool's
word: every task writes its pid to a file as its first action, and the bench reads the
file's timestamp (a few ms of resolution).
"""

from __future__ import annotations

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

START_GOAL_TASKS = 30
START_GOAL_S = 2.0
STOP_GOAL_S = 0.5
IGNORING_GRACE = 1


def start(ctx: Context) -> list[Figure]:
    sizes = (10, 30) if ctx.quick else (10, 30, 100)
    figures = []
    for size in sizes:
        goal = size == START_GOAL_TASKS
        figure = Figure(
            "start",
            f"start {size} tasks → all running",
            "s",
            goal=f"< {START_GOAL_S:g} s" if goal else "—",
            limit=START_GOAL_S if goal else None,
        )
        returned: list[float] = []
        verdicts: list[str] = []
        measure(
            figure, ctx, lambda run, n=size, r=returned, v=verdicts: _start_once(ctx, n, run, r, v)
        )
        if returned:
            add_note(figure, f"`start` itself returned after {statistics.median(returned):.2f} s")
        figure.note = "; ".join([*verdicts, figure.note]).strip("; ")
        figures.append(figure)
    return figures


def _start_once(
    ctx: Context, size: int, run: int, returned: list[float], verdicts: list[str]
) -> float:
    with Sandbox(ctx.tool, f"start{size}") as sandbox:
        names = [f"t{i:03d}" for i in range(size)]
        sandbox.write_config({name: {"command": sandbox.sleeper(name)} for name in names})
        began = time.time()
        sandbox.run("start", timeout=600)
        back = time.time()
        returned.append(back - began)
        if run == 0 and ctx.tool.has_option(sandbox, "--json", "status"):
            # Does `start` guarantee "running" when it returns? Ask the tool at once.
            rows = sandbox.json("status")["tasks"]
            running = sum(1 for row in rows if row.get("running"))
            verdicts.append(f"status --json right after start: {running}/{size} running")
        sandbox.wait_ready(names, timeout=300)
        last = max(sandbox.ready_time(name) or back for name in names)
        return max(back, last) - began


def stop(ctx: Context) -> list[Figure]:
    obeys = Figure(
        "stop",
        "stop a task that obeys SIGINT",
        "s",
        goal=f"< {STOP_GOAL_S:g} s",
        limit=STOP_GOAL_S,
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
