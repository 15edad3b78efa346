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

from taskmux.config.taskenv import MARKER_VAR, TASK_VARS
from taskmux.errors import TmuxError, TmuxTooOld
from taskmux.runtime.bootclock import boot_clock, wall_minus_boot
from taskmux.runtime.paneformat import (
    SEP,
    as_int,
    encode_ports,
    list_panes,
    read_listing,
)
from taskmux.runtime.state import Health, TaskState
from taskmux.runtime.taskcmd import pane_command
from taskmux.runtime.timing import Timing, current, wait_until
from taskmux.runtime.tmuxversion import refusal, too_old

if TYPE_CHECKING:
    import libtmux

_OWNER_OPTION = "@taskmux_project"
# The longest command list sent as argv (tmux's own limit is 16 KiB for the whole message).
ARGV_LIMIT = 8192
# What a new session's first pane runs for the moment before it is respawned with the
# task's command and environment, in the same command list (see `_launch_commands`).
_PLACEHOLDER = ["--", "/bin/sh", "-c", "exec cat"]
# What a launch has tmux print for each task it started: the name, then the pane's pid.
_PID_LINE = "taskmux-launched %s #{pane_pid}"


def escape_arg(arg: str) -> str:
    """Keep tmux from reading a trailing `;` of an argument as a command separator."""
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


