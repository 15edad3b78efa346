"""Plumbing for daemon and watch tests: a private tmux server, a project folder, a real
daemon process, a websockets client, and polling with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import TASKMUX, kill_tmux_server, run_cli

from taskmux.runtime import timing
from taskmux.runtime.timing import Timing
from taskmux.statedir.paths import ProjectPaths

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll until `predicate()` is truthy and return it; fail the test at the deadline."""
    value = timing.wait_until(predicate, timeout, interval=interval)
    if not value:
        raise AssertionError(f"condition not met within {timeout}s: {predicate}")
    return value


@pytest.fixture
def tmux_socket(monkeypatch: pytest.MonkeyPatch, fast_timing: Timing) -> Iterator[str]:
    """A private tmux server for this test (by socket name), killed afterwards."""
    name = f"tmx-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", name)
    yield name
    kill_tmux_server(name)


def write_config(root: Path, text: str) -> Path:
    """Replace the config the way editors do: a new file renamed over the old one."""
    path = root / "taskmux.toml"
    tmp = root / ".taskmux.toml.swp"
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def status(root: Path) -> dict[str, dict[str, Any]]:
    """`taskmux status --json`, by task name."""
    result = run_cli("status", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["tasks"]}


def pids(root: Path) -> dict[str, int | None]:
    return {name: row["pid"] for name, row in status(root).items()}


def start_tasks(root: Path, *names: str) -> None:
    """`taskmux start NAMES`, then wait until every task it started runs."""
    result = run_cli("start", "--json", *names, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    wanted = [*report["started"], *report["already_running"]]
    wait_for(lambda: all(status(root)[name]["running"] for name in wanted))


class DaemonFiles:
    """What a test reads of a running daemon, whichever way it runs: its URL, token and
    log, from its state file's record (`info`) and its state folder (`paths`)."""

    info: dict[str, Any]
    paths: ProjectPaths

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def token(self) -> str:
        return Path(self.info["token_file"]).read_text().strip()

    @property
    def log_text(self) -> str:
        return self.paths.daemon_log.read_text() if self.paths.daemon_log.exists() else ""


@dataclass
class DaemonProcess(DaemonFiles):
    """A `taskmux daemon` run as a real process, found through its state file."""

    process: subprocess.Popen[bytes]
    paths: ProjectPaths
    output: Path
    info: dict[str, Any]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Terminate (then kill) the process; always safe to call again."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def spawn_daemon(root: Path, output: Path, *args: str) -> subprocess.Popen[bytes]:
    """Run `taskmux daemon --port 0 ARGS` in the project, its output going to a file."""
    with output.open("wb") as sink:
        return subprocess.Popen(
            [TASKMUX, "daemon", "--port", "0", *args],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )


class DaemonThread(DaemonFiles):
    """`taskmux daemon` run in a thread of the test's process: the same `Daemon` the
    command runs, without an interpreter start of its own (or its signal handlers).
    What only a process shows (SIGKILL, `daemon stop`, which signals its pid: this one's)
    uses `DaemonProcess`: `start_daemon(..., process=True)`."""

    def __init__(self, root: Path, ui_port: int, port: int = 0) -> None:
        from taskmux.cli.daemon_cmds import _login_ttl  # the command's own reading
        from taskmux.config.project import load_project
        from taskmux.daemon.server import Daemon, Settings

        self.paths = ProjectPaths.for_config(root / "taskmux.toml")
        self.info: dict[str, Any] = {}
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._switch = sys.getswitchinterval()
        settings = Settings(port, ui_port, login_ttl=_login_ttl(), handle_signals=False)
        self.daemon = Daemon(load_project(root / "taskmux.toml"), settings, self._on_ready)
        self._thread = threading.Thread(target=self._run, name="daemon", daemon=True)

    def _on_ready(self, info: Any) -> None:
        self.info = info.to_dict()
        self._ready.set()

    def _run(self) -> None:
        try:
            self.daemon.run()
        except BaseException as exc:  # noqa: BLE001 - the waiting test fails with it
            self.error = exc
        finally:
            self._ready.set()

    def begin(self) -> DaemonThread:
        self._thread.start()
        if not self._ready.wait(20) or self.error is not None or not self.info:
            self.stop()
            raise AssertionError(f"daemon did not start: {self.error!r}")
        return self

    @property
    def pid(self) -> int:
        return os.getpid()

    def stop(self) -> None:
        """End it as SIGTERM would; always safe to call again."""
        self.daemon.request_stop()
        self._thread.join(15)
        sys.setswitchinterval(self._switch)  # the daemon shortens it for the process
        assert not self._thread.is_alive(), "the daemon did not stop within 15 s"


def start_daemon(root: Path, *args: str, process: bool = False) -> DaemonProcess | DaemonThread:
    """A daemon for the project at `root`: in a thread of this process, or with `process`
    a real `taskmux daemon` (args: `--ui-port N` only, in a thread)."""
    if not process:
        ui_port = int(args[args.index("--ui-port") + 1]) if "--ui-port" in args else 0
        return DaemonThread(root, ui_port).begin()
    return start_daemon_process(root, *args)


def start_daemon_process(root: Path, *args: str) -> DaemonProcess:
    """Start a daemon and wait until its state file names it; fail if it exits first."""
    paths = ProjectPaths.for_config(root / "taskmux.toml")
    output = root.parent / f"daemon-{uuid.uuid4().hex[:8]}.out"
    process = spawn_daemon(root, output, *args)

    def ready() -> dict[str, Any] | None:
        if process.poll() is not None:
            raise AssertionError(f"daemon exited with {process.returncode}: {output.read_text()}")
        try:
            info = json.loads(paths.daemon_state.read_text())
        except (OSError, ValueError):
            return None
        return info if info.get("pid") == process.pid else None

    try:
        info = wait_for(ready, timeout=20)
    except BaseException:
        DaemonProcess(process, paths, output, {}).stop()
        raise
    return DaemonProcess(process, paths, output, info)


@contextlib.contextmanager
def running_daemon(
    root: Path, *args: str, process: bool = False
) -> Iterator[DaemonProcess | DaemonThread]:
    daemon = start_daemon(root, *args, process=process)
    try:
        yield daemon
    finally:
        daemon.stop()


# A websockets client -----------------------------------------------------------------


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


@contextlib.asynccontextmanager
async def client(daemon: DaemonProcess | DaemonThread, **kwargs: Any) -> Any:
    from websockets.asyncio.client import connect

    kwargs.setdefault("additional_headers", headers(daemon.token))
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("open_timeout", 20)
    async with connect(daemon.url, **kwargs) as websocket:
        yield websocket


async def request(websocket: Any, command: str, params: dict[str, Any] | None = None) -> Any:
    """Send one request and return its reply (skipping pushed events)."""
    ident = uuid.uuid4().hex
    await websocket.send(json.dumps({"id": ident, "command": command, "params": params or {}}))
    while True:
        reply = json.loads(await asyncio.wait_for(websocket.recv(), 30))
        if reply.get("id") == ident:
            return reply


def call(
    daemon: DaemonProcess | DaemonThread, command: str, params: dict[str, Any] | None = None
) -> Any:
    """One request on a fresh connection, from synchronous test code."""

    async def go() -> Any:
        async with client(daemon) as websocket:
            return await request(websocket, command, params)

    return asyncio.run(go())
