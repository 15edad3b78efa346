"""Supervision: exit → noticed and exit → running again (every tool), and `health` of many
slow checks (taskmux).

The task records the moment it dies itself: it blocks on a FIFO, and when the bench
writes to it the task writes `date +%s.%N` to a file and exits 3 at once. Its next run
writes its pid and `date +%s.%N` as its first action. So "running again" is the new
process's own clock reading minus the old one's, and "noticed" is the time the tool put on
its `exited` event (taskmux's event log, supervisord's log line, pm2's event bus) minus
the moment of death.
"""

from __future__ import annotations

import errno
import json
import os
import re
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
    wait_until,
)
from bench.drivers import Session, TaskSpec

NOTICED_GOAL_MS = 30.0
AGAIN_GOAL_MS = 50.0
DELAY_S = 0.1
HEALTH_TASKS = 20
HEALTH_GOAL_S = 1.5  # "about 1 s": the checks take 1 s each and run at once
RUNNING_AGAIN_TIMEOUT = 30.0


def _restart_task(ready: Path, fifo: Path) -> str:
    """A shell task: record pid and time, wait for the FIFO, record the time, exit 3."""
    return (
        f'echo "$$ $(date +%s.%N)" > {ready}; read x < {fifo}; date +%s.%N > {ready}.died; exit 3'
    )


def _record(path: Path) -> tuple[int, float] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    parts = text.split()
    if not text.endswith("\n") or len(parts) != 2 or not parts[0].isdigit():
        return None
    try:
        return int(parts[0]), float(parts[1])
    except ValueError:
        return None


def _trigger_exit(fifo: Path, timeout: float = 10.0) -> None:
    """Make the task exit now: open its FIFO once it listens, write a line."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise BenchError("the task never opened its exit FIFO") from exc
            time.sleep(0.001)
    try:
        os.write(fd, b"x\n")
    finally:
        os.close(fd)


def restart(ctx: Context) -> list[Figure]:
    noticed = Figure(
        "restart",
        "exit → noticed (exited event)",
        "ms",
        goal=f"< {NOTICED_GOAL_MS:g} ms",
        limit=NOTICED_GOAL_MS,
        spec="exit-noticed",
    )
    again = Figure(
        "restart",
        "exit → running again, restart_delay 0",
        "ms",
        goal=f"< {AGAIN_GOAL_MS:g} ms",
        limit=AGAIN_GOAL_MS,
        spec="restart-0",
    )
    delayed = Figure(
        "restart",
        f"exit → running again, restart_delay {DELAY_S:g} s",
        "ms",
        goal=f"< {DELAY_S * 1000 + AGAIN_GOAL_MS:g} ms (delay + 50 ms)",
        limit=DELAY_S * 1000 + AGAIN_GOAL_MS,
        spec="restart-0.1",
    )
    noticed_reason = ""
    for delay, figure in ((0.0, again), (DELAY_S, delayed)):
        try:
            with ctx.driver.open("restart") as session:
                died: list[float] = []
                _restart_runs(ctx, session, delay, figure, died)
                if died and not noticed_reason:
                    try:
                        seen = _noticed_ms(died, session.exit_times("r"))
                    except Unsupported as exc:
                        noticed_reason = str(exc)
                        seen = []
                    if seen:
                        if delay == 0:
                            noticed.values.extend(seen)
                        figure.limits = (
                            f"exit noticed after {statistics.median(seen):.0f} ms, "
                            f"running {figure.median - statistics.median(seen):.0f} ms later"
                            if figure.median is not None
                            else ""
                        )
        except Unsupported as exc:
            mark_unsupported([figure], str(exc))
        except (BenchError, OSError) as exc:
            figure.status, figure.reason = "failed", str(exc)
    if noticed_reason:
        mark_unsupported([noticed], noticed_reason)
    elif not noticed.values:
        source = again if again.status != "ok" else None
        noticed.status = source.status if source else "failed"
        noticed.reason = source.reason if source else "no exit was matched to an exited event"
    else:
        add_note(noticed, f"{len(noticed.values)} exits, restart_delay 0")
    for figure in (again, delayed):
        add_note(figure, "running = the new process wrote its pid and clock (sh + date)")
    return [noticed, again, delayed]


def _restart_runs(
    ctx: Context, session: Session, delay: float, figure: Figure, died: list[float]
) -> None:
    root = session.sandbox.root
    fifo = root / "exit.fifo"
    ready = session.sandbox.ready / "r"
    os.mkfifo(fifo)
    session.configure([TaskSpec("r", _restart_task(ready, fifo), True, delay)])
    session.start_all(timeout=120)
    session.supervise()
    session.watch_exits()
    if not wait_until(lambda: _record(ready), 30, interval=0.005):
        raise BenchError("the task never wrote its pid")
    died_file = Path(f"{ready}.died")
    runs = max(ctx.runs, 5) if not ctx.quick else 3  # cheap: a few more runs, steadier median

    def once(_run: int) -> float:
        old = _record(ready)
        if old is None:
            raise BenchError("the task's pid record is gone")
        died_file.unlink(missing_ok=True)
        _trigger_exit(fifo)
        new = wait_until(
            lambda: (r := _record(ready)) and r[0] != old[0] and r, RUNNING_AGAIN_TIMEOUT, 0.002
        )
        if not new:
            raise BenchError(
                f"the task was not running again {RUNNING_AGAIN_TIMEOUT:g} s after it exited"
            )
        text = wait_until(lambda: died_file.read_text() if died_file.exists() else "", 5)
        if not text:
            raise BenchError("the task recorded no moment of death")
        moment = float(text)
        died.append(moment)
        time.sleep(0.05)  # let the new run reach its `read` (a fair start for the next run)
        return float(new[1] - moment) * 1000

    measure(figure, ctx.with_runs(runs), once, slow_after=1e9)
    if figure.status != "ok":
        raise BenchError(figure.reason)


def _noticed_ms(died: list[float], exits: list[float]) -> list[float]:
    """Each death matched to the first exit the tool recorded at or after it (its clock
    and ours are the same; 5 ms of slack for a tool that stamps in whole milliseconds)."""
    values = []
    for moment in died:
        seen = next((t for t in exits if t >= moment - 0.005), None)
        if seen is not None:
            values.append(max(0.0, seen - moment) * 1000)
    return values


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
