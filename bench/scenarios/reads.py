"""The read commands, each as a ratio to a bare interpreter start, with 10 running tasks.

`status` (the table), `status --json`, `inspect TASK`, `logs TASK -n 20`, `events -n 20`
and `taskmux --help`, each timed against `python -c pass` of the same interpreter in
alternating pairs (command, bare, bare, command, ...): a pair's ratio stays meaningful
when a shared machine's speed drifts. The sandbox runs without the counting tmux
wrapper when the tool is this repo's (it honours TASKMUX_TMUX_SOCKET), so each tmux
call costs what it costs a user. `python -m bench --only reads` runs just these.
"""

from __future__ import annotations

import statistics

from bench.core import BenchError, Context, Figure, Run, Sandbox, Unsupported, _python_shebang

TASKS = 10
LEAN_GOAL = 2.5  # status, status --json, inspect, logs -n, events -n: the lean path
HELP_GOAL = 5.0

COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("status", ["status"], LEAN_GOAL),
    ("status --json", ["status", "--json"], LEAN_GOAL),
    ("inspect TASK", ["inspect", "t00"], LEAN_GOAL),
    ("logs TASK -n 20", ["logs", "t00", "-n", "20"], LEAN_GOAL),
    ("events -n 20", ["events", "-n", "20"], LEAN_GOAL),
    ("--help", ["--help"], HELP_GOAL),
]


def reads(ctx: Context) -> list[Figure]:
    interpreter = _python_shebang(ctx.tool.path)
    if interpreter is None:
        raise Unsupported("the tool is not a Python script: no bare interpreter to compare")
    figures = {
        label: Figure(
            "reads",
            f"{label}, {TASKS} tasks ÷ bare interpreter start",
            "x",
            goal=f"< {goal:g}x" if goal else "—",
            limit=goal,
        )
        for label, _args, goal in COMMANDS
    }
    pairs = max(6, ctx.runs * 4) if not ctx.quick else 3
    bare_times: list[float] = []
    with Sandbox(ctx.tool, "reads", wrap_tmux=not ctx.tool.trusted) as sandbox:
        names = [f"t{i:02d}" for i in range(TASKS)]
        sandbox.write_config({name: {"command": sandbox.sleeper(name)} for name in names})
        sandbox.run("start", timeout=120)
        sandbox.wait_ready(names)
        rows = sandbox.json("status")["tasks"]
        if sum(1 for row in rows if row.get("running")) != TASKS:
            raise BenchError(f"status --json does not show {TASKS} tasks running")

        def bare() -> Run:
            return sandbox.execute([interpreter, "-c", "pass"])

        for label, args, _goal in COMMANDS:
            for _ in range(2):  # warm the page cache and the config cache
                sandbox.run(*args)
                bare()
            for pair in range(pairs):
                if pair % 2:  # alternate which goes first
                    took, alone = sandbox.run(*args).elapsed, bare().elapsed
                else:
                    alone = bare().elapsed
                    took = sandbox.run(*args).elapsed
                bare_times.append(alone)
                figures[label].values.append(took / alone)
            ctx.log(f"{label}: median {statistics.median(figures[label].values):.2f}x")
    fact = f"bare `python -c pass` {statistics.median(bare_times) * 1000:.0f} ms"
    for figure in figures.values():
        figure.note = f"{pairs} alternating pairs; {fact}"
        figure.limits = fact
    return list(figures.values())
