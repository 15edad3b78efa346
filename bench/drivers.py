"""The same workload under each tool: taskmux (ours, or another taskmux with --against),
supervisord and pm2.

A `Driver` names a tool; `Driver.open()` gives a `Session`: a fresh sandbox (see
`bench.core.Sandbox`) with that tool's configuration for a set of tasks, and the few
operations the SPEC §7 scenarios need: start all, status, stop all, a supervisor that
restarts on exit, when it noticed an exit, where a task's output was kept, and which
processes are the tool's own. Peers run in the sandbox too: their config, sockets, logs
and home (`PM2_HOME`) live in its temp folder, their daemons are started by the bench and
ended by pid at cleanup, whatever happened before.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core import (
    BenchError,
    Run,
    Sandbox,
    Tool,
    Unsupported,
    free_port,
    pid_alive,
    stop_process,
    wait_until,
)

PEERS = ("supervisord", "pm2")


@dataclass(frozen=True)
class TaskSpec:
    """One task of a workload, in tool-neutral terms."""

    name: str
    command: str  # a shell command line
    restart: bool = True  # restarted when it fails (never after a stop)
    restart_delay: float | None = None  # seconds before a restart; None: the tool's default
    depends_on: tuple[str, ...] = ()  # tasks started first (taskmux's default condition)
    min_uptime: float | None = None  # taskmux: seconds up before it counts as healthy


class Driver:
    """A tool the scenarios can run; `kind` is "taskmux" for taskmux-compatible CLIs."""

    kind = "peer"

    def __init__(self, tool: Tool) -> None:
        self.tool = tool

    @property
    def label(self) -> str:
        return self.tool.label

    def open(self, label: str) -> Session:
        raise NotImplementedError

    def version(self) -> str:
        return self.tool.version()


class Session:
    """One sandbox with one tool configured for a set of tasks."""

    def __init__(self, driver: Driver, sandbox: Sandbox) -> None:
        self.driver = driver
        self.sandbox = sandbox
        self.tasks: list[TaskSpec] = []
        self.probes: set[int] = set()  # processes the bench started to watch the tool

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sandbox.cleanup()

    # What every tool implements --------------------------------------------------------

    def configure(self, tasks: list[TaskSpec], **options: Any) -> None:
        """Write the tool's config for `tasks` (and start its daemon, idle, if it has one)."""
        raise NotImplementedError

    def start_all(self, timeout: float = 600) -> Run:
        raise NotImplementedError

    def stop_all(self, timeout: float = 600) -> Run:
        raise NotImplementedError

    def status(self) -> Run:
        """The tool's machine-readable status of every task (checked: all listed)."""
        raise NotImplementedError

    def running(self, result: Run) -> int:
        """How many tasks `result` (of `status`) shows running."""
        raise NotImplementedError

    def status_command(self) -> str:
        raise NotImplementedError

    def bare(self) -> Run:
        """The tool's interpreter starting and doing nothing (`python3 -c pass`)."""
        raise NotImplementedError

    def supervise(self) -> int:
        """Make sure something restarts tasks on exit; return its pid (the daemon)."""
        raise NotImplementedError

    def watch_exits(self) -> None:
        """Get ready for `exit_times` (pm2 needs a listener on its event bus)."""

    def output(self, task: str, lines: int) -> str:
        """What the tool kept of `task`'s output (the last `lines` lines at least)."""
        return "".join(_read(path) for path in reversed(self.log_files(task)))

    def daemon_pids(self) -> list[int]:
        """The tool's resident process(es): what an idle system keeps running."""
        raise NotImplementedError

    def exit_times(self, task: str) -> list[float]:
        """When the tool noticed each exit of `task` (epoch seconds), oldest first."""
        raise NotImplementedError

    def log_files(self, task: str) -> list[Path]:
        """Every file that holds what `task` printed (rotated ones included)."""
        raise NotImplementedError

    def tool_processes(self, task_pids: set[int]) -> tuple[set[int], set[int]]:
        """(the tasks' processes, the tool's processes) now in the sandbox."""
        from bench import procs

        parts = procs.split(self.sandbox.processes(), task_pids, exclude=self.probes)
        return parts.tasks, parts.tool


# taskmux ------------------------------------------------------------------------------


