"""The one seam to tmux: session and windows, launching, observing, shared task marks.

Every tmux call goes through `Tmux.run`, which sends argv to the `tmux` client (what
libtmux's `Server.cmd` does underneath, without libtmux's ~80 ms import on every CLI
call). Commands that must happen together go in one command list, one round trip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from taskmux.errors import TmuxError
from taskmux.state import Health, TaskState

if TYPE_CHECKING:
    import libtmux

SEP = "\x1f"
_FIELDS = (
    "pid",  # the tmux server's: tells a server that died from a session that was ended
    "window_id",
    "pane_id",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "pane_dead_time",
    "pane_current_command",
    "pane_current_path",
    "pane_pipe",
    "@taskmux_task",
    "@taskmux_stopped",
    "@taskmux_restarts",
    "@taskmux_started",
    "@taskmux_gave_up",
    "@taskmux_next_restart",
    "@taskmux_health",
    "@taskmux_seen",
    "@taskmux_ready",
)
_FORMAT = "pane" + SEP + SEP.join(f"#{{{f}}}" for f in _FIELDS)
_OWNER_OPTION = "@taskmux_project"
# Variables that belong to one task's process tree only: never in the tmux server's (or a
# session's) environment, where every window a person opens would inherit them.
_TASK_VARS = frozenset({"TASKMUX_TASK", "TASKMUX_SESSION", "TASKMUX_PROJECT", "TASKMUX_TASK_NAME"})
# What a new session's first pane runs for the moment before it is respawned with the
# task's command and environment, in the same command list (see `_launch_commands`).
_PLACEHOLDER = ["--", "/bin/sh", "-c", "exec cat"]
# tmux refuses a command list longer than its message size (16 KiB); stay well below.
_MAX_BATCH_BYTES = 12_000


def escape_arg(arg: str) -> str:
    """Keep tmux from reading a trailing `;` of an argument as a command separator."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: list[str]
    stderr: str


@dataclass(frozen=True)
class Observation:
    """Every task window of a session, read in one round trip."""

    session_exists: bool
    tasks: dict[str, TaskState] = field(default_factory=dict)
    killed: frozenset[str] = frozenset()  # filled in from the project's state folder
    owner: str = ""  # the project that created the session (empty: unknown)
    server_pid: int | None = None


@dataclass(frozen=True)
class Launch:
    """Everything tmux needs to (re)start one task's process."""

    task: str
    command: str
    cwd: Path
    env: dict[str, str]
    log_command: str | None = None


