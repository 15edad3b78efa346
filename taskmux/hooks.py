"""Run lifecycle hooks (shell commands) and turn a failure into `HookFailed`."""

from __future__ import annotations

from pathlib import Path

from taskmux.errors import HookFailed
from taskmux.shell import run_shell

HOOK_TIMEOUT = 120.0


def run_hook(
    stage: str,
    command: str | None,
    cwd: Path,
    env: dict[str, str] | None = None,
    owner: str = "global",
    timeout: float = HOOK_TIMEOUT,
) -> None:
    """Run one hook; raise HookFailed with its exit code and last output lines if it fails."""
    if not command:
        return
    result = run_shell(command, cwd, timeout, env)
    if result.timed_out:
        raise HookFailed(f"{owner} {stage} hook timed out after {timeout:g}s: {command}")
    if result.exit_code != 0:
        lines = result.output.splitlines()[-5:]
        tail = f": {' | '.join(lines)}" if lines else ""
        status = f"exit {result.exit_code}" if result.exit_code is not None else "did not run"
        raise HookFailed(f"{owner} {stage} hook failed ({status}){tail}")
