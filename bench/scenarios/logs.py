"""Logs: nothing lost when a task prints at full speed (every tool), a sustained burst of
100,000 lines a second for 10 s (every tool: lines lost and the log path's CPU), and a
quick tail of a huge log (taskmux).

What a tool kept is read where its user would read it: taskmux through `logs TASK -n N`,
supervisord and pm2 from the log files their config names (no rotation: supervisord's
`stdout_logfile_maxbytes=0`, pm2 rotates only with a module). taskmux gets a
`log_max_size_mb` big enough that rotation drops nothing in the burst.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench import procs
from bench.core import (
    BenchError,
    Context,
    Figure,
    Sandbox,
    Unsupported,
    add_note,
    mark_unsupported,
    measure,
    wait_until,
)
from bench.drivers import Session, TaskSpec

LOSSLESS_LINES = 50_000
LOSSLESS_RUNS = 20
TAIL_GOAL_MS = 200.0
TAIL_LINES = 100
SETTLE_S = 3.0  # the count stopped growing for this long: the tool has shown all it will
BURST_RATE = 100_000
BURST_SECONDS = 10.0
BURST_CPU_GOAL = 0.5
BURST_LOG_MB = 400  # taskmux's log_max_size_mb for the burst: no rotation loss
BURST_PAD = "x" * 55  # each line is `L0000001 ` + 55 x + newline = 64 bytes
BURST_LINE = re.compile(r"L(\d{7}) x{55}$")
NUMBER_LINE = re.compile(r"(?:^|\s)(\d+)\s*$")

BURST_SCRIPT = """import os, sys, time
ready, go, done, rate, seconds, pad = sys.argv[1:7]
with open(ready + ".tmp", "w") as f:
    f.write("%d\\n" % os.getpid())
os.replace(ready + ".tmp", ready)
while not os.path.exists(go):
    time.sleep(0.002)
