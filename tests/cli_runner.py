"""Run the taskmux CLI for a test: in the test's own process, or as the installed command.

In-process runs go through `taskmux.cli.entry.run(argv)`, the installed command's own
entry point (same parser, service and renderer), with the call's cwd and environment,
stdin that is not a terminal, stdout/stderr captured, and SystemExit turned into the
exit code. They save an interpreter start and every import per call. What only a real
process shows (the console script, signals, a command that runs until stopped) uses
`run_installed`; `tests/e2e/` drives the installed command on purpose.

`TASKMUX_TEST_CLI=installed` in the environment makes every run a real process again
(to rule the in-process shortcut out when a test behaves oddly).
"""

from __future__ import annotations

import gc
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


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
ALWAYS_INSTALLED = os.environ.get("TASKMUX_TEST_CLI") == "installed"

# Commands that run until they are stopped, or own signals and threads of their own.
_FOLLOWERS = frozenset({"logs", "events"})
_ROOT_OPTIONS_WITH_VALUE = frozenset({"-c", "--config"})


def runs_long(args: Sequence[str]) -> bool:
    """Whether `taskmux ARGS` supervises, serves or follows (so needs a process of its own)."""
    words = [arg for arg in args if arg != "--json"]
    index = 0
    while index < len(words) and words[index].startswith("-"):
        index += 2 if words[index] in _ROOT_OPTIONS_WITH_VALUE else 1
    if index >= len(words):
        return False
    command, rest = words[index], words[index + 1 :]
    if "--help" in rest or "-h" in rest:
        return False
    if command == "start":
        return "-m" in rest or "--monitor" in rest
    if command == "daemon":
        return not rest or rest[0] not in ("status", "stop")
    if command == "mcp":
        return not rest or rest[0] != "install"
    if command in _FOLLOWERS:
        return "-f" in rest or "--follow" in rest
    return command == "watch"


def run_installed(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    input: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `taskmux` in a fresh process; stdin is /dev/null unless `input`."""
    return subprocess.run(
        [TASKMUX, *args],
        cwd=cwd,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _capture() -> io.TextIOWrapper:
    """A text stream with a `.buffer` (the log printer writes bytes), never a terminal."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)


def _captured(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    # What `text=True` of a subprocess would give: decoded, universal newlines.
    return raw.getvalue().decode("utf-8", "replace").replace("\r\n", "\n")


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")  # sys.exit("message") prints it, exit 1
    return 1


def _reset_process_state() -> None:
    """Module state one CLI process would have thrown away with itself."""
    from taskmux.cli import jsonout

    jsonout.config_error = None
    spool = sys.modules.get("taskmux.logs.spool")
    if spool is not None:
        for child in spool._spawned:  # a collector the call started
            _reap_when_it_ends(child)
        spool._spawned = []
    shell = sys.modules.get("taskmux.runtime.shell")
    if shell is not None:
        shell._interrupted = False


def _drop_resource_warnings(
    forward: Callable[[Any], object],
) -> Callable[[Any], object]:
    """An unraisable hook for the length of one call: a file or child a command leaves to
    the end of its process (which closes and reaps them) is no failure of the test."""

    def hook(unraisable: Any) -> None:
        if not issubclass(unraisable.exc_type, ResourceWarning):
            forward(unraisable)

    return hook


def _reap_when_it_ends(child: subprocess.Popen[bytes]) -> None:
    """A real command's children go to init when it exits, which reaps them; ours stay
    children of the test's process, so a thread waits for each: no zombie keeps its pid
    looking alive (a supervisor watching it by pid would wait for nothing)."""
    threading.Thread(target=child.wait, name="reap-collector", daemon=True).start()


def _set_environ(env: Mapping[str, str]) -> None:
    """Make os.environ `env`, touching only the variables that differ: a supervisor
    running in a thread of this process (`Project.supervise`) never sees HOME or
    XDG_STATE_HOME missing for a moment."""
    for name in [name for name in os.environ if name not in env]:
        del os.environ[name]
    for name, value in env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def run_in_process(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `taskmux ARGS` through the entry point in this process, as a command would run."""
    from taskmux.cli import entry

    out, err = _capture(), _capture()
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_handlers = {
        signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    saved_hook = sys.unraisablehook
    code = 0
    try:
        sys.unraisablehook = _drop_resource_warnings(saved_hook)
        _set_environ(env)
        os.chdir(cwd)
        sys.stdin = io.StringIO(input or "")
        sys.stdout, sys.stderr = out, err
        _reset_process_state()
        try:
            entry.run(list(args))
        except SystemExit as done:
            code = _exit_code(done.code)
        # A bug's traceback, printed the way an uncaught error ends a real process.
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            code = 1
    finally:
        gc.collect()  # what the call left behind goes now, while the hook above is in place
        # What survives is the long-lived heap (modules, pydantic schemas, caches): moved
        # out of the collector's sight, so the next call's collect looks at its own objects
        # only (a full collect of the whole heap cost ~90 ms a call).
        gc.freeze()
        sys.unraisablehook = saved_hook
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        for signum, handler in saved_handlers.items():
            signal.signal(signum, handler)
        os.chdir(saved_cwd)
        _set_environ(saved_env)
        _reset_process_state()
    return subprocess.CompletedProcess(
        ["taskmux", *args], code, stdout=_captured(out), stderr=_captured(err)
    )


def run_taskmux(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    input: str | None = None,
    timeout: float = 60,
    installed: bool = False,
) -> subprocess.CompletedProcess[str]:
    """In this process when it can be (the main thread, a command that returns), else the
    installed command. `timeout` only bounds a real process (pytest-timeout bounds ours)."""
    if (
        installed
        or ALWAYS_INSTALLED
        or runs_long(args)
        or threading.current_thread() is not threading.main_thread()
    ):
        return run_installed(args, cwd=cwd, env=env, input=input, timeout=timeout)
    return run_in_process(args, cwd=cwd, env=env, input=input)
