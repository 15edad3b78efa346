"""The resident daemon with 10 running tasks: idle CPU and RSS (every tool), and status
round trips over one WebSocket connection (taskmux).

CPU is the daemon's own CPU time (every thread, from /proc/PID/task/*/schedstat: to the
nanosecond, where /proc's tick counts would round 0.05 % of a core over 20 s to nothing)
plus that of the children it waited for (the tmux clients and health checks it runs) and of
the helpers it keeps running (its descendants that are not tasks), over the window, as a
percentage of one core. RSS is the daemon's plus that of any helper it
keeps (its descendants that are not tasks). This repo's taskmux runs here without the
bench's tmux wrapper, whose shell start per call would otherwise be billed to the daemon.
The tmux server's share is reported beside it: not the daemon's process, but a daemon
that polls tmux keeps it busy. supervisord and pm2 run their stock daemons: supervisord
(nodaemon, a child of the bench) and pm2's God daemon with PM2_HOME in the sandbox.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from bench import procs
from bench.core import (
    BenchError,
    Context,
    Figure,
    Sandbox,
    add_note,
    measure,
    percentile,
)
from bench.drivers import TaskmuxSession, TaskSpec

TASKS = 10
CPU_GOAL = 0.05
RSS_GOAL_MB = 40.0
WARMUP_REQUESTS = 20


def daemon(ctx: Context) -> list[Figure]:
    window = 3.0 if ctx.quick else 20.0
    runs = 1 if ctx.quick else min(ctx.runs, 3)
    requests = 100 if ctx.quick else 300
    cpu = Figure(
        "daemon",
        f"idle daemon CPU over {window:g} s, {TASKS} tasks",
        "%",
        goal=f"< {CPU_GOAL:g} % of a core",
        limit=CPU_GOAL,
        spec="idle-cpu",
    )
    rss = Figure(
        "daemon",
        f"idle daemon RSS, {TASKS} tasks",
        "MB",
        goal=f"< {RSS_GOAL_MB:g} MB",
        limit=RSS_GOAL_MB,
        spec="idle-rss",
    )
    figures = [cpu, rss]
    p50 = Figure("daemon", "status round trip p50", "ms")
    p99 = Figure("daemon", "status round trip p99", "ms")
    if ctx.driver.kind == "taskmux":
        figures += [p50, p99]
    extra: dict[str, list[Any]] = {"server": [], "count": [], "whole": []}

    def once(_run: int) -> float:
        sample = _daemon_once(ctx, window, requests if len(figures) > 2 else 0)
        rss.values.append(sample["rss"])
        if sample.get("times"):
            p50.values.append(percentile(sample["times"], 0.50) * 1000)
            p99.values.append(percentile(sample["times"], 0.99) * 1000)
            extra["count"].append(len(sample["times"]))
        if sample.get("server") is not None:
            extra["server"].append(sample["server"])
        extra["whole"].append(sample["whole"])
        return float(sample["cpu"])

    measure(cpu, ctx.with_runs(runs), once, slow_after=1e9)
    for figure in figures[1:]:
        if cpu.status != "ok":
            figure.status, figure.reason = cpu.status, cpu.reason
        figure.values = figure.values[: len(cpu.values)]
    if ctx.driver.kind == "taskmux":
        add_note(
            cpu,
            "tmux called directly"
            if ctx.tool.trusted
            else "tmux called through the bench's wrapper (+~0.5 ms CPU per call)",
        )
    if extra["server"]:
        server = f"tmux server meanwhile {statistics.median(extra['server']):.3f} %"
        add_note(cpu, server)
        cpu.limits = server
    if extra["whole"]:
        add_note(
            cpu,
            "every process of the tool's but the tasks"
            + (" (tmux server included) " if ctx.driver.kind == "taskmux" else " ")
            + f"{statistics.median(extra['whole']):.3f} %",
        )
    if extra["count"]:
        add_note(p50, f"{min(extra['count'])} to {max(extra['count'])} requests per run")
    return figures


def _daemon_once(ctx: Context, window: float, requests: int) -> dict[str, Any]:
    # The bench's tmux wrapper costs a shell start per tmux call, which would be counted as
    # the daemon's CPU: skip it where isolation does not depend on it (see Tool.trusted).
    session = ctx.driver.open("daemon")
    if isinstance(session, TaskmuxSession) and ctx.tool.trusted:
        session.sandbox.cleanup()
        session = TaskmuxSession(ctx.driver, Sandbox(ctx.tool, "daemon", wrap_tmux=False))
    with session:
        names = [f"t{i:02d}" for i in range(TASKS)]
        session.configure([TaskSpec(name, session.sandbox.sleeper(name)) for name in names])
        session.start_all(timeout=120)
        pids = session.sandbox.wait_ready(names)
        session.supervise()
        time.sleep(2.0)  # let start-up work settle: the figure is the idle cost
        daemons = session.daemon_pids()
        server = _tmux_server(session.sandbox) if ctx.driver.kind == "taskmux" else None
        task_pids = set(pids.values())
        family0 = _family_cpu(session, daemons, task_pids)
        whole0 = _tool_cpu(session, task_pids)
        server0 = procs.cpu_s(server) if server else 0.0
        began = time.monotonic()
        peak = 0
        while time.monotonic() - began < window:
            peak = max(peak, _rss_kib(session, daemons, set(pids.values())))
            time.sleep(0.5)
        wall = time.monotonic() - began
        family1 = _family_cpu(session, daemons, task_pids)
        whole1 = _tool_cpu(session, task_pids)
        server1 = procs.cpu_s(server) if server else 0.0
        sample: dict[str, Any] = {
            "cpu": _used(family0, family1) / wall * 100,
            "whole": _used(whole0, whole1) / wall * 100,
            "rss": peak / 1024,
            "server": (server1 - server0) / wall * 100 if server else None,
        }
        if requests and isinstance(session, TaskmuxSession):
            info = session.daemon
            sample["times"] = _round_trips(info["port"], info["token"], requests, 60.0)
        return sample


def _family_cpu(session: Any, daemons: list[int], task_pids: set[int]) -> dict[int, float]:
    """CPU seconds of the daemons and of every helper they keep running (their descendants
    that are not tasks, e.g. a control-mode tmux client), by pid."""
    every = session.sandbox.processes()
    tasks = procs.descendants(task_pids, every)
    family = (procs.descendants(daemons, every) - tasks) | set(daemons)
    return {pid: procs.cpu_s(pid) for pid in family}


def _tool_cpu(session: Any, task_pids: set[int]) -> dict[int, float]:
    """CPU seconds of every process of the tool's (all but the tasks), by pid."""
    _tasks, tool = session.tool_processes(task_pids)
    return {pid: procs.cpu_s(pid) for pid in tool}


