"""Run lifecycle hooks (shell commands) and turn a failure into `HookFailed`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from taskmux.errors import HookFailed

HOOK_TIMEOUT = 120.0


def run_hook(stage: str, command: str | None, cwd: Path, env: dict[str, str] | None = None,
             owner: str = "global", timeout: float = HOOK_TIMEOUT) -> None:  # fmt: skip
    """Run one hook; raise HookFailed with its exit code and last output lines if it fails."""
    if not command:
        return
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HookFailed(f"{owner} {stage} hook timed out after {timeout:g}s: {command}") from None
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()[-5:]
        tail = f": {' | '.join(output)}" if output else ""
        raise HookFailed(f"{owner} {stage} hook failed (exit {proc.returncode}){tail}")