rate, total = int(rate), int(int(rate) * float(seconds))
step = max(1, rate // 200)  # a write every 5 ms
out = sys.stdout.buffer
began = time.monotonic()
n = 0
while n < total:
    due = began + n / rate
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    k = min(step, total - n)
    out.write("".join("L%07d %s\\n" % (i, pad) for i in range(n + 1, n + k + 1)).encode())
    out.flush()
    n += k
with open(done, "w") as f:
    f.write("%f\\n" % (time.monotonic() - began))
time.sleep(86400)
"""


def _numbers(text: str, top: int) -> set[int]:
    """The distinct lines `1`…`top` the text holds (timestamps before them allowed)."""
    found = set()
    for line in text.splitlines():
        match = NUMBER_LINE.search(line)
        if match and 1 <= int(match.group(1)) <= top:
            found.add(int(match.group(1)))
    return found


def missing_ranges(found: set[int], top: int, most: int = 3) -> str:
    """`8375-10000` (the first few runs of numbers 1..top absent from `found`)."""
    ranges: list[str] = []
    start = None
    for number in range(1, top + 2):
        absent = number <= top and number not in found
        if absent and start is None:
            start = number
        elif not absent and start is not None:
            ranges.append(f"{start}" if start == number - 1 else f"{start}-{number - 1}")
            start = None
    extra = f" and {len(ranges) - most} more" if len(ranges) > most else ""
    return ", ".join(ranges[:most]) + extra


def _count_burst(text: str) -> int:
    return len({m.group(1) for line in text.splitlines() if (m := BURST_LINE.search(line))})


def lossless(ctx: Context) -> list[Figure]:
    """A task prints `lines` at full speed and exits at once, LOSSLESS_RUNS times, every
    core kept busy (tmux drops what a pane printed but it has not read when the pane's
    process exits: one run in 20-40 lost lines under load before taskmux's waiting
    shell): lines lost per run (median), and the runs that lost any."""
    lines = 10_000 if ctx.quick else LOSSLESS_LINES
    runs = 3 if ctx.quick else max(ctx.runs, LOSSLESS_RUNS)
    figure = Figure(
        "logs",
        f"lines lost of {lines:,} printed at full speed",
        "lines",
        goal="0",
        limit=0,
        spec="lossless",
    )
    lossy = Figure(
        "logs",
        f"runs that lost lines of {lines:,} printed at full speed (of {runs})",
        "runs",
        goal="0",
        limit=0,
        spec="lossless-runs",
    )
    waits: list[float] = []
    gaps: list[str] = []
    with _busy_cpus() as hogs:
        measure(figure, ctx.with_runs(runs), lambda _run: _lossless_once(ctx, lines, waits, gaps))
    add_note(lossy, f"every core kept busy meanwhile ({hogs} busy loops)")
    if waits:
        fact = f"all lines readable {statistics.median(waits):.2f} s after `start`"
        add_note(figure, fact)
        figure.limits = fact
    for gap in gaps:
        add_note(figure, f"missing lines {gap}")
    if figure.status != "ok":
        lossy.status, lossy.reason = figure.status, figure.reason
    else:
        lost = sum(1 for value in figure.values if value > 0)
        lossy.values = [float(lost)]
        lossy.limits = (
            f"{lost} of {len(figure.values)} runs lost lines, {max(figure.values):,.0f} at most"
        )
        add_note(lossy, lossy.limits)
    return [figure, lossy]


@contextlib.contextmanager
def _busy_cpus() -> Iterator[int]:
    """One busy loop per core while the runs last: tmux's loss of a pane's last output
    is a race that a busy machine loses more often (1 run in 20 to 40, idle: rarely)."""
    hogs = [
        subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"], start_new_session=True)
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        yield len(hogs)
    finally:
        for hog in hogs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(hog.pid, signal.SIGKILL)
            hog.wait()


def _lossless_once(ctx: Context, lines: int, waits: list[float], gaps: list[str]) -> float:
    with ctx.driver.open("logs") as session:
        session.configure([TaskSpec("seq", f"seq 1 {lines}", restart=False)])
        session.start_all()
        began = time.monotonic()
        best, best_at = 0, time.monotonic()
        while True:
            numbers = _numbers(session.output("seq", lines * 2), lines)
            found = len(numbers)
            now = time.monotonic()
            if found >= lines:
                waits.append(now - began)
                return 0
            if found > best:
                best, best_at = found, now
            elif now - best_at > SETTLE_S or now - began > 60:
                gaps.append(missing_ranges(numbers, lines))
                return lines - best
            time.sleep(0.1)


def burst(ctx: Context) -> list[Figure]:
    seconds = 2.0 if ctx.quick else BURST_SECONDS
    lost = Figure(
        "burst",
        f"lines lost, {BURST_RATE:,} lines/s for {seconds:g} s",
        "lines",
        goal="0",
        limit=0,
        spec="burst-lost",
    )
    cpu = Figure(
        "burst",
        f"log path CPU at {BURST_RATE:,} lines/s",
        "cores",
        goal=f"< {BURST_CPU_GOAL:g} core",
        limit=BURST_CPU_GOAL,
        spec="burst-cpu",
    )
    facts: list[dict[str, float | str]] = []
    measure(lost, ctx.with_runs(1), lambda _run: _burst_once(ctx, seconds, cpu, facts))
    if lost.status != "ok":
        cpu.status, cpu.reason = lost.status, lost.reason
    for fact in facts:
        add_note(
            lost,
            f"printed at {fact['rate']:,.0f} lines/s (the task's own pace: a slow reader "
            f"slows it); all kept {fact['drain']:.1f} s after the task finished",
        )
        add_note(cpu, f"over {fact['window']:.1f} s: {fact['parts']}")
        lost.limits = (
            f"printed at {fact['rate']:,.0f} lines/s, all kept {fact['drain']:.1f} s later"
        )
        cpu.limits = str(fact["parts"])
    add_note(cpu, "log path = every process of the tool's but the task, over the burst")
    return [lost, cpu]


def _burst_once(
    ctx: Context, seconds: float, cpu: Figure, facts: list[dict[str, float | str]]
) -> float:
    with ctx.driver.open("burst") as session:
        root = session.sandbox.root
        script = root / "burst.py"
        script.write_text(BURST_SCRIPT)
        go, done = root / "burst.go", root / "burst.done"
        ready = session.sandbox.ready / "b"
        command = (
            f"{sys.executable} -I -S {script} {ready} {go} {done} {BURST_RATE} {seconds} "
            f"{BURST_PAD}"
        )
        session.configure([TaskSpec("b", command, restart=False)], log_mb=BURST_LOG_MB)
        session.start_all()
        pids = session.sandbox.wait_ready(["b"], timeout=60)
        time.sleep(0.5)  # the log path is up (taskmux's pipe-pane starts with the window)
        task_pids = set(pids.values())
        _tasks, tool = session.tool_processes(task_pids)
        before = {pid: procs.cpu_s(pid) for pid in tool}
        began = time.monotonic()
        go.write_text("go\n")
        if not wait_until(done.exists, seconds * 20 + 60, interval=0.05):
            raise BenchError(f"the printer did not finish within {seconds * 20 + 60:g} s")
        finished = time.monotonic()
        files = _files_or_none(session, "b")
        last_growth = _wait_quiet(files, finished)
        _tasks, tool_after = session.tool_processes(task_pids)
        after = {pid: procs.cpu_s(pid) for pid in tool_after}
        window = max(last_growth, finished) - began
        by_name: dict[str, float] = {}
        for pid, value in after.items():
            used = value - before.get(pid, 0.0)
            by_name[procs.name_of(pid)] = by_name.get(procs.name_of(pid), 0.0) + used
        gone = [pid for pid in before if pid not in after]
        total = sum(by_name.values())
        cpu.values.append(total / window)
        parts = ", ".join(
            f"{name} {value / window:.2f}"
            for name, value in sorted(by_name.items(), key=lambda item: -item[1])[:3]
            if value > 0
        )
        if gone:
            parts += f" ({len(gone)} process(es) ended during the burst, not counted)"
        expected = int(BURST_RATE * seconds)
        printed_for = float(done.read_text())
        kept = _kept(session, expected)
        facts.append(
            {
                "rate": expected / printed_for,
                "drain": max(0.0, last_growth - finished),
                "window": window,
                "parts": parts or "nothing measurable",
            }
        )
        return expected - kept


def _kept(session: Session, expected: int) -> int:
    """Burst lines the tool kept, read again until the count stops growing (in case the
    files watched for growth were not where the tool writes)."""
    best, best_at = -1, time.monotonic()
    while True:
        kept = _count_burst(session.output("b", expected * 2))
        now = time.monotonic()
        if kept >= expected:
            return kept
        if kept > best:
            best, best_at = kept, now
        elif now - best_at > SETTLE_S:
            return best
        time.sleep(0.5)


def _files_or_none(session: Session, task: str) -> list[Path] | None:
    try:
        return session.log_files(task)
    except Unsupported:
        return None


def _wait_quiet(files: list[Path] | None, since: float, quiet: float = 1.5) -> float:
    """When the log stopped growing (monotonic time), waiting up to 120 s for that."""
    if files is None:  # nothing to watch: give the tool a fixed while
        time.sleep(SETTLE_S)
        return since
    size, grew = -1, since
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now_size = sum(path.stat().st_size for path in files if path.exists())
        now = time.monotonic()
        if now_size != size:
            size, grew = now_size, now
        elif now - grew >= quiet:
            break
        time.sleep(0.1)
    return grew


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