_DOUBLE_QUOTED = str.maketrans(
    {"\\": "\\\\", '"': '\\"', "$": "\\$", "~": "\\~", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
)


def quote_word(arg: str) -> str:
    """One argument as a word of tmux's configuration syntax, taken exactly as it is.

    Double quotes with every special character escaped: a newline as `\\n` (inside
    single quotes tmux keeps a newline but drops the indentation after it, which breaks
    a multi-line script), `$`, `~` and `\\` escaped so nothing is expanded.
    """
    return '"' + arg.translate(_DOUBLE_QUOTED) + '"'


def script_line(commands: Iterable[Sequence[str]]) -> str:
    """A command list as one line of tmux configuration: one list, so a failing command
    skips the rest of it, as on the command line."""
    return " ; ".join(" ".join(quote_word(a) for a in command) for command in commands) + "\n"


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
    session: str = ""  # the session these facts are about (or would be created as)
    renamed_from: str = ""  # the name a person gave it, when taskmux just renamed it back
    expected: str = ""  # the name it should have, when it is used under another (taken)


@dataclass(frozen=True)
class Launch:
    """Everything tmux needs to (re)start one task's process."""

    task: str
    command: str
    cwd: Path
    env: dict[str, str]
    log_command: str | None = None
    built_from: tuple[tuple[str, int], ...] = ()  # other tasks' ports its env was built from


class Tmux:
    """One tmux server, addressed by socket name or path (None: the user's default server)."""

    def __init__(
        self,
        socket_name: str | None = None,
        socket_path: str | None = None,
        timing: Timing | None = None,
    ) -> None:
        """`timing`: its pauses (None: `timing.DEFAULT` as it is when each wait begins)."""
        self.timing = timing
        binary = shutil.which("tmux")
        if binary is None:
            raise TmuxError(
                "tmux is not installed or not on PATH (install it, e.g. apt-get install tmux)"
            )
        _check_version(binary)
        self._base = [binary]
        if socket_path:
            self._base += ["-S", socket_path]
        elif socket_name:
            self._base += ["-L", socket_name]
        self.socket_name = socket_name
        self.socket_path = socket_path
        # A tmux server started by this client copies its environment for every pane.
        leaked = set(TASK_VARS.intersection(os.environ))
        if MARKER_VAR in leaked and "PORT" in os.environ:
            leaked.add("PORT")  # called from inside a task: its PORT is that task's own
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
        """Run one command list (several commands, one client call) and return its output.

        A list too long for the client's argv (tmux refuses one over 16 KiB: "command
        too long", e.g. marks for 200 windows) goes on its stdin instead, still one list.
        """
        argv = list(self._base)
        for index, command in enumerate(commands):
            if index:
                argv.append(";")
            argv.extend(escape_arg(a) for a in command)
        if sum(len(a) + 1 for a in argv) > ARGV_LIMIT:
            return self._call([*self._base, "source-file", "-"], script_line(commands))
        return self._call(argv)

    def run_script(self, *commands: Sequence[str]) -> Result:
        """Run one command list sent on the client's stdin, not its argv.

        Every local user can read a process's argv, and the tmux server keeps that of the
        client that started it; a task's environment (secrets) must be in neither. So the
        list goes to `source-file -` as one line of tmux configuration; `start-server`
        first, as `source-file` alone does not start a server.
        """
        argv = [*self._base, "start-server", ";", "source-file", "-"]
        return self._call(argv, script_line(commands))

    def _call(self, argv: list[str], script: str | None = None) -> Result:
        for attempt in range(3):
            proc = subprocess.run(
                argv,
                input=script,
                capture_output=True,
                text=True,
                errors="replace",
                check=False,
                env=self._env,
            )
            # A server whose last session just ended exits; a client that connected in
            # that moment is told so. The next call starts a fresh server.
            if "server exited unexpectedly" not in proc.stderr or attempt == 2:
                break
            time.sleep(current(self.timing).tmux_retry)
        return Result(proc.returncode, proc.stdout.splitlines(), proc.stderr.strip())

    def run_checked(self, *commands: Sequence[str]) -> Result:
        result = self.run(*commands)
        if result.returncode != 0:
            raise TmuxError(f"tmux failed: {result.stderr or 'exit ' + str(result.returncode)}")
        return result

    # Observing -----------------------------------------------------------------------

    def observe(self, session: str) -> Observation:
        """All task windows of `session` in one round trip; waits out tmux 3.3a's pending exits."""
        return self.observe_sessions([session])[session]

    def observe_sessions(self, sessions: Sequence[str], owner: str = "") -> dict[str, Observation]:
        """Several candidate sessions in one round trip (`session_exists` says which exist),
        and (`owner`) every session tagged as that project's whatever its name.

        A death tmux 3.3a has seen but not reaped yet (`exit_pending`) is waited out for up
        to `pending_wait`: a nudge makes the server reap it, then tmux is read again."""
        pauses = current(self.timing)
        first = [self._observe_once(sessions, owner)]
        latest: list[dict[str, Observation]] = []

        def settled() -> bool:
            seen = first.pop() if first else self._observe_once(sessions, owner)
            latest[:] = [seen]
            if not any(t.exit_pending for o in seen.values() for t in o.tasks.values()):
                return True
            self.run(["run-shell", "-b", "true"])  # makes the server reap the dead child
            return False  # `true` ends within a few ms; tmux reaps both then

        wait_until(settled, pauses.pending_wait, interval=pauses.pending_pause)
        return latest[0]

    def _observe_once(self, sessions: Sequence[str], owner: str) -> dict[str, Observation]:
        listing = self.run(list_panes(sessions, owner)).stdout
        server_pid, found = read_listing(listing, wall_minus_boot())
        observations = {}
        for name in [*sessions, *(n for n in found if n not in sessions)]:
            if name in found:
                tag, panes = found[name]
                tasks = {task: TaskState(**facts) for task, facts in panes.items()}  # type: ignore[arg-type]
                observations[name] = Observation(
                    True, tasks, owner=tag, server_pid=server_pid, session=name
                )
            else:
                observations[name] = Observation(False, server_pid=server_pid, session=name)
        return observations

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
        count_restart: bool = False,
    ) -> dict[str, int]:
        """Start each task: respawn its window in place, or create the window (and session).

        One round trip, on stdin (`run_script`): the tasks' environments go nowhere else.
        `count_restart` counts each as an automatic restart in the same round trip.
        Returns each launched task's pane pid, as tmux printed it in that round trip.
        """
        commands: list[list[str]] = []
        session_exists = existing.session_exists
        now = f"{time.time():.3f}"
        booted = f"{now} {boot_clock():.3f}"  # which launch the boot stamp belongs to
        for spec in launches:
            state = existing.tasks.get(spec.task)
            commands += self._launch_commands(session, spec, state, session_exists, now, booted)
            if not session_exists and owner:
                commands.append(["set-option", "-t", f"={session}:", _OWNER_OPTION, owner])
            if reset_counts:
                window = state.window_id if state else f"={session}:={spec.task}"
                commands += [
                    ["set-option", "-w", "-u", "-t", window, "@taskmux_restarts"],
                    ["set-option", "-w", "-u", "-t", window, "@taskmux_gave_up"],
                ]
            if count_restart and state is not None:
                commands.append(_count_command(state.window_id))
            target = state.pane_id if state else f"={session}:={spec.task}"
            commands.append(["display-message", "-p", "-t", target, _PID_LINE % spec.task])
            session_exists = True
        if not commands:
            return {}
        result = self.run_script(*commands)
        if result.returncode != 0:
            raise TmuxError(f"tmux failed: {result.stderr or 'exit ' + str(result.returncode)}")
        return _launched_pids(result.stdout)

    def _launch_commands(
        self,
        session: str,
        spec: Launch,
        state: TaskState | None,
        session_exists: bool,
        now: str,
        booted: str,
    ) -> list[list[str]]:
        env_args = [a for k, v in spec.env.items() for a in ("-e", f"{k}={v}")]
        argv = ["--", "/bin/sh", "-c", pane_command(spec.command)]  # the task is the pane's
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
            ["set-option", "-w", "-t", window, "@taskmux_boot", booted],
            ["set-option", "-w", "-u", "-t", window, "@taskmux_stopped"],
            ["set-option", "-w", "-u", "-t", window, "@taskmux_next_restart"],
            ["set-option", "-w", "-u", "-t", window, "@taskmux_health"],
            ["set-option", "-w", "-u", "-t", window, "@taskmux_ready"],
            ["set-option", "-w", "-t", window, "@taskmux_ports", encode_ports(spec.built_from)]
            if spec.built_from
            else ["set-option", "-w", "-u", "-t", window, "@taskmux_ports"],
        ]
        if spec.log_command and (state is None or not state.piped):
            commands.append(["pipe-pane", "-t", target, spec.log_command.replace("#", "##")])
        return commands

    # Shared marks --------------------------------------------------------------------

    def mark_stopped(self, window_id: str) -> None:
        """Stopped by hand: no automatic restart until a start clears it."""
        self._set_marks(window_id, {"stopped": "1", "next_restart": None})

    def mark_all_stopped(self, window_ids: Sequence[str]) -> None:
        """`mark_stopped` for many windows in one round trip."""
        commands = [
            command
            for window in window_ids
            for command in (
                ["set-option", "-w", "-t", window, "@taskmux_stopped", "1"],
                ["set-option", "-w", "-u", "-t", window, "@taskmux_next_restart"],
            )
        ]
        # A failing command ends its list: a window closed meanwhile must not leave the
        # others unmarked, so then each is marked on its own.
        if commands and self.run(*commands).returncode != 0 and len(window_ids) > 1:
            for window in window_ids:
                self.mark_stopped(window)

    def schedule_restart(self, window_id: str, due: float) -> None:
        self._set_marks(window_id, {"next_restart": f"{due:.3f}"})

    def cancel_restart(self, window_id: str) -> None:
        self._set_marks(window_id, {"next_restart": None})

    def give_up(self, window_id: str) -> None:
        """Out of restarts: left as it is until started by hand."""
        self._set_marks(window_id, {"gave_up": "1", "next_restart": None})

    def set_restarts(self, window_id: str, count: int | None) -> None:
        """Set the count of consecutive automatic restarts (None: reset it)."""
        self._set_marks(window_id, {"restarts": None if count is None else str(count)})

    def note_exit_seen(self, window_id: str, death_id: str) -> None:
        """This death was reported (by whichever supervisor saw it first)."""
        self._set_marks(window_id, {"seen": death_id})

    def _set_marks(self, window_id: str, marks: dict[str, str | None]) -> None:
        """Set (or, for None, unset) `@taskmux_*` options on a window in one round trip."""
        commands = [
            ["set-option", "-w", "-t", window_id, f"@taskmux_{k}", v]
            if v is not None
            else ["set-option", "-w", "-u", "-t", window_id, f"@taskmux_{k}"]
            for k, v in marks.items()
        ]
        if commands:
            self.run(*commands)

    def count_restart(self, window_id: str) -> None:
        """Count one automatic restart, atomically on the server side."""
        self.run(_count_command(window_id))

    def set_health(self, window_id: str, health: Health) -> None:
        self._set_marks(window_id, {"health": health.encode()})

    def set_ready(self, window_id: str, run: float) -> None:
        """Record that the run started at `run` printed its ready line."""
        self._set_marks(window_id, {"ready": f"{run:.3f}"})

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
        return as_int(result.stdout[0]) if result.returncode == 0 and result.stdout else None

    def rename_session(self, session: str, name: str) -> bool:
        """Give a session its name back; False when tmux refuses (the name was taken)."""
        return self.run(["rename-session", "-t", f"={session}", name]).returncode == 0

    def has_session(self, session: str) -> bool:
        return self.run(["has-session", "-t", f"={session}"]).returncode == 0