class Tmux:
    """One tmux server, addressed by socket name or path (None: the user's default server)."""

    def __init__(self, socket_name: str | None = None, socket_path: str | None = None) -> None:
        binary = shutil.which("tmux")
        if binary is None:
            raise TmuxError(
                "tmux is not installed or not on PATH (install it, e.g. apt-get install tmux)"
            )
        self._base = [binary]
        if socket_path:
            self._base += ["-S", socket_path]
        elif socket_name:
            self._base += ["-L", socket_name]
        self.socket_name = socket_name
        self.socket_path = socket_path
        # A tmux server started by this client copies its environment for every pane.
        leaked = _TASK_VARS.intersection(os.environ)
        self._env = {k: v for k, v in os.environ.items() if k not in leaked} if leaked else None

    @classmethod
    def from_env(cls) -> Tmux:
        """The server named by TASKMUX_TMUX_SOCKET, else the user's default server."""
        return cls(socket_name=os.environ.get("TASKMUX_TMUX_SOCKET") or None)

    @classmethod
    def from_server(cls, server: libtmux.Server) -> Tmux:
        """Address the same server as a libtmux `Server` (tests get private ones from libtmux)."""
        path = str(server.socket_path) if server.socket_path else None
        return cls(socket_name=server.socket_name, socket_path=path)

    def run(self, *commands: Sequence[str]) -> Result:
        """Run one command list (several commands, one client call) and return its output."""
        argv = list(self._base)
        for index, command in enumerate(commands):
            if index:
                argv.append(";")
            argv.extend(escape_arg(a) for a in command)
        for attempt in range(3):
            proc = subprocess.run(
                argv, capture_output=True, text=True, errors="replace", check=False, env=self._env
            )
            # A server whose last session just ended exits; a client that connected in
            # that moment is told so. The next call starts a fresh server.
            if "server exited unexpectedly" not in proc.stderr or attempt == 2:
                break
            time.sleep(0.05)
        return Result(proc.returncode, proc.stdout.splitlines(), proc.stderr.strip())

    def run_checked(self, *commands: Sequence[str]) -> Result:
        result = self.run(*commands)
        if result.returncode != 0:
            raise TmuxError(f"tmux failed: {result.stderr or 'exit ' + str(result.returncode)}")
        return result

    # Observing -----------------------------------------------------------------------

    def observe(self, session: str) -> Observation:
        """All task windows of `session` in one round trip; waits out tmux 3.3a's pending exits."""
        observation = self._observe_once(session)
        for _ in range(25):
            if not any(t.exit_pending for t in observation.tasks.values()):
                break
            self.run(["run-shell", "-b", "true"])  # makes the server reap the dead child
            time.sleep(0.02)
            observation = self._observe_once(session)
        return observation

    def _observe_once(self, session: str) -> Observation:
        result = self.run(
            ["list-panes", "-s", "-t", f"={session}:", "-F", _FORMAT],
            ["show-options", "-t", f"={session}:"],
        )
        if result.returncode != 0 and not any(
            line.startswith("pane" + SEP) for line in result.stdout
        ):
            return Observation(session_exists=False)
        tasks: dict[str, TaskState] = {}
        owner = ""
        server_pid = None
        for line in result.stdout:
            if line.startswith(_OWNER_OPTION + " "):
                owner = line.partition(" ")[2].strip().strip('"')
                continue
            if not line.startswith("pane" + SEP):
                continue
            values = line.split(SEP)[1:]
            server_pid = _int(values[0]) or server_pid  # "pid" comes first
            state = _parse_pane(values)
            if state is not None and state.task not in tasks:
                tasks[state.task] = state
        return Observation(True, tasks, owner=owner, server_pid=server_pid)

    def sessions_owned_by(self, owner: str) -> list[str]:
        """Names of the sessions that taskmux created for the project `owner` (its marker)."""
        result = self.run(["list-sessions", "-F", f"#{{session_name}}{SEP}#{{{_OWNER_OPTION}}}"])
        if result.returncode != 0:
            return []  # no server: no sessions
        pairs = (line.split(SEP) for line in result.stdout if SEP in line)
        return [name for name, mark in pairs if mark == owner]

    # Launching -----------------------------------------------------------------------

    def launch(
        self,
        session: str,
        launches: Iterable[Launch],
        existing: Observation,
        reset_counts: bool = True,
        owner: str = "",
    ) -> None:
        """Start each task: respawn its window in place, or create the window (and session)."""
        batches: list[list[list[str]]] = []
        batch: list[list[str]] = []
        size = 0
        session_exists = existing.session_exists
        now = f"{time.time():.3f}"
        for spec in launches:
            state = existing.tasks.get(spec.task)
            commands = self._launch_commands(session, spec, state, session_exists, now)
            if not session_exists and owner:
                commands.append(["set-option", "-t", f"={session}:", _OWNER_OPTION, owner])
            if reset_counts:
                window = state.window_id if state else f"={session}:={spec.task}"
                commands += [
                    ["set-option", "-w", "-u", "-t", window, "@taskmux_restarts"],
                    ["set-option", "-w", "-u", "-t", window, "@taskmux_gave_up"],
                ]
            session_exists = True
            cost = sum(len(a) + 3 for c in commands for a in c)
            if batch and size + cost > _MAX_BATCH_BYTES:
                batches.append(batch)
                batch, size = [], 0
            batch += commands
            size += cost
        if batch:
            batches.append(batch)
        for commands in batches:
            self.run_checked(*commands)

    def _launch_commands(
        self, session: str, spec: Launch, state: TaskState | None, session_exists: bool, now: str
    ) -> list[list[str]]:
        env_args = [a for k, v in spec.env.items() for a in ("-e", f"{k}={v}")]
        argv = ["--", "/bin/sh", "-c", spec.command]
        cwd = ["-c", str(spec.cwd).replace("#", "##")]
        if state is not None:
            target = state.pane_id
            window = state.window_id
            commands = [["respawn-pane", "-k", "-t", target, *cwd, *env_args, *argv]]
        elif session_exists:
            window = f"={session}:={spec.task}"
            target = window
            create = ["new-window", "-d", "-t", f"={session}:", "-n", spec.task]
            commands = [
                [*create, *cwd, *env_args, *argv],  # new-window -e: this window's process only
                ["set-option", "-w", "-t", window, "remain-on-exit", "on"],
                ["set-option", "-w", "-t", window, "@taskmux_task", spec.task],
            ]
        else:
            # `new-session -e` would write the task's marker into the *session's*
            # environment, inherited by every window a person opens in it later (and then
            # stopped along with the task). So the session starts with a placeholder that
            # is replaced, in this same command list, by the task with its environment.
            window = f"={session}:={spec.task}"
            target = window
            create = ["new-session", "-d", "-s", session, "-n", spec.task]
            commands = [
                [*create, *cwd, *_PLACEHOLDER],
                ["set-option", "-w", "-t", window, "remain-on-exit", "on"],
                ["set-option", "-w", "-t", window, "@taskmux_task", spec.task],
                ["respawn-pane", "-k", "-t", window, *cwd, *env_args, *argv],
            ]
        commands += [
            ["set-option", "-w", "-t", window, "@taskmux_started", now],
            ["set-option", "-w", "-u", "-t", window, "@taskmux_stopped"],
            ["set-option", "-w", "-u", "-t", window, "@taskmux_next_restart"],
            ["set-option", "-w", "-u", "-t", window, "@taskmux_health"],
            ["set-option", "-w", "-u", "-t", window, "@taskmux_ready"],
        ]
        if spec.log_command and (state is None or not state.piped):
            commands.append(["pipe-pane", "-t", target, spec.log_command.replace("#", "##")])
        return commands

    # Shared marks --------------------------------------------------------------------

    def set_marks(self, window_id: str, marks: dict[str, str | None]) -> None:
        """Set (or, for None, unset) `@taskmux_*` options on a window in one round trip."""
        commands = [
            ["set-option", "-w", "-t", window_id, f"@taskmux_{k}", v]
            if v is not None
            else ["set-option", "-w", "-u", "-t", window_id, f"@taskmux_{k}"]
            for k, v in marks.items()
        ]
        if commands:
            self.run(*commands)

    def add_restart(self, window_id: str) -> None:
        """Count one automatic restart, atomically on the server side."""
        self.run(
            [
                "set-option", "-w", "-F", "-t", window_id, "@taskmux_restarts",
                "#{e|+:#{?@taskmux_restarts,#{@taskmux_restarts},0},1}",
            ]
        )  # fmt: skip

    def set_health(self, window_id: str, health: Health) -> None:
        self.set_marks(window_id, {"health": health.encode()})

    def set_ready(self, window_id: str, run: float) -> None:
        """Record that the run started at `run` printed its ready line."""
        self.set_marks(window_id, {"ready": f"{run:.3f}"})

    # Destroying ----------------------------------------------------------------------

    def kill_window(self, window_id: str) -> None:
        """Close one task window; tmux ends the session with its last window, not before."""
        self.run(["kill-window", "-t", window_id])

    def end_session(self, session: str) -> tuple[str, ...]:
        """End the session by closing its task windows, unless other windows are in it.

        A window without `@taskmux_task` is a person's (an editor, a shell): it is never
        closed, and while one is there the session, and every task window, stays.
        Returns the names of those windows (empty: the session was ended).
        """
        fields = SEP.join(("#{window_id}", "#{@taskmux_task}", "#{window_name}"))
        result = self.run(["list-windows", "-t", f"={session}", "-F", fields])
        if result.returncode != 0:
            return ()
        rows = [line.split(SEP, 2) for line in result.stdout if line.count(SEP) >= 2]
        others = tuple(name for _, task, name in rows if not task)
        if rows and not others:
            # Window by window rather than kill-session: a window a person opens at this
            # moment keeps the session (and itself) alive.
            self.run(*[["kill-window", "-t", r[0]] for r in rows])
        return others

    def server_pid(self) -> int | None:
        """The running server's pid (None: no server on this socket)."""
        result = self.run(["display-message", "-p", "#{pid}"])
        return _int(result.stdout[0]) if result.returncode == 0 and result.stdout else None

    def has_session(self, session: str) -> bool:
        return self.run(["has-session", "-t", f"={session}"]).returncode == 0


