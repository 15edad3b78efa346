"""What a `taskmux` command imports in a fresh interpreter, for many commands at the cost of
one interpreter start.

One bare Python process (it imports nothing beyond what every interpreter loads at its
start) forks a child per command; each child runs `python -m taskmux ARGS` as
`runpy` runs it, then writes down `sys.modules`. A child begins with its parent's
modules, which are those of a fresh interpreter: what it reports is what that command
alone loaded, as if it had been started on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SEPARATOR = "\x1f"  # joins one command's arguments into one argv item of the probe

_PROBE = """
import os, sys
folder, runs = sys.argv[1], sys.argv[2:]
for index, run in enumerate(runs):
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        continue
    code = "crashed"
    try:
        for fd, suffix in ((1, "out"), (2, "err")):
            os.dup2(os.open(os.path.join(folder, f"{index}.{suffix}"), os.O_WRONLY | os.O_CREAT), fd)
        sys.argv = ["taskmux", *(run.split(SEPARATOR) if run else [])]
        import runpy
        try:
            runpy.run_module("taskmux", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else int(done.code is not None)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        with open(os.path.join(folder, f"{index}.modules"), "w") as report:
            report.write(f"{code}\\n" + "\\n".join(sorted(sys.modules)))
        os._exit(0)
""".replace("SEPARATOR", repr(SEPARATOR))


@dataclass(frozen=True)
class Imported:
    """One command's run: its exit code ("crashed" for an uncaught error), the modules
    loaded when it ended, and what it printed."""

    code: int | str
    modules: frozenset[str]
    stdout: str
    stderr: str


def imports_of(
    runs: Sequence[Sequence[str]], *, cwd: Path, folder: Path, env: Mapping[str, str] | None = None
) -> list[Imported]:
    """Run each command of `runs` in its own fork of one fresh interpreter, in `cwd`;
    `folder` (empty, private to the caller) receives their reports."""
    for run in runs:
        assert all(SEPARATOR not in arg for arg in run), run
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(folder), *(SEPARATOR.join(run) for run in runs)],
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
    found = []
    for index in range(len(runs)):
        code, *modules = (folder / f"{index}.modules").read_text().split("\n")
        found.append(
            Imported(
                int(code) if code.lstrip("-").isdigit() else code,
                frozenset(modules),
                (folder / f"{index}.out").read_text(),
                (folder / f"{index}.err").read_text(),
            )
        )
    return found
