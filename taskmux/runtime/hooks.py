"""Run lifecycle hooks (shell commands) and turn a failure into `HookFailed`."""

from __future__ import annotations

from pathlib import Path

from taskmux.config.signals import signal_name
from taskmux.errors import HookFailed
from taskmux.runtime.shell import run_shell


def run_hook(
    stage: str,
    command: str | None,
    cwd: Path,
    env: dict[str, str] | None = None,
    owner: str = "global",
    *,
    timeout: float,
) -> None:
    """Run one hook; raise HookFailed with its exit code and last output lines if it fails.

    `timeout` is the config's `hook_timeout`; a hook that outlives it is killed (its
    whole process group) and the error names the setting.
    """
    if not command:
        return
    result = run_shell(command, cwd, timeout, env)
    if result.timed_out:
        raise HookFailed(
            f"{owner} {stage} hook timed out after {timeout:g}s and was killed "
            f"(raise hook_timeout, top level or per task, to allow it longer): {command}"
        )
    if result.exit_code != 0:
        lines = result.output.splitlines()[-5:]
        tail = f": {' | '.join(lines)}" if lines else ""
        if result.exit_code is None:
            status = "did not run"
        elif result.exit_code < 0:
            status = f"killed by {signal_name(-result.exit_code)}"
        else:
            status = f"exit {result.exit_code}"
        raise HookFailed(f"{owner} {stage} hook failed ({status}){tail}")
