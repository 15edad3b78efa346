"""What every scenario shares: figures, the tool under test, and the sandbox it runs in.

A `Sandbox` is a temp folder with its own HOME, state folder, project, and a private tmux
server. Isolation does not rely on the tool's good manners: a `tmux` wrapper first on
PATH adds `-S <private socket>` to every tmux call (tmux lets `-S` win over any `-L`),
TMUX_TMPDIR points into the temp folder, and TMUX is unset. The wrapper can also count
the calls (one NUL-terminated record per call) for the round-trip figures.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

SANDBOX_VAR = "TASKMUX_BENCH_SANDBOX"
COUNT_VAR = "TASKMUX_BENCH_TMUX_COUNT"
DEFAULT_TIMEOUT = 120.0


class BenchError(Exception):
    """A scenario could not measure what it meant to: the message says why."""


class Unsupported(Exception):
    """The tool under test cannot do what the scenario measures (the message says why)."""


@dataclass
class Figure:
    """One measured figure: the value of each run, its goal, and what was seen."""

    scenario: str
    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    goal: str = "—"
    limit: float | None = None  # the goal is met when the median is at most this
    note: str = ""
    status: str = "ok"  # ok, unsupported, failed
    reason: str = ""
    spec: str = ""  # the SPEC §7 figure this measures (an id of bench.spec.FIGURES), if any
    limits: str = ""  # what limits the figure, as measured or known

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def met(self) -> bool | None:
        if self.status != "ok" or self.limit is None or self.median is None:
            return None
        return self.median <= self.limit

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        """A figure back from `to_dict`'s JSON (for `--report`)."""
        names = {"scenario", "name", "unit", "values", "goal", "note", "status", "reason"}
        figure = cls(**{key: data[key] for key in names if key in data})
        figure.limit = data.get("goal_limit")
        figure.spec = data.get("spec", "")
        figure.limits = data.get("limits", "")
        return figure

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("limit")
        data |= {
            "median": self.median,
            "min": min(self.values) if self.values else None,
            "max": max(self.values) if self.values else None,
            "goal_limit": self.limit,
            "met": self.met,
        }
        return data


@dataclass
class Context:
    """What a scenario is handed: the tool, how many runs, and how big."""

    tool: Tool
    runs: int
    quick: bool
    verbose: bool = False
    driver: Any = None  # a bench.drivers.Driver: how to run the scenario's workload

    @property
    def label(self) -> str:
        return self.tool.label

    def with_runs(self, runs: int) -> Context:
        """The same context with another number of runs (slow figures get fewer)."""
        return replace(self, runs=max(1, runs))

    def log(self, message: str) -> None:
        if self.verbose:
            sys.stderr.write(f"    · {message}\n")
            sys.stderr.flush()


# The tool under test -----------------------------------------------------------------