_VERSIONS_SEEN: set[str] = set()  # binaries found new enough, once per process


def _check_version(binary: str) -> None:
    """Refuse a tmux older than 3.2 with one line naming the version (`tmux -V` once)."""
    if binary in _VERSIONS_SEEN:
        return
    try:
        reported = subprocess.run(
            [binary, "-V"], capture_output=True, text=True, errors="replace", check=False
        ).stdout
    except OSError as exc:
        raise TmuxError(f"tmux could not be run ({binary}): {exc.strerror or exc}") from None
    old = too_old(reported)
    if old is not None:
        raise TmuxTooOld(refusal(old, binary))
    _VERSIONS_SEEN.add(binary)


def _count_command(window_id: str) -> list[str]:
    """Add one to a window's restart count inside tmux (no lost update between processes)."""
    return [
        "set-option", "-w", "-F", "-t", window_id, "@taskmux_restarts",
        "#{e|+:#{?@taskmux_restarts,#{@taskmux_restarts},0},1}",
    ]  # fmt: skip


def _launched_pids(lines: list[str]) -> dict[str, int]:
    """The `_PID_LINE`s of a launch's output, as task → pane pid."""
    pids = {}
    for line in lines:
        mark, _, rest = line.partition(" ")
        task, _, pid = rest.partition(" ")
        if mark == "taskmux-launched" and pid.isdigit():
            pids[task] = int(pid)
    return pids