class TaskmuxDriver(Driver):
    kind = "taskmux"

    def open(self, label: str) -> Session:
        return TaskmuxSession(self, Sandbox(self.tool, label))


class TaskmuxSession(Session):
    def configure(self, tasks: list[TaskSpec], **options: Any) -> None:
        self.tasks = tasks
        table: dict[str, dict[str, Any]] = {}
        for task in tasks:
            keys: dict[str, Any] = {"command": task.command}
            if not task.restart:
                keys["restart_policy"] = "no"
            else:
                keys["max_restarts"] = 100_000
            if task.restart_delay is not None:
                keys["restart_delay"] = task.restart_delay
                keys["restart_backoff"] = 1.0  # the same delay before every restart
            if task.depends_on:
                keys["depends_on"] = list(task.depends_on)
            if task.min_uptime is not None:
                keys["min_uptime"] = task.min_uptime
            table[task.name] = keys
        top = {}
        if options.get("log_mb"):
            top["log_max_size_mb"] = options["log_mb"]
        self.sandbox.write_config(table, **top)

    def start_all(self, timeout: float = 600) -> Run:
        return self.sandbox.run("start", timeout=timeout)

    def stop_all(self, timeout: float = 600) -> Run:
        return self.sandbox.run("stop", timeout=timeout)

    def status(self) -> Run:
        if not self.driver.tool.has_option(self.sandbox, "--json", "status"):
            raise Unsupported("`status` has no --json")
        return self.sandbox.run("status", "--json")

    def status_command(self) -> str:
        return "taskmux status --json"

    def running(self, result: Run) -> int:
        rows = json.loads(result.stdout).get("tasks", [])
        return sum(1 for row in rows if row.get("running"))

    def bare(self) -> Run:
        from bench.core import _python_shebang

        interpreter = _python_shebang(self.driver.tool.path)
        if interpreter is None:
            raise Unsupported("the tool is not a Python script: no bare interpreter to compare")
        return self.sandbox.execute([interpreter, "-c", "pass"])

    def supervise(self) -> int:
        if not self.driver.tool.has_command(self.sandbox, "daemon"):
            raise Unsupported("no `daemon` command")
        port = free_port()
        args = ["daemon", "--port", str(port)]
        if self.driver.tool.has_option(self.sandbox, "--ui-port", "daemon"):
            args += ["--ui-port", "0"]
        output = self.sandbox.root / "daemon.out"
        proc = self.sandbox.spawn(*args, output=output)
        self.daemon = _wait_taskmux_daemon(self.sandbox, proc, port, output)
        return int(self.daemon["pid"])

    def daemon_pids(self) -> list[int]:
        return [self.daemon["pid"]]

    def exit_times(self, task: str) -> list[float]:
        if not self.driver.tool.has_option(self.sandbox, "--json", "events"):
            raise Unsupported("no `events --json` to read when an exit was noticed")
        records = self.sandbox.json("events", "-n", "10000")["events"]
        return sorted(
            float(r["ts"]) for r in records if r.get("task") == task and r.get("event") == "exited"
        )

    def log_files(self, task: str) -> list[Path]:
        if not self.driver.tool.has_option(self.sandbox, "--json", "status"):
            raise Unsupported("no `status --json` to name the log file")
        rows = self.sandbox.json("status")["tasks"]
        row: dict[str, Any] = next((r for r in rows if r.get("name") == task), {})
        if not row.get("log_file"):
            raise Unsupported("`status --json` names no log_file")
        main = Path(row["log_file"])
        return [main, *sorted(main.parent.glob(main.name + ".*"))]

    def output(self, task: str, lines: int) -> str:
        """As a user reads it: `logs TASK -n N` (interpreted by the tool, rotation included)."""
        if not self.driver.tool.has_command(self.sandbox, "logs"):
            raise Unsupported("no `logs` command")
        return self.sandbox.run("logs", task, "-n", str(lines), check=False, timeout=600).stdout


