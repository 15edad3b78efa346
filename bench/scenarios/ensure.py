"""`ensure` on a healthy stack of 10 tasks, every one kept, against `status --json`
(SPEC §13: under 2x). Timed in alternating pairs (ensure, status, status, ensure, ...)
so a shared machine's drift does not favour either; the first `ensure` (which records
the definitions of tasks started before it) is not counted. Also one `ensure` after an
edit of one task's command: the time to restart just that one and see it ready.
`python -m bench --only ensure` runs just this.
"""

from __future__ import annotations

import statistics

from bench.core import BenchError, Context, Figure, Sandbox

TASKS = 10
GOAL = 2.0


def ensure(ctx: Context) -> list[Figure]:
    ratio = Figure(
        "ensure",
        f"ensure, {TASKS} tasks all kept ÷ status --json",
        "x",
        goal=f"< {GOAL:g}x",
        limit=GOAL,
    )
    edited = Figure("ensure", "ensure after one task's command edit → it restarted, ready", "s")
    pairs = max(6, ctx.runs * 4) if not ctx.quick else 3
    kept_ms: list[float] = []
    status_ms: list[float] = []
    with Sandbox(ctx.tool, "ensure", wrap_tmux=not ctx.tool.trusted) as sandbox:
        ctx.tool.require(sandbox, "ensure")
        names = [f"t{i:02d}" for i in range(TASKS)]
        commands = {name: sandbox.sleeper(name) for name in names}
        sandbox.write_config({name: {"command": command} for name, command in commands.items()})
        first = sandbox.json("ensure", timeout=120)
        sandbox.wait_ready(names)
        if not first.get("ok"):
            raise BenchError(f"the first ensure did not make {TASKS} tasks ready: {first}")
        for _ in range(2):  # warm the page cache and the config cache
            _all_kept(sandbox.json("ensure"))
            sandbox.run("status", "--json")
        for pair in range(pairs):
            if pair % 2:
                took = sandbox.run("ensure", "--json").elapsed
                alone = sandbox.run("status", "--json").elapsed
            else:
                alone = sandbox.run("status", "--json").elapsed
                took = sandbox.run("ensure", "--json").elapsed
            kept_ms.append(took * 1000)
            status_ms.append(alone * 1000)
            ratio.values.append(took / alone)
        ctx.log(f"ensure all kept: median {statistics.median(ratio.values):.2f}x status --json")
        commands["t00"] += " # edited"
        sandbox.write_config({name: {"command": command} for name, command in commands.items()})
        run = sandbox.run("ensure", "--json", timeout=120)
        actions = {name: task["action"] for name, task in _document(run.stdout)["tasks"].items()}
        if actions["t00"] != "restarted" or any(actions[n] != "kept" for n in names[1:]):
            raise BenchError(f"after an edit of t00 ensure did: {actions}")
        edited.values.append(run.elapsed)
    fact = (
        f"ensure {statistics.median(kept_ms):.0f} ms, "
        f"status --json {statistics.median(status_ms):.0f} ms (medians)"
    )
    ratio.note = f"{pairs} alternating pairs; {fact}"
    ratio.limits = fact
    edited.note = "one run; includes the stop, the launch and the wait for readiness"
    return [ratio, edited]


def _document(text: str) -> dict[str, object]:
    import json

    try:
        found: dict[str, object] = json.loads(text)
    except ValueError as exc:
        raise BenchError("`ensure --json` printed no JSON document") from exc
    return found


def _all_kept(document: dict[str, object]) -> None:
    tasks = document.get("tasks")
    if not isinstance(tasks, dict) or any(t["action"] != "kept" for t in tasks.values()):
        raise BenchError(f"ensure on a healthy stack did not keep every task: {tasks}")
