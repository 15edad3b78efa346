"""Run one health check with a timeout and report what happened. Nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from taskmux.shell import run_shell


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
    """Exit 0 means healthy; the whole check (its process group) dies at the timeout."""
    result = run_shell(command, cwd, timeout, env)
    output = result.output[-2000:]
    if result.timed_out:
        output = (output + "\n" if output else "") + f"health check timed out after {timeout:g}s"
    healthy = result.exit_code == 0
    return CheckResult(healthy, result.exit_code, output, result.duration, result.timed_out)
