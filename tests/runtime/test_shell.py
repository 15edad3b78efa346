"""Which command lines sh may replace itself with (`exec`), as a table; and how a\ncommand run by `run_shell` (hooks, checks) ends when the wait is cut short."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
from harness import pid_alive, wait_until

from taskmux.runtime.shell import exec_form, run_shell


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("sleep 300", "exec sleep 300"),
        ("python3 -u worker.py --port 8000", "exec python3 -u worker.py --port 8000"),
        ("npm run dev", "exec npm run dev"),
        ("exit 3", "exit 3"),  # sh's own words
        ("cd web", "cd web"),
        ("X=1 server", "X=1 server"),  # an assignment prefix
        ("a && b", "a && b"),
        ("a; b", "a; b"),
        ("a | b", "a | b"),
        ("echo $HOME", "echo $HOME"),
        ('echo "quoted"', 'echo "quoted"'),
        ("sleep 1 &", "sleep 1 &"),
        ("ls *.py", "ls *.py"),
        ("", ""),
    ],
)
def test_exec_only_plain_program_calls(command: str, expected: str) -> None:
    assert exec_form(command) == expected


def test_ctrl_c_while_waiting_kills_the_commands_group_and_re_raises(tmp_path: Path) -> None:
    """The command runs in its own process group, out of the terminal's Ctrl+C: the
    interrupted wait must kill that group (the command and its children) itself."""
    pid_file = tmp_path / "pids"
    command = f"echo $$ > {pid_file}; sleep 600 & echo $! >> {pid_file}; sleep 601"
    found: list[psutil.Process] = []

    def interrupt_once_running() -> None:
        wait_until(lambda: pid_file.exists() and len(pid_file.read_text().split()) == 2)
        shell = psutil.Process(int(pid_file.read_text().split()[0]))
        wait_until(lambda: len(shell.children()) >= 2)
        found.extend([shell, *shell.children()])
        os.kill(os.getpid(), signal.SIGINT)  # Python's own handler: KeyboardInterrupt

    timer = threading.Thread(target=interrupt_once_running, daemon=True)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_shell(command, tmp_path, timeout=60)
        timer.join(5)
        assert len(found) == 3
        wait_until(lambda: not any(pid_alive(p.pid) for p in found), timeout=3)
    finally:
        for proc in found:
            with contextlib.suppress(psutil.Error):
                proc.kill()


def test_a_timeout_kills_the_group_and_says_so(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_shell("sleep 30 & echo $!; sleep 31", tmp_path, timeout=0.5)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 5
    child = int(result.output.split()[0])
    wait_until(lambda: not pid_alive(child), timeout=3)
