"""Run one health check with a timeout and report what happened. Nothing else.

A check is a task's probe (`probes.py`: a shell command, an HTTP GET, a TCP connect) and,
when it has one, its ready line. Whatever ran, the result carries a one-line `reason`
a person can act on ("status 500", "connection refused", "exited 1: not ready").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from taskmux.runtime.shell import run_shell

MAX_OUTPUT = 2000


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome. `kind`: what ran ("command", "http", "tcp", "process" when
    being alive is all there is to check)."""

    healthy: bool
    exit_code: int | None
    output: str
    duration: float
    timed_out: bool = False
    kind: str = "command"
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.reason:
            object.__setattr__(self, "reason", self._default_reason())

    def _default_reason(self) -> str:
        lines = self.output.strip().splitlines()
        last = lines[-1].strip() if lines else ""
        if self.kind != "command":
            return last
        if self.timed_out:
            return last or "timed out"
        if self.exit_code == 0:
            return "exit 0"
        if self.exit_code is None:
            return last
        return f"exited {self.exit_code}" + (f": {last}" if last else "")

    def with_ready_line(self, pattern: str, seen: bool) -> CheckResult:
        """This result once the ready line is taken into account: not healthy until seen."""
        if not self.healthy:
            return self
        if seen:  # a probe's own reason says more; bare liveness says what it saw
            return (
                replace(self, reason=f"ready line /{pattern}/ seen")
                if self.kind == "process"
                else self
            )
        return replace(self, healthy=False, reason=f"ready line /{pattern}/ not printed yet")

    def to_dict(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "exit_code": self.exit_code,
            "output": self.output,
            "duration": round(self.duration, 3),
            "timed_out": self.timed_out,
            "probe": self.kind,
            "reason": self.reason,
        }


def run_check(
    command: str, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> CheckResult:
    """Exit 0 means healthy; the whole check (its process group) dies at the timeout."""
    result = run_shell(command, cwd, timeout, env)
    output = result.output[-MAX_OUTPUT:]
    if result.timed_out:
        output = (output + "\n" if output else "") + f"health check timed out after {timeout:g}s"
    healthy = result.exit_code == 0
    return CheckResult(healthy, result.exit_code, output, result.duration, result.timed_out)
