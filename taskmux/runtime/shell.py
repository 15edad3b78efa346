"""Run one shell command with a timeout; the one place hooks and health checks share.

The command gets its own process group, so a timeout kills everything it started, and
output is read with a bound, so a child that keeps the pipe open cannot hang us. Being
in its own group also keeps it out of reach of the terminal's Ctrl+C, so whoever
interrupts the waiting must kill it: `run_shell` does when the interrupt lands in its
own thread, and `interrupt()` (called by the CLI's SIGINT/SIGTERM handler) does for
commands that other threads wait for.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

OUTPUT_LIMIT = 4000

# Process groups of the commands being waited for right now (one per command), tickets
# of the commands being started (not registered yet), and whether the process is going
# down (then no new command starts, and one that was starting kills itself).
_running: set[int] = set()
_starting: set[int] = set()
_tickets = itertools.count()
_interrupted = False

# Anything that makes a command line more than "program and arguments" for sh.
_SHELL_SYNTAX = set(";&|<>()$`\\*?[]{}~#!\n\"'")
# Words sh must run itself: `exec` of one of them would fail or change meaning.
_SH_OWN_WORDS = {
    ".", ":", "alias", "bg", "break", "cd", "case", "command", "continue", "do", "done",
    "elif", "else", "esac", "eval", "exec", "exit", "export", "fg", "fi", "for", "getopts",
    "hash", "if", "jobs", "local", "read", "readonly", "return", "set", "shift", "source",
    "then", "times", "trap", "type", "ulimit", "umask", "unalias", "unset", "until", "wait",
    "while",
}  # fmt: skip


def exec_form(command: str) -> str:
    """`exec COMMAND` when the line is a plain program call, else the line unchanged.

    sh then replaces itself with the program, so the pane's process *is* the task: its
    pid is the real one and a death by signal is reported as such (not as sh's 128+N).
    """
    words = command.split()
    if not words or any(ch in _SHELL_SYNTAX for ch in command):
        return command
    first = words[0]
    if "=" in first or first in _SH_OWN_WORDS:
        return command
    return f"exec {command}"


@dataclass(frozen=True)
class ShellResult:
    exit_code: int | None  # None: it timed out or could not start
    output: str  # stdout and stderr together, the last OUTPUT_LIMIT characters
    duration: float
    timed_out: bool = False


def interrupt() -> bool:
    """SIGKILL the group of every command still running, and start no new one.

    Returns whether any command was running or starting: the caller must then let
    the threads waiting for them unwind (one that was starting kills its own command).
    Safe in a signal handler: no locks, and `list()` of a set is one atomic step.
    """
    global _interrupted
    _interrupted = True
    busy = bool(_running or _starting)
    for group in list(_running):
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    return busy


def run_shell(
    command: str, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> ShellResult:
    started = time.monotonic()
    ticket = next(_tickets)
    _starting.add(ticket)
    try:
        if _interrupted:
            return ShellResult(None, "not run: taskmux was interrupted", 0.0)
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _running.add(proc.pid)
    except OSError as exc:  # a missing cwd, mostly
        return ShellResult(None, f"cannot run: {exc.strerror or exc}", 0.0)
    finally:
        _starting.discard(ticket)
    try:
        if _interrupted:  # interrupt() came while it started and may have missed it
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        out, timed_out = _wait(proc, timeout)
    except BaseException:  # Ctrl+C, or an exit: the command must not outlive the wait
        _kill_group(proc)
        raise
    finally:
        _running.discard(proc.pid)
    text = out.decode(errors="replace").strip()[-OUTPUT_LIMIT:]
    code = None if timed_out else proc.returncode
    return ShellResult(code, text, time.monotonic() - started, timed_out)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bool]:
    """The command's output, and whether it had to be killed at the timeout."""
    try:
        out, _ = proc.communicate(timeout=timeout)
        return out, False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, _ = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:  # a setsid child holds the pipe open
            _kill_group(proc)
            out = b""
        return out, True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command's whole group, close our end of its pipe and reap it."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