def _wait_taskmux_daemon(
    sandbox: Sandbox, proc: subprocess.Popen[bytes], port: int, output: Path
) -> dict[str, Any]:
    """The daemon's pid, port and token once it reports itself running."""

    def info() -> dict[str, Any] | None:
        if proc.poll() is not None:
            raise BenchError(f"the daemon exited {proc.returncode}: {_tail(output)}")
        result = sandbox.run("daemon", "status", "--json", check=False, timeout=30)
        try:
            data: dict[str, Any] = json.loads(result.stdout)
        except ValueError:
            return None
        return data if data.get("ok") and data.get("port") else None

    found = wait_until(info, 30, interval=0.1)
    if found is None:
        raise BenchError("`daemon status --json` never reported a running daemon")
    token = Path(found["token_file"]).read_text().strip() if found.get("token_file") else None
    return {"pid": int(found["pid"]), "port": int(found["port"]), "token": token}


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-300:]
    except OSError:
        return ""


# supervisord -------------------------------------------------------------------------------


class SupervisordDriver(Driver):
    """PyPI `supervisor`: supervisord (nodaemon, a child of the bench) + supervisorctl."""

    def __init__(self, tool: Tool) -> None:
        super().__init__(tool)
        self.ctl = str(Path(tool.path).with_name("supervisorctl"))
        if not os.access(self.ctl, os.X_OK):
            found = shutil.which("supervisorctl")
            if found is None:
                raise BenchError(f"no supervisorctl beside {tool.path}")
            self.ctl = found

    def open(self, label: str) -> Session:
        return SupervisordSession(self, Sandbox(self.tool, label))


SUPERVISORD_HEAD = """[unix_http_server]
file={root}/supervisor.sock

[supervisord]
nodaemon=true
logfile={root}/supervisord.log
loglevel=info
pidfile={root}/supervisord.pid
childlogdir={root}/logs
minfds=4096
{user}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{root}/supervisor.sock
"""

SUPERVISORD_EXITED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ exited: (\S+) \(")


class SupervisordSession(Session):
    driver: SupervisordDriver

    @property
    def conf(self) -> Path:
        return self.sandbox.root / "supervisord.conf"

    def configure(self, tasks: list[TaskSpec], **options: Any) -> None:
        self.tasks = tasks
        root = self.sandbox.root
        (root / "logs").mkdir(exist_ok=True)
        user = "user=root" if os.getuid() == 0 else ""
        parts = [SUPERVISORD_HEAD.format(root=root, user=user)]
        for task in tasks:
            if task.restart_delay:
                raise Unsupported(
                    "supervisord has no restart delay: it restarts at once (its backoff "
                    "applies only to starts that fail within startsecs)"
                )
            parts.append(
                f"[program:{task.name}]\n"
                f"command={shlex.join(peer_argv(task.command)).replace('%', '%%')}\n"
                f"directory={self.sandbox.project}\n"
                "autostart=false\n"
                f"autorestart={'unexpected' if task.restart else 'false'}\n"
                "exitcodes=0\n"
                "startsecs=0\n"
                "startretries=100000\n"
                "stopwaitsecs=5\n"
                "stopasgroup=true\n"  # a shell command line: signal its whole group
                "killasgroup=true\n"
                f"stdout_logfile={root}/logs/{task.name}.log\n"
                "stdout_logfile_maxbytes=0\n"
                "redirect_stderr=true\n"
            )
        self.conf.write_text("\n".join(parts))
        self.proc = self.sandbox.spawn_program(
            [self.driver.tool.path, "-c", str(self.conf)], root / "supervisord.out"
        )
        self.sandbox.before_cleanup.append(self._shutdown)

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"supervisord exited {self.proc.returncode}: {_tail(root / 'supervisord.out')}"
                )
            return self.ctl("pid", check=False).returncode == 0

        if not wait_until(answers, 30, interval=0.05):
            raise BenchError("supervisord never answered on its socket")

    def _shutdown(self) -> None:
        stop_process(self.proc.pid, self.proc, grace=10)

    def ctl(self, *args: str, check: bool = True, timeout: float = 600) -> Run:
        return self.sandbox.execute(
            [self.driver.ctl, "-c", str(self.conf), *args], check=check, timeout=timeout
        )

    def start_all(self, timeout: float = 600) -> Run:
        return self.ctl("start", "all", timeout=timeout)

    def stop_all(self, timeout: float = 600) -> Run:
        return self.ctl("stop", "all", timeout=timeout)

    def status(self) -> Run:
        result = self.ctl("status", check=False)  # exits 3 when a program is not running
        if result.returncode not in (0, 3):
            raise BenchError(result.describe())
        return result

    def status_command(self) -> str:
        return "supervisorctl status"

    def running(self, result: Run) -> int:
        return sum(1 for line in result.stdout.splitlines() if " RUNNING " in line)

    def bare(self) -> Run:
        from bench.core import _python_shebang

        interpreter = _python_shebang(self.driver.ctl) or "python3"
        return self.sandbox.execute([interpreter, "-c", "pass"])

    def supervise(self) -> int:
        return self.proc.pid

    def daemon_pids(self) -> list[int]:
        return [self.proc.pid]

    def exit_times(self, task: str) -> list[float]:
        times = []
        for line in (
            (self.sandbox.root / "supervisord.log").read_text(errors="replace").splitlines()
        ):
            match = SUPERVISORD_EXITED.match(line)
            if match and match.group(3) == task:
                stamp = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
                times.append(stamp + int(match.group(2)) / 1000)
        return times

    def log_files(self, task: str) -> list[Path]:
        main = self.sandbox.root / "logs" / f"{task}.log"
        return [main, *sorted(main.parent.glob(main.name + ".*"))]


