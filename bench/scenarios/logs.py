"""Logs: nothing lost when a task prints at full speed, and a quick tail of a huge log."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from bench.core import (
    BenchError,
    Context,
    Figure,
    Sandbox,
    Unsupported,
    add_note,
    mark_unsupported,
    measure,
)

LOSSLESS_LINES = 50_000
TAIL_GOAL_MS = 200.0
TAIL_LINES = 100
SETTLE_S = 3.0  # the count stopped growing for this long: the tool has shown all it will


def lossless(ctx: Context) -> list[Figure]:
    lines = 10_000 if ctx.quick else LOSSLESS_LINES
    figure = Figure(
        "logs", f"lines lost of {lines:,} printed at full speed", "lines", goal="0", limit=0
    )
    waits: list[float] = []
    measure(figure, ctx, lambda _run: _lossless_once(ctx, lines, waits))
    if waits:
        add_note(figure, f"all lines readable {statistics.median(waits):.2f} s after `start`")
    return [figure]


def _lossless_once(ctx: Context, lines: int, waits: list[float]) -> float:
    with Sandbox(ctx.tool, "logs") as sandbox:
        if not ctx.tool.has_command(sandbox, "logs"):
            raise Unsupported("no `logs` command")
        as_json = ctx.tool.has_option(sandbox, "--json", "logs")
        sandbox.write_config({"seq": {"command": f"seq 1 {lines}", "restart_policy": "no"}})
        sandbox.run("start")
        began = time.monotonic()
        args = ["logs", "seq", "-n", str(lines * 2), *(["--json"] if as_json else [])]
        best, best_at = 0, time.monotonic()
        while True:
            found = _numbers(sandbox.run(*args, check=False, timeout=120).stdout, lines, as_json)
            now = time.monotonic()
            if found >= lines:
                waits.append(now - began)
                return 0
            if found > best:
                best, best_at = found, now
            elif now - best_at > SETTLE_S or now - began > 60:
                return lines - best
            time.sleep(0.1)


def _numbers(output: str, top: int, as_json: bool) -> int:
    """How many distinct lines `1`…`top` the output holds (JSON lines or plain text)."""
    found: set[int] = set()
    for raw in output.splitlines():
        text = raw
        if as_json:
            try:
                text = json.loads(raw).get("line", "")
            except (ValueError, AttributeError):
                continue
        text = text.strip()
        if text.isdigit() and 1 <= int(text) <= top:
            found.add(int(text))
    return len(found)


def tail(ctx: Context) -> list[Figure]:
    size_mb = 20 if ctx.quick else 100
    figure = Figure(
        "logs-tail",
        f"logs TASK -n {TAIL_LINES} on a {size_mb} MB log",
        "ms",
        goal=f"< {TAIL_GOAL_MS:g} ms",
        limit=TAIL_GOAL_MS,
    )
    with Sandbox(ctx.tool, "tail") as sandbox:
        sandbox.write_config({"big": {"command": "sleep 86400"}})
        try:
            path = _log_file(ctx, sandbox, "big")
        except Unsupported as exc:
            mark_unsupported([figure], str(exc))
            return [figure]
        last = _write_log(path, size_mb * 1_000_000)
        sandbox.run("logs", "big", "-n", str(TAIL_LINES))  # warm the page cache

        def once(_run: int) -> float:
            result = sandbox.run("logs", "big", "-n", str(TAIL_LINES))
            shown = result.stdout.splitlines()
            if len(shown) != TAIL_LINES or not shown[-1].endswith(last):
                raise BenchError(
                    f"expected the last {TAIL_LINES} lines ending with {last!r}, "
                    f"got {len(shown)} lines ending with {shown[-1:]!r}"
                )
            return result.elapsed * 1000

        measure(figure, ctx, once)
        add_note(figure, f"{path.stat().st_size / 1e6:.0f} MB file planted in the writer's format")
    return [figure]


def _log_file(ctx: Context, sandbox: Sandbox, task: str) -> Path:
    """Where the tool reads TASK's log: `status --json` names it (`log_file`)."""
    if not ctx.tool.has_option(sandbox, "--json", "status"):
        raise Unsupported("keeps no log file to plant a big log in (no `status --json` log_file)")
    rows = sandbox.json("status")["tasks"]
    row = next((r for r in rows if r.get("name") == task), {})
    if not row.get("log_file"):
        raise Unsupported("`status --json` names no log_file for the task")
    return Path(row["log_file"])


def _write_log(path: Path, size: int) -> str:
    """Fill `path` with `size` bytes of `YYYY-MM-DDTHH:MM:SS.mmmZ text` lines, 1 ms apart;
    return the last line's text."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    start = int(time.time()) - 86400
    filler = "; ".join(["the quick brown fox jumps over the lazy dog"] * 2)
    written = 0
    number = 0
    text = ""
    second, stamp = -1, ""
    with path.open("wb") as handle:
        while written < size:
            block = []
            for _ in range(10_000):
                number += 1
                if start + number // 1000 != second:
                    second = start + number // 1000
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
                text = f"line {number:08d} {filler}"
                block.append(f"{stamp}.{number % 1000:03d}Z {text}\n")
            data = "".join(block).encode()
            handle.write(data)
            written += len(data)
    return text
