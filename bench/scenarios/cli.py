"""CLI latency and tmux round trips of the commands people and agents call constantly.

Every scenario runs against 10 running tasks. `status` runs under every tool (taskmux's
`status --json`, `supervisorctl status`, `pm2 jlist`) and puts each beside a bare start
of the same interpreter (`python3 -c pass`, `node -e ''`), alternating the two. Latency is the wall time of the whole
process (interpreter start, imports, config, tmux, output), as a caller sees it.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

from bench.core import COUNT_VAR, BenchError, Context, Figure, Sandbox, add_note, measure
from bench.drivers import TaskSpec

TASKS = 10
STATUS_GOAL_MS = 150.0
STATUS_GOAL_RATIO = 2.0


def status(ctx: Context) -> list[Figure]:
    driver = ctx.driver
    elapsed = Figure(
        "status",
        f"status, {TASKS} tasks",
        "ms",
        goal=f"< {STATUS_GOAL_MS:g} ms",
        limit=STATUS_GOAL_MS,
        spec="status-10",
    )
    ratio = Figure(
        "status",
        f"status, {TASKS} tasks ÷ bare interpreter start",
        "x",
        goal=f"< {STATUS_GOAL_RATIO:g}x",
        limit=STATUS_GOAL_RATIO,
        spec="status-ratio",
    )
    bare: list[float] = []
    with driver.open("status") as session:
        names = [f"t{i:02d}" for i in range(TASKS)]
        session.configure([TaskSpec(name, session.sandbox.sleeper(name)) for name in names])
        session.start_all(timeout=120)
        session.sandbox.wait_ready(names)
        first = session.status()
        if session.running(first) != TASKS:
            raise BenchError(
                f"`{session.status_command()}` shows {session.running(first)} of {TASKS} running"
            )
        for _ in range(2):  # warm the page cache (and the tool's caches)
            session.bare()
            session.status()

        def once(run: int) -> float:
            # alternate which goes first, so neither always follows the other
            if run % 2:
                took = session.status().elapsed
                alone = session.bare().elapsed
            else:
                alone = session.bare().elapsed
                took = session.status().elapsed
            bare.append(alone)
            ratio.values.append(took / alone)
            return float(took * 1000)

        measure(elapsed, ctx.with_runs(ctx.runs * 2), once)
    ratio.values = ratio.values[: len(elapsed.values)]
    if elapsed.status != "ok":
        ratio.status, ratio.reason = elapsed.status, elapsed.reason
    if bare:
        interpreter = "node -e ''" if driver.label == "pm2" else "python3 -c pass"
        fact = f"bare `{interpreter}` {statistics.median(bare) * 1000:.0f} ms"
        add_note(elapsed, f"`{session.status_command()}`; {fact}")
        ratio.limits = elapsed.limits = fact
    return [elapsed, ratio]


def _project(ctx: Context, label: str) -> Sandbox:
    """A sandbox with 10 running sleepers, started by the tool itself."""
    sandbox = Sandbox(ctx.tool, label)
    try:
        names = [f"t{i:02d}" for i in range(TASKS)]
        sandbox.write_config({name: {"command": sandbox.sleeper(name)} for name in names})
        sandbox.run("start", timeout=120)
        sandbox.wait_ready(names)
    except BaseException:
        sandbox.cleanup()
        raise
    return sandbox


def _touch_config(sandbox: Sandbox, run: int) -> None:
    """A real edit (new size and mtime), so the next command re-reads and validates it."""
    with sandbox.config.open("a") as handle:
        handle.write(f"# bench edit {run}\n")


def latency(ctx: Context) -> list[Figure]:
    figures = {
        "help": Figure("cli", "taskmux --help", "ms"),
        "json": Figure("cli", "status --json", "ms"),
        "plain": Figure("cli", "status (table)", "ms"),
        "inspect": Figure("cli", "inspect TASK", "ms"),
        "cold": Figure("cli", "status --json, first after a config edit", "ms"),
    }
    with _project(ctx, "cli") as sandbox:
        has_json = ctx.tool.has_option(sandbox, "--json", "status")
        commands = {
            "help": ["--help"],
            "json": ["status", "--json"],
            "plain": ["status"],
            "inspect": ["inspect", "t00"],
        }
        if not has_json:
            for key in ("json", "cold"):
                figures[key].status = "unsupported"
                figures[key].reason = "`status` has no --json"
            del commands["json"]
        else:
            rows = sandbox.json("status")["tasks"]
            running = sum(1 for row in rows if row.get("running"))
            if running != TASKS:
                raise BenchError(f"status --json shows {running} of {TASKS} tasks running")
        for args in commands.values():  # warm the page cache and the config cache
            sandbox.run(*args)
        for run in range(ctx.runs):
            for key, args in commands.items():
                figures[key].values.append(sandbox.run(*args).elapsed * 1000)
            if has_json:
                _touch_config(sandbox, run)
                figures["cold"].values.append(sandbox.run("status", "--json").elapsed * 1000)
    figures["cold"].note = "config changed before each run: it is parsed and validated again"
    return list(figures.values())


def _tmux_commands(record: str) -> list[str]:
    """The tmux command names in one recorded client call (`$*`, so roughly split)."""
    words = record.split(" ")
    names: list[str] = []
    expect_command = True
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if expect_command and word in {"-L", "-S", "-f"}:
            skip_next = True
            continue
        if expect_command and word and not word.startswith("-"):
            names.append(word)
            expect_command = False
        elif word == ";":
            expect_command = True
    return names


def _count(sandbox: Sandbox, args: list[str], counter: Path) -> tuple[int, list[str]]:
    counter.write_bytes(b"")
    sandbox.run(*args, env={COUNT_VAR: str(counter)})
    records = [r.decode(errors="replace") for r in counter.read_bytes().split(b"\0")[:-1]]
    return len(records), ["+".join(_tmux_commands(r)) or r.strip()[:20] for r in records]


def _summary(names: list[str]) -> str:
    """`list-panes` or, for many calls, `list-windows x20, list-panes x20`."""
    counts = Counter(names)
    return ", ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.items())


def roundtrips(ctx: Context) -> list[Figure]:
    figures = {
        "json": Figure(
            "roundtrips", "tmux calls: status --json", "calls", goal="1", limit=1, spec="roundtrips"
        ),
        "plain": Figure("roundtrips", "tmux calls: status (table)", "calls", goal="1", limit=1),
        "inspect": Figure("roundtrips", "tmux calls: inspect TASK", "calls"),
        "help": Figure("roundtrips", "tmux calls: --help", "calls"),
        "cold": Figure("roundtrips", "tmux calls: status --json after a config edit", "calls"),
    }
    commands = {
        "json": ["status", "--json"],
        "plain": ["status"],
        "inspect": ["inspect", "t00"],
        "help": ["--help"],
    }
    with _project(ctx, "trips") as sandbox:
        counter = sandbox.root / "tmux-calls"
        if not ctx.tool.has_option(sandbox, "--json", "status"):
            for key in ("json", "cold"):
                figures[key].status = "unsupported"
                figures[key].reason = "`status` has no --json"
            del commands["json"]
        seen: dict[str, list[str]] = {}
        for key, args in commands.items():
            sandbox.run(*args)  # warm: the first run after a config change validates it
            for _ in range(ctx.runs):
                calls, names = _count(sandbox, args, counter)
                figures[key].values.append(calls)
                seen[key] = names
        if "json" in commands:
            for run in range(ctx.runs):
                _touch_config(sandbox, run)
                calls, names = _count(sandbox, ["status", "--json"], counter)
                figures["cold"].values.append(calls)
                seen["cold"] = names
        for key, names in seen.items():
            figures[key].note = "tmux: " + _summary(names) if names else "no tmux call"
        figures["json"].limits = figures["json"].note
    return list(figures.values())
