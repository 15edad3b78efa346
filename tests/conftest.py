"""Shared test plumbing: an isolated home for every test, and a way to run the real CLI.

Keep this file small and generic; feature-specific fixtures live next to their tests.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest


def _taskmux_script() -> str:
    """The installed `taskmux` console script of the interpreter running the tests."""
    script = Path(sys.executable).parent / "taskmux"
    if script.is_file():
        return str(script)
    found = shutil.which("taskmux")
    if found is None:
        raise RuntimeError("the taskmux console script is not installed (pip install -e .)")
    return found


TASKMUX = _taskmux_script()


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point HOME and XDG_STATE_HOME at a fresh temp dir (outside `tmp_path`, which stays
    empty for the test's project) so no dotfile or state leaks in or out."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("SHELL", "/bin/sh")
    # TMUX would point tmux clients at the server the tests happen to run inside.
    for name in ("TASKMUX_CONFIG", "TASKMUX_TMUX_SOCKET", "TMUX", "TMUX_PANE"):
        monkeypatch.delenv(name, raising=False)
    return home


def run_cli(
    *args: str,
    cwd: Path | str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `taskmux` in a fresh process; stdin is /dev/null unless `input`."""
    return subprocess.run(
        [TASKMUX, *args],
        cwd=cwd,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def kill_tmux_server(socket_name: str) -> None:
    """End a private tmux server and remove its socket file (tmux leaves it behind)."""
    if shutil.which("tmux"):
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], capture_output=True, check=False)
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    Path(base, f"tmux-{os.getuid()}", socket_name).unlink(missing_ok=True)


def _as_root(argv: list[str]) -> None:
    """useradd/userdel fail while another test holds the passwd lock: try again."""
    deadline = time.monotonic() + 20
    while True:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{argv}: {done.stderr}")
        time.sleep(0.2)  # the retry step of a deadline loop


@pytest.fixture
def other_user() -> Iterator[pwd.struct_passwd]:
    """A second real user for the duration of one test (needs root and useradd)."""
    if os.geteuid() != 0:
        pytest.skip("creating a second user needs root")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.skip("useradd/userdel are not installed")
    name = f"tmx{secrets.token_hex(4)}"
    _as_root(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
    try:
        yield pwd.getpwnam(name)
    finally:
        _as_root(["userdel", name])
