"""Run one health check with a timeout and report what happened. Nothing else."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CheckResult:
    healthy: bool
    exit_code: int | None
    output: str
    duration: float
    timed_out: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "exit_code": self.exit_code,
            "output": self.output,
            "duration": round(self.duration, 3),
            "timed_out": self.timed_out,
        }


def run_check(
    command: str, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> CheckResult:
    """Run `command` with /bin/sh; exit 0 means healthy; the whole check group dies at timeout."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return CheckResult(False, None, str(exc), 0.0)
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    text = out.decode(errors="replace").strip()[-2000:]
    if timed_out:
        text = (text + "\n" if text else "") + f"health check timed out after {timeout:g}s"
    code = None if timed_out else proc.returncode
    return CheckResult(code == 0, code, text, time.monotonic() - started, timed_out)
