"""A real taskmux project on a private tmux server, driven through the CLI.

`Project.run`/`json` run the CLI's own entry point in the test's process (see cli_runner;
`installed=True`, or TASKMUX_TEST_CLI=installed, runs the installed command instead);
`spawn` starts a real long-running process. Import the `project` fixture into a test
module to use it. Teardown kills the tmux
server (libtmux's `server` fixture reaps it) and every process that still carries one
of this project's environment markers, even when the test failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from cli_runner import TASKMUX, run_in_process, run_taskmux
from conftest import kill_tmux_server
from libtmux import Server
from spool_feed import stop_collector

from taskmux.config.taskenv import MARKER_VAR
from taskmux.runtime import timing
from taskmux.runtime.timing import Timing
from taskmux.statedir.paths import ProjectPaths

if TYPE_CHECKING:
    from taskmux.service import Service
    from taskmux.statedir.claim import Claim
    from taskmux.supervision.config_watch import ReloadOutcome
    from taskmux.supervision.monitor import Monitor


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; return its value or fail after `timeout` s."""
    value = timing.wait_until(predicate, timeout, interval=interval)
    if not value:
        raise AssertionError(f"condition not met within {timeout}s: {predicate}")
    return value


def holds_for(predicate: Callable[[], Any], seconds: float, interval: float = 0.1) -> None:
    """Assert that `predicate()` stays truthy for the whole window (polled to a deadline)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), f"condition stopped holding: {predicate}"
        time.sleep(interval)


def run_refused(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`taskmux ARGS` of a command that runs long (`start -m`, `daemon`) which the test
    expects refused at once (another supervisor holds the claim, a busy port, a bad
    option): in this process, as a command that returns, without an interpreter start.
    Were it not refused, it would run here until pytest-timeout ends the test: a failure
    either way."""
    switch = sys.getswitchinterval()  # the daemon shortens it for its process
    try:
        return run_in_process(args, cwd=cwd, env={**os.environ, **(env or {})})
    finally:
        sys.setswitchinterval(switch)


def count_tmux_reads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """From now on, the time of every tmux read (`list-panes`) in this process."""
    from taskmux.runtime.tmux_manager import Tmux

    reads: list[float] = []
    real = Tmux._observe_once

    def counted(self: Tmux, *args: Any, **kwargs: Any) -> Any:
        reads.append(time.monotonic())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Tmux, "_observe_once", counted)
    return reads


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Project:
    """A temp project folder with a taskmux.toml, and the CLI pointed at a private server."""

    def __init__(self, root: Path, socket_name: str) -> None:
        self.root = root
        self.socket_name = socket_name
        self.session = f"t{root.name[-12:]}".replace(".", "_")
        self.env = {**os.environ, "TASKMUX_TMUX_SOCKET": socket_name}
        self.children: list[subprocess.Popen[str]] = []
        self.supervisors: list[Supervising] = []

    @property
    def config(self) -> Path:
        return self.root / "taskmux.toml"

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths.for_config(self.config)

    def write(self, body: str) -> None:
        self.config.write_text(f'name = "{self.session}"\n' + textwrap.dedent(body))

    def run(
        self, *args: str, timeout: float = 60, installed: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """`taskmux ARGS` in the project (in this process unless it runs long or `installed`)."""
        return run_taskmux(args, cwd=self.root, env=self.env, timeout=timeout, installed=installed)

    def json(self, *args: str, timeout: float = 60, installed: bool = False) -> dict[str, Any]:
        result = self.run(*args, "--json", timeout=timeout, installed=installed)
        assert "Traceback" not in result.stderr, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def refused(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`taskmux ARGS` of a command that runs long, expected to be refused at once
        (see `run_refused`)."""
        return run_refused(args, cwd=self.root, env=self.env)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start a long-running CLI process (e.g. `start -m`); killed at teardown."""
        proc = subprocess.Popen(
            [TASKMUX, *args],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.children.append(proc)
        return proc

    def supervise(self, *names: str) -> Supervising:
        """`start -m NAMES` in this process: the same start, then the same `Monitor` the
        command runs, in a thread (ended at teardown, or by `Supervising.end`). Saves a
        process start per test; what only a real process shows (signals, a crash of the
        supervisor, its printed lines) still uses `spawn("start", "-m")`."""
        supervising = Supervising.begin(self, list(names))
        self.supervisors.append(supervising)
        return supervising

    def service(self, timing: Timing | None = None) -> Service:
        """The project's `Service` in this process, on its tmux server (`timing`: None,
        the product's default in effect, which the `project` fixture makes the fast one)."""
        from taskmux.config.project import load_project
        from taskmux.runtime.tmux_manager import Tmux
        from taskmux.service import ConfigInUse, Service

        config = ConfigInUse(load_project(self.config))
        return Service(config, Tmux(self.socket_name), timing=timing)

    def status(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.json("status")["tasks"]}

    def state(self, task: str) -> str:
        return str(self.status()[task]["state"])

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket_name, *args], capture_output=True, text=True, check=False
        )

    def events(self) -> list[dict[str, Any]]:
        return list(self.json("events", "-n", "1000")["events"])

    def marked_processes(self) -> list[psutil.Process]:
        """The processes that carry this project's task marker, wherever they went. Read
        from /proc directly: every test's cleanup runs this over every process of the
        machine, and psutil's parsed environments cost six times as much."""
        needle = f"\0{MARKER_VAR}={self.paths.marker_prefix}".encode()
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as handle:
                    if needle not in b"\0" + handle.read():
                        continue
                found.append(psutil.Process(int(entry.name)))
            except (OSError, psutil.Error):
                continue
        return found

    def cleanup(self) -> None:
        for supervising in self.supervisors:
            supervising.end()
        for proc in self.children:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)
        kill_tmux_server(self.socket_name)
        stop_collector(self.paths.root)
        for proc in self.marked_processes():
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except OSError:
                continue


