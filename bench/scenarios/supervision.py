"""Supervision: exit → running again under `start -m`, and `health` of many slow checks."""

from __future__ import annotations

import errno
import json
import os
import re
import statistics
import sys
import time
from typing import Any

from bench.core import (
    BenchError,
    Context,
    Figure,
    Sandbox,
    add_note,
    mark_unsupported,
    measure,
    wait_until,
)

BACKOFF = 1.0
RESTART_GOAL_S = 1.0  # plus the backoff
DETECT_GOAL_S = 1.0
HEALTH_TASKS = 20
HEALTH_GOAL_S = 1.5  # "about 1 s": the checks take 1 s each and run at once


def _restart_task(sandbox: Sandbox, fifo: str) -> str:
    """A Python task (not a shell: some tools take a shell in the pane for "not running")
    that writes its pid, blocks on a FIFO, and exits 3 when the bench writes to it."""
    pid_file = str(sandbox.ready / "r")
    code = (
        f"import os,sys;p={pid_file!r};f=open(p+'.tmp','w');f.write('%d\\n'%os.getpid());"
        f"f.close();os.replace(p+'.tmp',p);open({fifo!r}).read();sys.exit(3)"
    )
    return f'{sys.executable} -I -S -c "{code}"'


def _trigger_exit(fifo: str, timeout: float = 10.0) -> float:
    """Make the task exit now (it reads the FIFO to its end); return the wall-clock time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise BenchError("the task never opened its exit FIFO") from exc
            time.sleep(0.002)
    os.write(fd, b"x")
    moment = time.time()
    os.close(fd)
    return moment


def restart(ctx: Context) -> list[Figure]:
    detect = Figure(
        "restart",
        "exit → noticed (exited event)",
        "s",
        goal=f"≈ {DETECT_GOAL_S:g} s",
        limit=DETECT_GOAL_S,
    )
    total = Figure(
        "restart",
        f"exit → running again (backoff {BACKOFF:g} s)",
        "s",
        goal=f"< {RESTART_GOAL_S + BACKOFF:g} s (1 s + backoff)",
        limit=RESTART_GOAL_S + BACKOFF,
    )
    with Sandbox(ctx.tool, "restart") as sandbox:
        if not ctx.tool.has_option(sandbox, "--monitor", "start"):
            mark_unsupported([detect, total], "`start` has no -m/--monitor")
            return [detect, total]
        has_events = ctx.tool.has_command(sandbox, "events") and ctx.tool.has_option(
            sandbox, "--json", "events"
        )
        if not has_events:
            detect.status, detect.reason = "unsupported", "no `events --json` to read times from"
        fifo = str(sandbox.root / "exit.fifo")
        os.mkfifo(fifo)
        sandbox.write_config(
            {
                "r": {
                    "command": _restart_task(sandbox, fifo),
                    "restart_policy": "on-failure",
                    "restart_backoff": BACKOFF,
                    "max_restarts": 1000,
                }
            }
        )
        monitor = sandbox.spawn("start", "-m", output=sandbox.root / "monitor.out")
        sandbox.wait_ready(["r"], timeout=60)
        launches: list[float] = []
        limit = 90.0  # a tool that polls every 30 s still gets its chance

        def once(run: int) -> float:
            if monitor.poll() is not None:
                output = (sandbox.root / "monitor.out").read_text(errors="replace")
                raise BenchError(f"`start -m` exited {monitor.returncode}: {output[-300:]}")
            old = sandbox.read_pid("r")
            exited_at = _trigger_exit(fifo)
            back = wait_until(
                lambda: (pid := sandbox.read_pid("r")) and pid != old, limit, interval=0.005
            )
            if not back:
                raise BenchError(f"the task was not running again {limit:g} s after it exited")
            running_at = sandbox.ready_time("r") or time.time()
            if has_events and detect.status == "ok":
                try:
                    seen, launched = _event_times(sandbox, exited_at)
                except BenchError as exc:
                    detect.status, detect.reason = "failed", str(exc)
                else:
                    detect.values.append(seen - exited_at)
                    if launched is not None:
                        launches.append(launched - seen)
            return running_at - exited_at

        measure(total, ctx, once)
        if launches:
            add_note(
                detect,
                f"relaunched {statistics.median(launches):.2f} s after noticing "
                f"(backoff {BACKOFF:g} s)",
            )
        add_note(total, "running = the new process wrote its pid (Python start included)")
    return [detect, total]


def _event_times(sandbox: Sandbox, since: float) -> tuple[float, float | None]:
    """When the tool noticed the exit, and when it relaunched the task (its event log)."""
    records: list[dict[str, Any]] = sandbox.json("events", "-n", "1000")["events"]
    mine = [r for r in records if r.get("task") == "r" and r.get("ts", 0) >= since - 0.05]
    exited = next((r["ts"] for r in mine if r.get("event") == "exited"), None)
    if exited is None:
        raise BenchError("no `exited` event after the task exited")
    launched = next((r["ts"] for r in mine if r.get("event") == "restarted"), None)
    return float(exited), launched


def health(ctx: Context) -> list[Figure]:
    figure = Figure(
        "health",
        f"health of {HEALTH_TASKS} tasks, 1 s checks",
        "s",
        goal="≈ 1 s (< 1.5 s)",
        limit=HEALTH_GOAL_S,
    )
    with Sandbox(ctx.tool, "health") as sandbox:
        if not ctx.tool.has_command(sandbox, "health"):
            mark_unsupported([figure], "no `health` command")
            return [figure]
        names = [f"h{i:02d}" for i in range(HEALTH_TASKS)]
        sandbox.write_config(
            {name: {"command": sandbox.sleeper(name), "health_check": "sleep 1"} for name in names}
        )
        sandbox.run("start", timeout=300)
        sandbox.wait_ready(names)
        as_json = ctx.tool.has_option(sandbox, "--json", "health")
        args = ["health", "--json"] if as_json else ["health"]
        verdicts: set[str] = set()

        def once(_run: int) -> float:
            result = sandbox.run(*args, check=False, timeout=300)
            healthy = _count_healthy(result.stdout, as_json)
            if healthy is None:
                raise BenchError(f"cannot read the health report: {result.describe()}")
            verdicts.add(f"{healthy}/{HEALTH_TASKS} healthy")
            return result.elapsed

        measure(figure, ctx, once)
        add_note(figure, "reported " + ", ".join(sorted(verdicts)))
    return [figure]


def _count_healthy(output: str, as_json: bool) -> int | None:
    if as_json:
        try:
            tasks = json.loads(output)["tasks"]
        except (ValueError, KeyError, TypeError):
            return None
        return sum(1 for t in tasks.values() if t.get("healthy"))
    match = re.search(r"(\d+)\s*/\s*(\d+)\s+tasks healthy", output)
    return int(match.group(1)) if match else None
