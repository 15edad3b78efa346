"""`start` of a dependency chain of instant tasks (taskmux only: the peers have no
dependencies): 10 levels of 10 tasks, each depending on every task of the level before,
and a chain of 4 tasks, each depending on the one before. (Issue 23's "10 chains of 10
tasks" as a grid: the same 10 levels of 10, with 100 dependencies per level, not 10.)

"Instant": each task writes its pid and sleeps (the `start` scenario's sleeper) and is
healthy as soon as it runs (`min_uptime = 0`; with the default of 1 s, a bare-name
dependency waits that long per level by design), so the figure is taskmux's own cost per
level (its waits between waves), not the tasks'. The
figure is the time from `start` until the last task ran (its pid file's timestamp); when
`start` returned is in the note.
"""

from __future__ import annotations

import statistics
import time

from bench.core import Context, Figure, add_note, measure
from bench.drivers import TaskSpec

GRID_GOAL_S = 2.5
LINE_GOAL_S = 1.0


def _levels(levels: int, width: int) -> list[list[str]]:
    return [[f"l{level}t{index}" for index in range(width)] for level in range(levels)]


def _chain_once(ctx: Context, levels: list[list[str]], returned: list[float]) -> float:
    with ctx.driver.open(f"chain{len(levels)}x{len(levels[0])}") as session:
        specs = [
            TaskSpec(
                name,
                session.sandbox.sleeper(name),
                depends_on=tuple(levels[number - 1]) if number else (),
                min_uptime=0.0,
            )
            for number, level in enumerate(levels)
            for name in level
        ]
        session.configure(specs)
        began = time.time()
        session.start_all(timeout=600)
        returned.append(time.time() - began)
        names = [spec.name for spec in specs]
        session.sandbox.wait_ready(names, timeout=120)
        last = max(session.sandbox.ready_time(name) or began for name in names)
        return last - began


def chain(ctx: Context) -> list[Figure]:
    """The 10x10 chain (5x10 with --quick) and the 4-level chain."""
    shapes = [
        (5 if ctx.quick else 10, 10, GRID_GOAL_S, "chain-grid"),
        (4, 1, LINE_GOAL_S, "chain-4"),
    ]
    figures: list[Figure] = []
    for depth, width, goal, spec in shapes:
        shape = f"{depth}x{width}" if width > 1 else f"{depth}-level"
        figure = Figure(
            "chain",
            f"start a {shape} dependency chain of instant tasks → all running",
            "s",
            goal=f"< {goal:g} s",
            limit=goal,
            spec=spec,
        )
        returned: list[float] = []
        levels = _levels(depth, width)
        measure(
            figure,
            ctx,
            lambda _run, levels=levels, returned=returned: _chain_once(ctx, levels, returned),
        )
        if returned:
            back = f"`start` returned after {statistics.median(returned):.2f} s"
            add_note(figure, back)
            figure.limits = back
        figures.append(figure)
    return figures
