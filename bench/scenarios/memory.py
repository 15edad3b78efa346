"""Memory beyond the tasks: what the tool keeps for 100 running tasks, per task, as PSS.

With 100 sleepers running under supervision (taskmux: `start`, then its daemon;
supervisord and pm2: their daemon), the bench sums the PSS (/proc/PID/smaps_rollup) of
every process in the sandbox that is not a task process (the pid a task wrote and its
descendants) and divides by 100. PSS splits shared pages among the processes that map
them, so a hundred copies of one interpreter are not counted a hundred times in full.

The tmux server is counted as taskmux's: it exists to host the tasks (their ptys,
windows and scrollback), and the bench gives it a private server that holds nothing
else. Its share is shown separately in the note, with the figure without it.
"""

from __future__ import annotations

import statistics
import time

from bench import procs
from bench.core import Context, Figure, add_note, measure
from bench.drivers import TaskSpec

TASKS = 100
GOAL_MB = 0.5
SETTLE_S = 2.0


def memory(ctx: Context) -> list[Figure]:
    size = 20 if ctx.quick else TASKS
    figure = Figure(
        "memory",
        f"memory beyond the tasks, per task (PSS, {size} tasks)",
        "MB",
        goal=f"< {GOAL_MB:g} MB",
        limit=GOAL_MB,
        spec="pss-per-task",
    )
    totals: list[float] = []
    without_tmux: list[float] = []
    parts: list[str] = []

    def once(_run: int) -> float:
        with ctx.driver.open("memory") as session:
            names = [f"m{i:03d}" for i in range(size)]
            session.configure([TaskSpec(name, session.sandbox.sleeper(name)) for name in names])
            session.start_all(timeout=600)
            pids = session.sandbox.wait_ready(names, timeout=300)
            session.supervise()
            time.sleep(SETTLE_S)  # let whatever the tool starts per task come up
            _tasks, tool = session.tool_processes(set(pids.values()))
            by_name: dict[str, int] = {}
            counts: dict[str, int] = {}
            for pid in tool:
                name = procs.name_of(pid)
                by_name[name] = by_name.get(name, 0) + procs.pss_kib(pid)
                counts[name] = counts.get(name, 0) + 1
            total = sum(by_name.values()) / 1024
            server = sum(kib for name, kib in by_name.items() if name == "tmux server") / 1024
            totals.append(total)
            without_tmux.append((total - server) / size)
            parts[:] = [
                f"{name} x{counts[name]} {kib / 1024:.1f} MB"
                for name, kib in sorted(by_name.items(), key=lambda item: -item[1])[:4]
            ]
            return total / size

    measure(figure, ctx.with_runs(1 if ctx.quick else min(ctx.runs, 2)), once, slow_after=1e9)
    if totals:
        add_note(figure, f"{statistics.median(totals):.1f} MB in all: " + ", ".join(parts))
        if ctx.driver.kind == "taskmux":
            add_note(
                figure,
                f"without the tmux server {statistics.median(without_tmux):.2f} MB per task",
            )
        figure.limits = ", ".join(parts[:3])
    return [figure]