class Supervising:
    """A project's supervision running in a thread of the test's process (see
    `Project.supervise`): its claim, its monitor and the reloads it applied."""

    def __init__(self, claim: Claim, monitor: Monitor, report: Any) -> None:
        self.claim = claim
        self.monitor = monitor
        self.report = report  # what the start returned (its PartialFailure's result too)
        self.reloads: list[ReloadOutcome] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervise", daemon=True)

    @classmethod
    def begin(cls, project: Project, names: list[str]) -> Supervising:
        from taskmux.config.project import load_project
        from taskmux.errors import PartialFailure
        from taskmux.runtime.tmux_manager import Tmux
        from taskmux.service import ConfigInUse, Service
        from taskmux.supervision.monitor import Monitor
        from taskmux.supervision.supervisor import claim_supervision

        tmux = Tmux(socket_name=project.socket_name)
        starter = Service(ConfigInUse(load_project(project.config)), tmux)
        claim = claim_supervision(starter.project.paths.supervisor_lock, "start -m")
        try:
            try:
                report: Any = starter.start(names or None)
            except PartialFailure as failure:
                report = failure.result
            service = Service(starter.config, tmux)
            reloads: list[ReloadOutcome] = []
            monitor = Monitor(service, starter.lifecycle().last_sight, reloads.append)
            supervising = cls(claim, monitor, report)
            supervising.reloads = reloads
            monitor.__enter__()
        except BaseException:
            claim.release()
            raise
        supervising._thread.start()
        return supervising

    def _run(self) -> None:
        try:
            self.monitor.run(self._stop)
        except Exception as exc:  # noqa: BLE001 - the test sees it: not `alive`, and `error`
            self.error = exc

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def end(self) -> None:
        """Stop supervising (as SIGTERM does `start -m`); tasks keep running. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.monitor.wake()
        self._thread.join(timeout=15)
        self.monitor.__exit__(None, None, None)
        self.claim.release()
        assert not self._thread.is_alive(), "the supervisor did not end within 15 s"


@pytest.fixture
def project(
    tmp_path: Path, server: Server, fast_timing: Timing, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    assert server.socket_name
    # This process's own tmux server is the test's too: a supervisor running in a thread
    # here (`Project.supervise`) and every in-process CLI call agree on it.
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", server.socket_name)
    proj = Project(tmp_path, server.socket_name)
    try:
        yield proj
    finally:
        proj.cleanup()
