"""The end of a quick task's output in bare tmux, with and without taskmux's waiting shell.

tmux throws away what a pane printed but tmux has not read yet when the pane's process
exits (tmux issue #506): a race, lost about once in 20 to 40 runs on a busy machine,
rarely on an idle one, so the `logs` scenario's 20 runs alone may not show it. Here the
same `seq 1 50000` runs in fresh windows of a private tmux server, every core kept busy,
piped (`pipe-pane`, in the window's own command list, as taskmux does) into a file: once
as `/bin/sh -c "exec seq …"` (the pane's process is the task), once under this repo's
waiting shell (`taskmux.runtime.taskcmd.pane_command`). The figure is the runs of the
latter that lost a line; the former's count is in the note.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.core import BenchError, Context, Figure, add_note, real_tmux
from bench.scenarios.logs import _busy_cpus

LINES = 50_000


def _lost_runs(tmux: list[str], folder: Path, argv: list[str], runs: int) -> int:
    """How many of `runs` windows running `argv` left fewer than LINES lines in their pipe."""
    lossy = 0
    for run in range(runs):
        out = folder / f"out{run}"
        name = f"w{run}"
        target = f"=bench:={name}"
        made = subprocess.run(
            [*tmux, "new-window", "-d", "-t", "bench:", "-n", name, "--", *argv, ";",
             "pipe-pane", "-t", target, f"exec cat >> {out}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            raise BenchError(f"tmux new-window failed: {made.stderr.strip()}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            dead = subprocess.run(
                [*tmux, "display", "-p", "-t", target, "#{pane_dead}"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if dead.stdout.startswith("1"):
                break
            time.sleep(0.01)
        else:
            raise BenchError(f"window {name} still runs after 30 s")
        time.sleep(0.2)  # the pipe's `cat` writes what tmux handed it
        text = out.read_bytes() if out.exists() else b""
        ending = text.replace(b"\x1b[5n", b"").rstrip(b"\r\n")  # the waiter's question
        if text.count(b"\n") < LINES or not ending.endswith(b"\n%d" % LINES):
            lossy += 1
        subprocess.run([*tmux, "kill-window", "-t", target], capture_output=True, check=False)
    return lossy


def pane_exit(ctx: Context) -> list[Figure]:
    from taskmux.runtime.taskcmd import pane_command

    runs = 10 if ctx.quick else 100
    figure = Figure(
        "pane-exit",
        f"runs that lost lines of {LINES:,} in a bare tmux pane, with the waiting shell "
        f"(of {runs}, every core busy)",
        "runs",
        goal="0",
        limit=0,
    )
    folder = Path(tempfile.mkdtemp(prefix="taskmux-bench-paneexit-"))
    tmux = [real_tmux(), "-S", str(folder / "tmux.sock"), "-f", "/dev/null"]
    command = f"exec seq 1 {LINES}"
    try:
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", "bench", "-n", "idle", "sleep 86400", ";",
             "set", "-g", "remain-on-exit", "on"],
            check=True, capture_output=True,
        )  # fmt: skip
        with _busy_cpus():
            plain = _lost_runs(tmux, folder, ["/bin/sh", "-c", command], runs)
            waited = _lost_runs(
                tmux, folder, ["/bin/sh", "-c", pane_command(f"seq 1 {LINES}")], runs
            )
        figure.values = [float(waited)]
        figure.limits = f"{plain} of {runs} runs lost lines with the task as the pane's process"
        add_note(figure, figure.limits)
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        figure.status, figure.reason = "failed", str(exc)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)
    return [figure]