def _used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two readings; a process new in the second counts in full."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def _rss_kib(session: Any, daemons: list[int], task_pids: set[int]) -> int:
    """The daemons' RSS and that of their descendants that are not tasks."""
    every = session.sandbox.processes()
    tasks = procs.descendants(task_pids, every)
    family = procs.descendants(daemons, every) - tasks
    return sum(procs.rss_kib(pid) for pid in family)


def _round_trips(port: int, token: str | None, count: int, budget: float) -> list[float]:
    """Seconds per `status` request, one at a time over one connection (stops at `budget`)."""
    from websockets.sync.client import connect

    headers = {"Authorization": f"Bearer {token}"} if token else None
    times: list[float] = []
    with connect(
        f"ws://127.0.0.1:{port}", additional_headers=headers, open_timeout=10, max_size=None
    ) as websocket:

        def ask(number: int) -> dict[str, Any]:
            websocket.send(json.dumps({"id": number, "command": "status", "params": {}}))
            while True:
                reply = json.loads(websocket.recv(timeout=60))
                if _is_reply(reply, number):
                    return reply

        first = ask(0)
        if first.get("ok") is False or "error" in first:
            raise BenchError(f"the daemon refused `status`: {json.dumps(first)[:300]}")
        for number in range(1, WARMUP_REQUESTS):
            ask(number)
        deadline = time.monotonic() + budget
        for number in range(WARMUP_REQUESTS, WARMUP_REQUESTS + count):
            began = time.perf_counter()
            ask(number)
            times.append(time.perf_counter() - began)
            if time.monotonic() > deadline:
                break
    return times


def _is_reply(message: Any, number: int) -> bool:
    """A reply to request `number`, not a pushed event (replies echo the id if they can)."""
    if not isinstance(message, dict):
        return False
    if "id" in message:
        return bool(message["id"] == number)
    return "event" not in message and "type" not in message


def _tmux_server(sandbox: Sandbox) -> int | None:
    result = sandbox.tmux("display-message", "-p", "#{pid}")
    text = result.stdout.strip()
    return int(text) if text.isdigit() else None
