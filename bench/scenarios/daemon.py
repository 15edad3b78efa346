"""The daemon with 10 running tasks: idle CPU and RSS, and status round trips over one
WebSocket connection.

CPU is the daemon's own CPU time plus that of the children it waited for (the tmux
clients and health checks it runs), over the window, as a percentage of one core. This
repo's taskmux runs here without the bench's tmux wrapper, whose shell start per call
would otherwise be billed to the daemon (about 0.2 points at two calls a second). The
tmux server's share is reported in the note: it is not the daemon's process, but the
daemon's polling is what keeps it busy.
"""

from __future__ import annotations

import json
import socket
import statistics
import time
from pathlib import Path
from typing import Any

from bench.core import (
    BenchError,
    Context,
    Figure,
    Sandbox,
    Unsupported,
    add_note,
    free_port,
    measure,
    percentile,
    stop_process,
    wait_until,
)

TASKS = 10
CPU_GOAL = 1.0
RSS_GOAL_MB = 80.0
WARMUP_REQUESTS = 20


def daemon(ctx: Context) -> list[Figure]:
    window = 5.0 if ctx.quick else 30.0
    requests = 100 if ctx.quick else 1000
    budget = 20.0 if ctx.quick else 60.0
    cpu = Figure(
        "daemon", f"idle CPU over {window:g} s, {TASKS} tasks", "%", goal="< 1 %", limit=CPU_GOAL
    )
    rss = Figure("daemon", f"RSS, {TASKS} tasks", "MB", goal="< 80 MB", limit=RSS_GOAL_MB)
    p50 = Figure("daemon", "status round trip p50", "ms")
    p99 = Figure("daemon", "status round trip p99", "ms")
    extra: dict[str, list[Any]] = {"server": [], "own": [], "count": []}

    def once(_run: int) -> float:
        sample = _daemon_once(ctx, window, requests, budget)
        rss.values.append(sample["rss"])
        p50.values.append(sample["p50"])
        p99.values.append(sample["p99"])
        for key in extra:
            extra[key].append(sample[key])
        return float(sample["cpu"])

    measure(cpu, ctx, once, slow_after=window + 30)
    for figure in (rss, p50, p99):
        figure.status, figure.reason = cpu.status, cpu.reason
        if cpu.status == "ok" and len(figure.values) != len(cpu.values):
            figure.values = figure.values[: len(cpu.values)]
    add_note(
        cpu,
        "tmux called directly"
        if ctx.tool.trusted
        else "tmux called through the bench's wrapper (+~0.5 ms CPU per call)",
    )
    if extra["own"]:
        add_note(cpu, f"daemon process alone {statistics.median(extra['own']):.2f} %")
        add_note(cpu, f"tmux server meanwhile {statistics.median(extra['server']):.2f} %")
    if extra["count"]:
        add_note(p50, f"{min(extra['count'])} to {max(extra['count'])} requests per run")
    return [cpu, rss, p50, p99]


def _daemon_once(ctx: Context, window: float, requests: int, budget: float) -> dict[str, Any]:
    import psutil

    # The bench's tmux wrapper costs a shell start per tmux call, which would be counted as
    # the daemon's CPU: skip it where isolation does not depend on it (see Tool.trusted).
    with Sandbox(ctx.tool, "daemon", wrap_tmux=not ctx.tool.trusted) as sandbox:
        if not ctx.tool.has_command(sandbox, "daemon"):
            raise Unsupported("no `daemon` command")
        names = [f"t{i:02d}" for i in range(TASKS)]
        sandbox.write_config({name: {"command": sandbox.sleeper(name)} for name in names})
        sandbox.run("start", timeout=120)
        sandbox.wait_ready(names)
        port = free_port()
        output = sandbox.root / "daemon.out"
        proc = sandbox.spawn("daemon", "--port", str(port), output=output)
        pid, port, token = _wait_daemon(ctx, sandbox, proc.pid, port)
        if proc.poll() is not None:
            raise BenchError(f"the daemon exited {proc.returncode}: {_tail(output)}")
        time.sleep(2.0)  # let start-up work settle: the figure is the idle cost
        process = psutil.Process(pid)
        server = _tmux_server(sandbox)
        own0, all0 = _cpu(process)
        server0 = _cpu(server)[0] if server else 0.0
        began = time.monotonic()
        peak = 0
        while time.monotonic() - began < window:
            peak = max(peak, _rss(process))
            time.sleep(0.5)
        wall = time.monotonic() - began
        own1, all1 = _cpu(process)
        server1 = _cpu(server)[0] if server else 0.0
        times = _round_trips(port, token, requests, budget)
        stop_process(pid, proc if proc.pid == pid else None)
        return {
            "cpu": (all1 - all0) / wall * 100,
            "own": (own1 - own0) / wall * 100,
            "server": (server1 - server0) / wall * 100,
            "rss": peak / 2**20,
            "p50": percentile(times, 0.50) * 1000,
            "p99": percentile(times, 0.99) * 1000,
            "count": len(times),
        }


def _wait_daemon(
    ctx: Context, sandbox: Sandbox, spawned: int, port: int
) -> tuple[int, int, str | None]:
    """The daemon's pid, port and token, once it accepts connections."""
    if ctx.tool.has_command(sandbox, "daemon", "status"):

        def info() -> dict[str, Any] | None:
            result = sandbox.run("daemon", "status", "--json", check=False, timeout=30)
            try:
                data: dict[str, Any] = json.loads(result.stdout)
            except ValueError:
                return None
            return data if data.get("ok") and data.get("port") else None

        found = wait_until(info, 30, interval=0.1)
        if found is None:
            raise BenchError("`daemon status --json` never reported a running daemon")
        token = Path(found["token_file"]).read_text().strip() if found.get("token_file") else None
        return int(found["pid"]), int(found["port"]), token
    if not wait_until(lambda: _accepts(port), 30, interval=0.1):
        raise BenchError(f"the daemon never listened on 127.0.0.1:{port}")
    return spawned, port, None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


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


def _cpu(process: Any) -> tuple[float, float]:
    """(own, own + waited-for children) CPU seconds of a psutil process."""
    times = process.cpu_times()
    own = times.user + times.system
    return own, own + times.children_user + times.children_system


def _rss(process: Any) -> int:
    import psutil

    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def _tmux_server(sandbox: Sandbox) -> Any:
    import psutil

    result = sandbox.tmux("display-message", "-p", "#{pid}")
    try:
        return psutil.Process(int(result.stdout.strip()))
    except (ValueError, psutil.Error):
        return None


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-300:]
    except OSError:
        return ""