def peer_argv(command: str) -> list[str]:
    """How a peer runs a task's command line: as the argv it names when that is plain
    (`sh -c '...'`, `python3 script args`), through `/bin/sh -c` otherwise. A user of
    supervisord or pm2 writes the argv; wrapping everything in a shell would add a
    process per task that is the bench's doing, not the tool's."""
    import shlex

    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        return ["/bin/sh", "-c", command]
    if len(words) == 3 and words[:2] == ["sh", "-c"]:
        return ["/bin/sh", "-c", words[2]]
    plain = all(not set(word) <= set("();<>|&") for word in words)
    if plain and not any(char in command for char in "$`*?~\\\"'"):
        return [shutil.which(words[0]) or words[0], *words[1:]]
    return ["/bin/sh", "-c", command]


# pm2 --------------------------------------------------------------------------------------

BUS_SCRIPT = """// taskmux bench: print pm2's process events with the daemon's own timestamps.
const pm2 = require(process.argv[2]);
pm2.launchBus((err, bus) => {
  if (err) { console.error(String(err)); process.exit(1); }
  console.log(JSON.stringify({ready: Date.now()}));
  bus.on('process:event', (p) => {
    console.log(JSON.stringify({at: p.at || Date.now(), event: p.event,
                                name: p.process && p.process.name}));
  });
});
"""


class Pm2Driver(Driver):
    """npm `pm2`: its God daemon with PM2_HOME inside the sandbox, driven by the pm2 CLI."""

    def __init__(self, tool: Tool) -> None:
        super().__init__(tool)
        real = Path(os.path.realpath(tool.path))
        # node_modules/pm2/bin/pm2 → the package folder, for the event bus script
        self.package = real.parent.parent
        if not (self.package / "package.json").is_file():
            raise BenchError(f"cannot find pm2's package folder from {tool.path}")
        self.node = shutil.which("node") or "node"

    def open(self, label: str) -> Session:
        return Pm2Session(self, Sandbox(self.tool, label))

    def version(self) -> str:
        try:
            data = json.loads((self.package / "package.json").read_text())
            return f"pm2 {data.get('version', '?')}"
        except (OSError, ValueError):
            return "pm2 ?"


