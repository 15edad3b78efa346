"""Shared test plumbing: an isolated home for every test, and a way to run the CLI.

Keep this file small and generic; feature-specific fixtures live next to their tests.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cli_runner import TASKMUX as TASKMUX
from cli_runner import run_taskmux

import taskmux
from taskmux.runtime import timing
from taskmux.runtime.timing import TIMING_VAR, Timing

# Every process the suite spawns (`start -m`, the daemon, the installed command) waits the
# fast pauses too; tests/e2e/ takes this out again to drive the product's own.
os.environ[TIMING_VAR] = "fast"
# Bytecode is cached for this run whatever the machine says: with PYTHONDONTWRITEBYTECODE
# every worker would rewrite and compile every test module again (seconds each), and
# every spawned process every module of the package.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
# A task's `python3` is this interpreter, not a version manager's shim in front of it
# (pyenv's costs ~300 ms of shell a call).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown under `-p no:xdist`
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: three workers a core. Most tests spend more time waiting (for tmux to
    notice an exit, for a settle window, for a process to end) than computing, so one
    worker a core leaves the cores idle most of the time (on 2 cores: 4 workers ran the
    default set in 86 s, 6 in 72 s, 8 in 69 s with the cores saturated)."""
    return 3 * len(os.sched_getaffinity(0))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, in the controller
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` that works with pytest 9 (see tests/xdist_groups.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist_groups import declared_groups, make_scheduler

    here = Path(__file__).parent
    return make_scheduler(config, log, declared_groups(here, config.rootpath))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Under xdist, tests marked `xdist_group` run in one worker (`--dist loadgroup`): the
    MCP tests share the worker that imports the MCP SDK (~1.7 s of CPU), instead of every
    worker paying for it. Runs before xdist's own hook, which would pick plain `load`."""
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", "no") == "no":
        option.dist = "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    """Compile the package once, before the workers start: each process the tests spawn
    then reads bytecode instead of compiling every module it imports (when the machine
    sets PYTHONDONTWRITEBYTECODE, nothing would ever be cached)."""
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(Path(taskmux.__file__).parent, quiet=1)
        if getattr(config.option, "numprocesses", None):
            _rewrite_test_modules(config)


def _rewrite_test_modules(config: pytest.Config) -> None:
    """Before the xdist workers start, rewrite the test modules' asserts once and cache
    them as pytest does: on a fresh clone every worker would otherwise rewrite every
    module itself (about 4 s of CPU each). pytest's own cache format and checks, through
    its internals; should they change, the workers simply rewrite as before."""
    try:
        from _pytest.assertion import rewrite

        state = config.stash[rewrite.assertstate_key]
        for path in sorted(Path(__file__).parent.rglob("test_*.py")):
            pyc = rewrite.get_cache_dir(path) / (path.name[:-3] + rewrite.PYC_TAIL)
            if rewrite._read_pyc(path, pyc, state.trace) is not None:
                continue  # already cached, and still true to its source
            if rewrite.try_makedirs(pyc.parent):
                source_hash, code = rewrite._rewrite_test(path, config)
                rewrite._write_pyc(state, code, source_hash, pyc)
    except (ImportError, AttributeError, KeyError, OSError, SyntaxError):
        return


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
    # No test may serve the URL proxy on the user's port (28780): off unless a test turns
    # it on with a free port of its own (tests/proxy/).
    monkeypatch.setenv("TASKMUX_PROXY_PORT", "0")
    return home


def run_cli(
    *args: str,
    cwd: Path | str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    installed: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `taskmux ARGS` (in this process unless it runs long or `installed`, see
    cli_runner); stdin is empty and not a terminal unless `input`."""
    return run_taskmux(
        args,
        cwd=cwd,
        input=input,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        installed=installed,
    )


@pytest.fixture
def fast_timing(monkeypatch: pytest.MonkeyPatch) -> Timing:
    """`Timing.fast()` as the product's default for this test: in-process CLI runs and
    services built without a timing wait milliseconds where the product waits its pauses."""
    fast = Timing.fast()
    monkeypatch.setattr(timing, "DEFAULT", fast)
    return fast


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


@pytest.fixture(scope="session")
def other_user() -> Iterator[pwd.struct_passwd]:
    """A second real user (needs root and useradd), one for the worker's whole session:
    `useradd` and `userdel` cost up to a second each, and every test that uses it ends
    the processes it starts as that user."""
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


@pytest.fixture
def small_disk(isolated_home: Path) -> Iterator[Path]:
    """The state folder's file system: a 4 MB tmpfs (root only), filled on demand."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where = Path(os.environ["XDG_STATE_HOME"])
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:  # lazily: a task's `cat` and the collector may still hold files there
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(folder: Path) -> Path:
    """Fill the file system under `folder` (unbuffered: closing the filler cannot fail)."""
    filler = folder / "filler"
    with open(filler, "ab", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
    return filler