class Tool:
    """A taskmux-compatible executable and what it can do (probed from its --help)."""

    def __init__(self, path: str, label: str, trusted: bool = False) -> None:
        self.path = path
        self.label = label
        # This repo's CLI is known to honour TASKMUX_TMUX_SOCKET, so a scenario may run it
        # without the socket-forcing tmux wrapper; any other tool always goes through it.
        self.trusted = trusted
        self._help: dict[tuple[str, ...], str] = {}
        self.checked_isolation = False

    def help_text(self, sandbox: Sandbox, *command: str) -> str:
        key = tuple(command)
        if key not in self._help:
            result = sandbox.run(*command, "--help", check=False, timeout=30)
            self._help[key] = result.stdout + result.stderr if result.returncode == 0 else ""
        return self._help[key]

    def has_command(self, sandbox: Sandbox, *command: str) -> bool:
        """Whether `tool COMMAND --help` shows that command's own usage line.

        A missing command exits non-zero; a missing *sub*command may still print its
        parent's help (click handles --help before it rejects the extra word).
        """
        text = self.help_text(sandbox, *command)
        usage = next((line for line in text.splitlines() if "Usage:" in line), "")
        return " ".join(command) in usage

    def has_option(self, sandbox: Sandbox, option: str, *command: str) -> bool:
        return option in self.help_text(sandbox, *command)

    def require(self, sandbox: Sandbox, *command: str, option: str | None = None) -> None:
        """Raise Unsupported unless the command (and option) exist."""
        name = " ".join(command)
        if not self.has_command(sandbox, *command):
            raise Unsupported(f"no `{name}` command")
        if option and not self.has_option(sandbox, option, *command):
            raise Unsupported(f"`{name}` has no {option}")

    def version(self) -> str:
        try:
            proc = subprocess.run(
                [self.path, "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
                env=_scrubbed_env(),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        text = (proc.stdout or proc.stderr).strip().splitlines()
        if proc.returncode == 0 and text:
            return text[0]
        interpreter = _python_shebang(self.path)  # no --version: ask its package metadata
        if interpreter is None:
            return "?"
        probe = subprocess.run(
            [
                interpreter,
                "-I",
                "-c",
                "import importlib.metadata as m; print(m.version('taskmux'))",
            ],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=30,
            env=_scrubbed_env(),
            check=False,
        )
        return f"taskmux {probe.stdout.strip()}" if probe.returncode == 0 else "?"


# Running processes -----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float  # seconds of wall time, from spawn to exit

    def describe(self) -> str:
        tail = (self.stderr or self.stdout).strip().splitlines()[-3:]
        return f"`{' '.join(self.argv[1:])}` exited {self.returncode}: " + " | ".join(tail)


def _scrubbed_env() -> dict[str, str]:
    """The caller's environment without anything that points at their tmux or project."""
    env = dict(os.environ)
    for name in ("TMUX", "TMUX_PANE", "TASKMUX_CONFIG", "TASKMUX_TMUX_SOCKET", COUNT_VAR):
        env.pop(name, None)
    # Measure the CLI as an installed package runs: with its bytecode cache. Without it,
    # every call compiles taskmux's modules again (tens of ms).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def real_tmux() -> str:
    found = shutil.which("tmux")
    if found is None:
        raise BenchError("tmux is not installed")
    return os.path.realpath(found)


WRAPPER = """#!/bin/sh
# taskmux bench: every tmux call goes to this sandbox's private server.
if [ -n "${COUNT_VAR}" ]; then printf '%s\\0' "$*" >> "${COUNT_VAR}"; fi
exec {tmux} -S {socket} "$@"
"""


class Sandbox:
    """A temp folder with its own HOME, project and private tmux server; cleans up on exit."""

    def __init__(self, tool: Tool, label: str = "bench", wrap_tmux: bool = True) -> None:
        self.tool = tool
        self.label = label
        self.children: list[subprocess.Popen[bytes]] = []
        self.before_cleanup: list[Callable[[], None]] = []  # e.g. a peer's own shutdown
        self.root = Path(tempfile.mkdtemp(prefix=f"tmxb-{label[:8]}-"))
        self.id = self.root.name
        self.home = self.root / "home"
        self.project = self.root / "proj"
        self.ready = self.root / "ready"
        self.bin = self.root / "bin"
        tmux_dir = self.root / "tmux"
        self.socket_name = f"b{secrets.token_hex(4)}"
        self.socket_path = tmux_dir / f"tmux-{os.getuid()}" / self.socket_name
        self.session = f"bench{secrets.token_hex(3)}"
        self.tmux_binary = real_tmux()
        for folder in (self.home, self.project, self.ready, self.bin, self.socket_path.parent):
            folder.mkdir(parents=True, mode=0o700)
        wrapper = self.bin / "tmux"
        if wrap_tmux:
            wrapper.write_text(
                WRAPPER.replace("{COUNT_VAR}", COUNT_VAR)
                .replace("{tmux}", self.tmux_binary)
                .replace("{socket}", str(self.socket_path))
            )
            wrapper.chmod(0o755)
        else:  # no per-call cost; isolation then rests on TMUX_TMPDIR and the socket name
            wrapper.symlink_to(self.tmux_binary)
        env = _scrubbed_env()
        env |= {
            "HOME": str(self.home),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "TMUX_TMPDIR": str(tmux_dir),
            "TASKMUX_TMUX_SOCKET": self.socket_name,
            "SHELL": "/bin/sh",
            "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            SANDBOX_VAR: self.id,
        }
        self.env = env
        self._check_isolation()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cleanup()

    def _check_isolation(self) -> None:
        """Refuse to run unless `tmux` resolves to our wrapper, for us and for the tool."""
        if shutil.which("tmux", path=self.env["PATH"]) != str(self.bin / "tmux"):
            raise BenchError("the tmux wrapper is not first on PATH; refusing to run")
        if self.tool.checked_isolation:
            return
        interpreter = _python_shebang(self.tool.path)
        if interpreter:
            probe = subprocess.run(
                [interpreter, "-c", "import shutil; print(shutil.which('tmux'))"],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if probe.stdout.strip() != str(self.bin / "tmux"):
                raise BenchError(
                    f"{self.tool.path}'s interpreter resolves tmux to {probe.stdout.strip()!r}, "
                    "not the sandbox wrapper; refusing to run it"
                )
        self.tool.checked_isolation = True

    # Config and task commands ---------------------------------------------------------

    @property
    def config(self) -> Path:
        return self.project / "taskmux.toml"

    def write_config(self, tasks: dict[str, dict[str, Any]], **top: Any) -> None:
        lines = [f"name = {_toml(self.session)}"]
        lines += [f"{key} = {_toml(value)}" for key, value in top.items()]
        for name, keys in tasks.items():
            lines.append(f"\n[tasks.{name}]")
            lines += [f"{key} = {_toml(value)}" for key, value in keys.items()]
        self.config.write_text("\n".join(lines) + "\n")

    def sleeper(self, name: str, ignore_sigint: bool = False) -> str:
        """A task that writes its pid to ready/NAME, then sleeps (optionally deaf to SIGINT).

        The inner `sh -c` keeps the command the same whether a tool runs it as the pane's
        process or types it into an interactive shell; `exec` makes the pid the sleeper's.
        """
        trap = 'trap "" INT; ' if ignore_sigint else ""
        return f"sh -c '{trap}echo $$ > {self.ready / name}; exec sleep 86400'"

    def read_pid(self, name: str) -> int | None:
        try:
            text = (self.ready / name).read_text()
        except OSError:
            return None
        return int(text) if text.endswith("\n") and text.strip().isdigit() else None

    def ready_time(self, name: str) -> float | None:
        """When the task wrote its pid file (file timestamp: a few ms resolution)."""
        try:
            return (self.ready / name).stat().st_mtime
        except OSError:
            return None

    def wait_ready(self, names: Iterable[str], timeout: float = 60.0) -> dict[str, int]:
        wanted = list(names)

        def all_ready() -> dict[str, int] | None:
            pids = {n: self.read_pid(n) for n in wanted}
            return {n: p for n, p in pids.items() if p} if all(pids.values()) else None

        found = wait_until(all_ready, timeout, interval=0.005)
        if found is None:
            missing = [n for n in wanted if self.read_pid(n) is None]
            raise BenchError(
                f"{len(missing)} of {len(wanted)} tasks never started within {timeout:g}s "
                f"(e.g. {', '.join(missing[:3])})"
            )
        return found

    # Running the tool --------------------------------------------------------------------

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> Run:
        """Run the tool to completion; `elapsed` is the wall time of the whole process."""
        return self.execute([self.tool.path, *args], check=check, timeout=timeout, env=env)

    def execute(
        self,
        argv: list[str],
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> Run:
        """Run any program in the sandbox (its env, the project as cwd) and time it."""
        args = argv[1:]
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                argv,
                cwd=self.project,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"`{' '.join(args)}` did not finish within {timeout:g}s") from exc
        elapsed = time.perf_counter() - started
        result = Run(
            argv,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
            elapsed,
        )
        if check and result.returncode != 0:
            raise BenchError(result.describe())
        return result

    def json(self, *args: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        result = self.run(*args, "--json", timeout=timeout)
        try:
            data: dict[str, Any] = json.loads(result.stdout)
        except ValueError as exc:
            raise BenchError(f"`{' '.join(args)} --json` printed no JSON document") from exc
        return data

    def spawn(self, *args: str, output: Path) -> subprocess.Popen[bytes]:
        """Start a long-running tool process (`start -m`, `daemon`); ended at cleanup."""
        return self.spawn_program([self.tool.path, *args], output)

    def spawn_program(self, argv: list[str], output: Path) -> subprocess.Popen[bytes]:
        """Start any long-running program in the sandbox; stopped by pid at cleanup."""
        with output.open("wb") as sink:
            proc = subprocess.Popen(
                argv,
                cwd=self.project,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.children.append(proc)
        return proc

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real tmux, on this sandbox's server (for checks, never for the user's)."""
        return subprocess.run(
            [self.tmux_binary, "-S", str(self.socket_path), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    # Cleanup ---------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Stop what we spawned, kill our tmux server(s) and every process of this sandbox."""
        for hook in self.before_cleanup:
            try:
                hook()
            except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever a hook does
                sys.stderr.write(f"    cleanup: {type(exc).__name__}: {exc}\n")
        for proc in self.children:
            stop_process(proc.pid, proc)
        for sock in self.socket_path.parent.glob("*"):
            subprocess.run(
                [self.tmux_binary, "-S", str(sock), "kill-server"],
                env=self.env,
                capture_output=True,
                timeout=30,
                check=False,
            )
        for pid in self.processes():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
        reap_zombies()

    def processes(self) -> list[int]:
        """Pids of every live process of this sandbox: those carrying its environment
        marker, and the log collectors of its state folders (see `procs.sandbox_processes`)."""
        from bench import procs

        return procs.sandbox_processes(SANDBOX_VAR, self.id, self.root)


def become_subreaper() -> None:
    """Adopt the orphans of what the bench starts (a daemonized tmux server, pm2's daemon),
    so that once killed they are reaped here instead of lingering as zombies."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_zombies() -> None:
    """Wait for every child of ours that has died (adopted orphans included)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[0] == "Z" and fields[1] == str(me):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(int(entry), os.WNOHANG)


def stop_process(pid: int, proc: subprocess.Popen[bytes] | None = None, grace: float = 5.0) -> None:
    """SIGTERM, wait up to `grace`, SIGKILL: for a process this bench started."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    if proc is not None:
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    elif wait_until(lambda: not pid_alive(pid), grace, interval=0.02):
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _python_shebang(path: str) -> str | None:
    """The interpreter of a Python console script, if `path` is one."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(300).decode(errors="replace")
    except OSError:
        return None
    if first.startswith("#!") and "python" in first:
        return first[2:].strip().split()[0]
    return None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


# Small helpers ---------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.02) -> Any:
    """Poll until `predicate()` is truthy; return its value, or None at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    ordered = sorted(values)
    rank = math.ceil(round(fraction * len(ordered), 9))
    return ordered[max(1, min(len(ordered), rank)) - 1]


def runs_for(ctx: Context, first_run_seconds: float, limit: float = 20.0) -> int:
    """Fewer runs for a tool that is very slow at something: at most 3 past `limit` s each."""
    return min(ctx.runs, 3) if first_run_seconds > limit else ctx.runs


def measure(
    figure: Figure, ctx: Context, once: Callable[[int], float], slow_after: float = 20.0
) -> None:
    """Record `once(run)` for each run; a run that fails marks the figure, not the suite.

    A tool that needs more than `slow_after` seconds for one run gets at most 3 runs.
    """
    runs = ctx.runs
    run = 0
    try:
        while run < runs:
            started = time.monotonic()
            figure.values.append(once(run))
            if run == 0:
                runs = runs_for(ctx, time.monotonic() - started, slow_after)
                if runs < ctx.runs:
                    figure.note = _join(figure.note, f"{runs} runs (one took > {slow_after:g} s)")
            run += 1
    except Unsupported as exc:
        figure.status, figure.reason = "unsupported", str(exc)
    except (BenchError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        figure.status = "failed"
        figure.reason = f"run {run + 1}: {exc}" if run else str(exc)


def mark_unsupported(figures: Iterable[Figure], reason: str) -> None:
    for figure in figures:
        figure.status, figure.reason = "unsupported", reason


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def add_note(figure: Figure, text: str) -> None:
    figure.note = _join(figure.note, text)