class Pm2Session(Session):
    driver: Pm2Driver

    def __init__(self, driver: Driver, sandbox: Sandbox) -> None:
        super().__init__(driver, sandbox)
        self.home = sandbox.root / "pm2home"
        sandbox.env["PM2_HOME"] = str(self.home)
        sandbox.env.pop("PM2_PUBLIC_KEY", None)
        sandbox.env.pop("PM2_SECRET_KEY", None)
        self.bus: subprocess.Popen[bytes] | None = None

    def pm2(self, *args: str, check: bool = True, timeout: float = 600) -> Run:
        return self.sandbox.execute([self.driver.tool.path, *args], check=check, timeout=timeout)

    def configure(self, tasks: list[TaskSpec], **options: Any) -> None:
        self.tasks = tasks
        logs = self.sandbox.root / "logs"
        logs.mkdir(exist_ok=True)
        apps = []
        for task in tasks:
            argv = peer_argv(task.command)
            apps.append(
                {
                    "name": task.name,
                    "script": argv[0],
                    "args": argv[1:],
                    "interpreter": "none",
                    "cwd": str(self.sandbox.project),
                    "autorestart": task.restart,
                    "restart_delay": round((task.restart_delay or 0) * 1000),
                    "max_restarts": 100_000,
                    "min_uptime": 100,  # pm2's smallest allowed value
                    "out_file": str(logs / f"{task.name}.log"),
                    "error_file": str(logs / f"{task.name}.err"),
                }
            )
        self.ecosystem = self.sandbox.root / "ecosystem.config.js"
        self.ecosystem.write_text(
            "module.exports = " + json.dumps({"apps": apps}, indent=1) + ";\n"
        )
        self.sandbox.before_cleanup.append(self._shutdown)
        self.pm2("ping", timeout=60)  # spawns the daemon: the resident state of a pm2 user
        self.god = self._god_pid()

    def _god_pid(self) -> int:
        text = wait_until(lambda: _read(self.home / "pm2.pid").strip(), 10)
        if not text or not text.isdigit():
            raise BenchError("pm2 wrote no pm2.pid")
        return int(text)

    def _shutdown(self) -> None:
        if self.bus is not None:
            stop_process(self.bus.pid, self.bus, grace=2)
        with contextlib.suppress(BenchError, OSError):
            self.pm2("kill", check=False, timeout=30)
        pid = _read(self.home / "pm2.pid").strip()
        for candidate in {int(pid)} if pid.isdigit() else set():
            if pid_alive(candidate):
                with contextlib.suppress(OSError):
                    os.kill(candidate, signal.SIGKILL)

    def start_all(self, timeout: float = 600) -> Run:
        return self.pm2("start", str(self.ecosystem), timeout=timeout)

    def stop_all(self, timeout: float = 600) -> Run:
        return self.pm2("stop", "all", timeout=timeout)

    def status(self) -> Run:
        return self.pm2("jlist")

    def status_command(self) -> str:
        return "pm2 jlist"

    def running(self, result: Run) -> int:
        rows = json.loads(result.stdout)
        return sum(1 for row in rows if row.get("pm2_env", {}).get("status") == "online")

    def bare(self) -> Run:
        return self.sandbox.execute([self.driver.node, "-e", ""])

    def supervise(self) -> int:
        return self.god

    def watch_exits(self) -> None:
        if self.bus is None:
            output = self.sandbox.root / "pm2-bus.out"
            script = self.sandbox.root / "pm2-bus.js"
            script.write_text(BUS_SCRIPT)
            self.bus = self.sandbox.spawn_program(
                [self.driver.node, str(script), str(self.driver.package)], output
            )
            self.probes.add(self.bus.pid)
            if not wait_until(lambda: '"ready"' in _read(output), 30, interval=0.02):
                raise BenchError(f"pm2's event bus never connected: {_tail(output)}")

    def daemon_pids(self) -> list[int]:
        return [self.god]

    def exit_times(self, task: str) -> list[float]:
        times = []
        for line in _read(self.sandbox.root / "pm2-bus.out").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("event") == "exit" and record.get("name") == task:
                    times.append(float(record["at"]) / 1000)
        return times

    def log_files(self, task: str) -> list[Path]:
        main = self.sandbox.root / "logs" / f"{task}.log"
        return [main]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# Choosing the tools ------------------------------------------------------------------------


def peer_driver(name: str, path: str) -> Driver:
    tool = Tool(path, name)
    if name == "supervisord":
        return SupervisordDriver(tool)
    if name == "pm2":
        return Pm2Driver(tool)
    raise BenchError(f"unknown peer {name!r} (known: {', '.join(PEERS)})")


def find_peers(explicit: dict[str, str], auto: bool) -> dict[str, str]:
    """Peer name → executable: the ones given with --peer, else what is on PATH."""
    found = dict(explicit)
    if auto:
        for name in PEERS:
            if name not in found and (path := shutil.which(name)):
                found[name] = path
    return found