def _parse_pane(values: list[str]) -> TaskState | None:
    if len(values) != len(_FIELDS):
        return None
    row = dict(zip(_FIELDS, values, strict=True))
    task = row["@taskmux_task"]
    if not task:
        return None  # a window that taskmux did not create
    dead = row["pane_dead"] == "1"
    signal_number = _int(row["pane_dead_signal"]) if dead else None
    status = None if signal_number else (_int(row["pane_dead_status"]) if dead else None)
    next_restart = _float(row["@taskmux_next_restart"])
    return TaskState(
        task=task,
        window_id=row["window_id"],
        pane_id=row["pane_id"],
        pid=_int(row["pane_pid"]),
        dead=dead,
        exit_status=status,
        exit_signal=signal_number or None,
        dead_time=_float(row["pane_dead_time"]),
        current_command=row["pane_current_command"],
        current_path=row["pane_current_path"],
        piped=row["pane_pipe"] == "1",
        manually_stopped=row["@taskmux_stopped"] == "1",
        restarts=_int(row["@taskmux_restarts"]) or 0,
        started_at=_float(row["@taskmux_started"]),
        gave_up=row["@taskmux_gave_up"] == "1",
        next_restart_at=next_restart,
        health=Health.decode(row["@taskmux_health"], _float(row["@taskmux_started"])),
        seen_exit=row["@taskmux_seen"],
        ready_run=_float(row["@taskmux_ready"]),
    )
