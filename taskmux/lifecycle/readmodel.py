"""One read model: the rows of `status` and the record of `inspect`, built once.

What a task shows is made from its facts (`config.project.task_facts`: what status reads
of its config), its pane (`TaskState`, or the lean path's `Pane`: the same facts and
words, `runtime/paneformat.py`), the kill marks and the automatic ports. Both paths call
these functions: the service (`status.py`, with the config in use and one observation
through the tmux seam) and the lean path (`LeanRead` below, with the validated-config
cache and one `list-panes` of its own, for `status` and `inspect` at about the cost of
an interpreter start). Standard library only: no dataclasses, no typing, no subprocess.

The lean path answers the common case and raises `NotHere` for the rest, which the
service path then answers through these same functions: no cache to trust (a config
changed or invalid: W102), a session in the way (E305) or renamed by hand, a state folder that is not ours
alone (E801), tmux missing, older than 3.2 (E302) or its server just exiting, tmux 3.3a's pending exit status,
a pane that exited 0 with a port (it may have daemonized: psutil looks), and `inspect`
of a task with an environment (its names come from the env tables and files).
"""

from __future__ import annotations

import json
import os
import time

from taskmux.lifecycle.named_urls import proxy_port, task_url, urls_served
from taskmux.runtime.bootclock import wall_minus_boot
from taskmux.runtime.childpid import real_pid, task_pid
from taskmux.runtime.paneformat import Pane, StateWords, list_panes, read_listing
from taskmux.runtime.sessions import alternate_name, choose_session
from taskmux.runtime.tmuxversion import too_old

TYPE_CHECKING = False  # `typing` costs the lean path an import; mypy reads this
if TYPE_CHECKING:
    from typing import Any

    Facts = dict[str, Any]  # a task's `config.project.task_facts`
TASK_VARS = frozenset(  # as config.taskenv.TASK_VARS: kept out of a tmux client's environment
    {"TASKMUX_MARKER", "TASKMUX_TASK", "TASKMUX_PROJECT", "TASKMUX_SESSION", "TASKMUX_TASK_NAME"}
)


class NotHere(Exception):
    """Not the common case: the service path answers (and says what is wrong, if anything)."""


# Rows -----------------------------------------------------------------------------------


def port_of(name: str, facts: Facts | None, ports: dict[str, int]) -> int | None:
    """The port in use: a fixed one, or an automatic one once chosen (`ports`)."""
    if facts is None or facts["port"] is None:
        return None
    return ports.get(name) if facts["port"] == "auto" else int(facts["port"])


def current_ports(facts: dict[str, Facts], ports: dict[str, int]) -> dict[str, int]:
    """Every task's port as it is now (fixed, or automatic once chosen)."""
    found = {name: port_of(name, task, ports) for name, task in facts.items()}
    return {name: port for name, port in found.items() if port is not None}


def moved_ports(
    built_from: tuple[tuple[str, int], ...], current: dict[str, int]
) -> dict[str, list[int]]:
    """The ports a task's environment was built from that have moved since its launch:
    task -> [the port it was given, the port now]. Such a task is stale: it still talks
    to the old port, where a stranger may answer now."""
    return {
        task: [then, current[task]]
        for task, then in built_from
        if task in current and current[task] != then
    }


def url_of(name: str, facts: Facts | None, proxy: tuple[str, int] | None) -> str | None:
    """A task's URL in a row: only a task with a port, and only with the proxy on
    (`proxy`: the session in use and `proxy_port`)."""
    if facts is None or facts["port"] is None or proxy is None:
        return None
    return task_url(name, *proxy) or None


def task_row(
    name: str,
    facts: Facts | None,
    state: StateWords | None,
    killed: bool,
    now: float,
    ports: dict[str, int],
    root: str,
    daemonized: dict[str, object] | None = None,
    leftover: list[int] | None = None,
    stale: dict[str, list[int]] | None = None,
    proxy: tuple[str, int] | None = None,
    stopped: str | None = None,
) -> dict[str, object]:
    """Everything status shows about one task, as plain data (JSON-ready).

    `stopped`: what a `stop` of everything that closed its window last knew of it
    ("stopped", "completed", "exited 1").

    `daemonized`: what was found running in the background after the pane exited 0.
    `leftover`: pids of the task's processes still running after its session was lost.
    `stale`: the other tasks' ports its environment was built from that have moved since
    (task -> [then, now]); a restart gives it the new ones.
    `proxy`: the session in use and `proxy_port`, for the task's `url` (None: no URL).
    `port` is the port in use: an automatic one once chosen (`port_auto` says which).
    """
    row: dict[str, object] = {"name": name, "in_config": facts is not None}
    if facts is not None:
        row |= {
            "command": facts["command"],
            "auto_start": facts["auto_start"],
            "port": port_of(name, facts, ports),
            "port_auto": facts["port"] == "auto",
            "url": url_of(name, facts, proxy),
            "cwd": facts["cwd"],
            "restart_policy": facts["restart_policy"],
            "depends_on": list(facts["depends_on"]),
            "health_check": facts["health_check"],
            "probe": facts["probe"],
        }
    if state is None:
        row |= {
            "state": _windowless_state(leftover, killed, stopped),
            "running": False,
            "pid": None,
            "manually_stopped": killed or stopped == "stopped",
            "restart_count": 0,
            "healthy": None,
            "health_failures": 0,
            "probe_reason": None,
            "ready": None,
            "holder": None,
            "held_since": None,
            "held_until": None,
        }
    else:
        row |= state.to_dict()
        if state.is_alive and state.pid:  # the task, not the pane's waiting shell (taskcmd.py)
            row["pid"] = task_pid(state.pid)
        row["ready"] = state.ready_seen if facts is not None and facts["ready_log"] else None
        if is_starting(facts, state, now):
            row["state"] = "starting"
        elif _completed_with(facts, state):
            row["state"] = f"completed (exit {state.exit_status})"
        if daemonized is not None:
            row["state"] = "daemonized"
            row["daemonized"] = daemonized
        since = state.running_since
        alive_for = max(0.0, now - since) if state.is_alive and since else None
        row["uptime"] = round(alive_for, 1) if alive_for is not None else None
        if stale and state.is_alive:
            row["stale"] = stale
        if _restart_waits(state, root):
            row["state"] = state.exit_text()
            row["restart_waits"] = "for a supervisor (start -m, the daemon)"
        holder = state.live_holder(now)
        row["holder"] = holder
        row["held_since"] = state.held_since if holder else None
        row["held_until"] = state.held_until if holder else None
    if leftover:
        row["leftover_pids"] = leftover
    if facts is not None and facts.get("schedule"):
        row["schedule"] = facts["schedule"]
        row["next_run"] = next_run(root, name)
    row["log_file"] = os.path.join(root, "logs", f"{name}.log")
    return row


def _windowless_state(leftover: list[int] | None, killed: bool, stopped: str | None) -> str:
    """The state of a task without a window."""
    if leftover:
        return "left over"
    if killed:
        return "killed"
    return stopped or "not started"


def _restart_waits(state: StateWords, root: str) -> bool:
    """A restart a supervisor scheduled, with no supervisor left to carry it out: the row
    says "exited 1" and that the restart waits, not "restarting" (the next `start -m`
    or daemon does restart it)."""
    if not state.dead or state.next_restart_at is None or state.gave_up:
        return False
    if state.manually_stopped:
        return False
    from pathlib import Path  # only for such a row: not on the lean path's way

    from taskmux.statedir.claim import supervisor_running

    return not supervisor_running(Path(root) / "supervisor.lock")


def only_rows(
    rows: list[dict[str, object]], names: list[str], config: str
) -> list[dict[str, object]]:
    """The rows of `names` (concrete task names, in the rows' order); E201 for a name
    with no row (`config`: the file's name, for the message)."""
    by_name = {str(row["name"]): row for row in rows}
    missing = [name for name in names if name not in by_name]
    if missing:
        from taskmux.errors import TaskNotFound

        raise TaskNotFound(f"task '{missing[0]}' not found in {config}")
    wanted = set(names)
    return [row for row in rows if row["name"] in wanted]


def is_starting(facts: Facts | None, state: StateWords, now: float) -> bool:
    """Alive, with a probe or ready line, not yet passed nor unhealthy, inside its start-up
    window (`health_start_period`, then `health_retries` checks' worth of time).

    Failed checks of a task that is still coming up show as `health_failures`; the state
    turns "unhealthy" only once `health_retries` of them fail in a row.
    """
    if facts is None or not facts["needs_check"] or not state.is_alive:
        return False
    since = state.running_since
    if since is None:
        return False
    if state.health is not None and (state.health.healthy or state.health.unhealthy):
        return False
    window = facts["health_start_period"] + facts["health_retries"] * facts["health_interval"]
    return bool(now - since < window)


def _completed_with(facts: Facts | None, state: StateWords) -> bool:
    """Exited by itself with a success code other than 0 (0 already reads "completed")."""
    if facts is None or not state.dead or state.manually_stopped or state.gave_up:
        return False
    if state.next_restart_at is not None or state.exit_status in (0, None):
        return False
    return state.exit_signal is None and state.exit_status in facts["success_exit_codes"]


def own_env_names(facts: Facts) -> list[str]:
    """The variables taskmux itself gives every task (PORT only to one with a port)."""
    own = ["TASKMUX_PROJECT", "TASKMUX_TASK", "TASKMUX_WORKTREE"]
    return own + (["PORT"] if facts["port"] is not None else [])


def inspect_record(
    session: str,
    row: dict[str, object],
    facts: Facts,
    state: StateWords | None,
    env: dict[str, object],
) -> dict[str, object]:
    """The `inspect` record: a status row, the environment's names (`env`: `env_names`
    and `env_problems`), the task's real pid (not its `sh -c`) and its checks."""
    record: dict[str, object] = {"session": session, **row, **env}
    record["pane_pid"] = state.pid if state is not None else None
    pid = record.get("pid")
    record["pid"] = real_pid(pid if isinstance(pid, int) else None)
    record |= {
        "dependencies": [dict(dep) for dep in facts["dependencies"]],
        "health_url": facts["health_url"],
        "health_expect_status": facts["health_expect_status"],
        "health_expect_body": facts["health_expect_body"],
        "health_tcp": facts["health_tcp"],
        "ready_log": facts["ready_log"],
        "health_start_period": facts["health_start_period"],
        "success_exit_codes": facts["success_exit_codes"],
        "stop_signal": facts["stop_signal"],
        "restart_delay": facts["restart_delay"],
    }
    if not facts["needs_check"]:
        record["healthy"] = record.get("running")  # without a check, healthy means alive
    return record


def status_document(
    session: str,
    running: bool,
    rows: list[dict[str, object]],
    warnings: list[str],
    notes: list[str] | None = None,
    served: bool | None = None,
) -> dict[str, Any]:
    """The `status` document (the service's `StatusResult.to_dict()`). `notes`: what is
    said about the session beyond the rows (one renamed by hand); a lost session whose
    tasks left processes running is said here, from the rows. `served`: whether the URL
    proxy runs (`urls_served`; None: not looked at), said when rows show URLs."""
    document: dict[str, Any] = {
        "session": session,
        "session_running": running,
        "tasks": rows,
    }
    said = list(notes or [])
    leftovers = [row for row in rows if row.get("leftover_pids")]
    if leftovers and not running:
        said.append(leftover_note(session, leftovers))
    if served is not None and any(row.get("url") for row in rows):
        document["urls_served"] = served
        # Said while a task with a URL runs: then is when someone may try the URL.
        if not served and running and any(row.get("url") and row.get("running") for row in rows):
            said.append(
                "nothing serves the URLs now: they answer while a supervisor runs "
                "(`taskmux start -m`, `taskmux daemon`) or under `taskmux proxy`"
            )
    if said:
        document["session_notes"] = said
    if warnings:
        document["config_warnings"] = warnings
    return document


def served_if_shown(root: str, port: int, rows: list[dict[str, object]]) -> bool | None:
    """`urls_served`, looked at only when a row shows a URL (None otherwise): what
    `status_document` says of the URLs, for the lean read and the service alike."""
    return urls_served(root, port) if any(row.get("url") for row in rows) else None


def leftover_note(session: str, rows: list[dict[str, object]]) -> str:
    """The session is gone, and these tasks' processes still run: say so, with pids."""
    named = []
    for row in rows:
        pids = row["leftover_pids"]
        listed = ", ".join(str(pid) for pid in pids) if isinstance(pids, list) else "?"
        named.append(f"{row['name']} (pid {listed})")
    count = len(rows)
    return (
        f"tmux session '{session}' is gone (its tmux server died, or it was ended outside "
        f"taskmux), but {count} leftover{'s' if count != 1 else ''} of its tasks still "
        f"run{'s' if count == 1 else ''}: {', '.join(named)}; `taskmux start` ends them and "
        "starts the tasks again"
    )


def may_have_leftovers(root: str, running: bool) -> bool:
    """Whether a session that is not running may have left task processes behind: it
    was launched (a `logs` folder) and not ended by `stop` (its mark, see
    `statedir.paths.stop_all_mark`). Only then is every process looked at."""
    if running:
        return False
    return not os.path.lexists(os.path.join(root, "session-ended")) and os.path.isdir(
        os.path.join(root, "logs")
    )


def stopped_with_session(root: str, project: str, running: bool) -> dict[str, str]:
    """What a `stop` of everything last knew of each task whose window it closed (its
    mark, `lifecycle/stop.py`), while no session runs: task -> "stopped", "completed"…"""
    if running:
        return {}
    try:
        fd = os.open(os.path.join(root, "session-ended"), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {}
    try:
        lines = os.read(fd, 65536).decode(errors="replace").split("\n")
    finally:
        os.close(fd)
    if lines[0] != project:
        return {}
    found = (line.partition("\t") for line in lines[1:] if line)
    return {task: state or "stopped" for task, _, state in found}


def next_run(root: str, name: str) -> float | None:
    """When a supervisor starts a scheduled task next (`supervision/scheduler.py` keeps
    `schedule.json`); None while no supervisor runs, or it stopped the schedule."""
    try:
        with open(os.path.join(root, "schedule.json"), encoding="utf-8") as handle:
            data = json.loads(handle.read())
        os.kill(int(data["pid"]), 0)  # a supervisor that died left its file behind
    except (OSError, ValueError, KeyError, TypeError):
        return None
    due = data.get("next", {}).get(name) if isinstance(data.get("next"), dict) else None
    return float(due) if isinstance(due, int | float) else None


def recorded_ports(root: str) -> dict[str, int]:
    """The automatic ports chosen so far (none chosen here: reading stays read-only)."""
    try:
        with open(os.path.join(root, "ports.json"), encoding="utf-8") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int) and 0 < v < 65536}


# The lean path ------------------------------------------------------------------------


class LeanRead:
    """The cached config and one observation of the project's session, read as
    `config.load_project` and `status.observe_project` read them (or `NotHere`)."""

    def __init__(self, config: str | None) -> None:
        from taskmux.config.cache import read_current

        found = read_current(config)
        if found is None:
            raise NotHere
        self.root, data = found
        self.facts: dict[str, Facts] = data["facts"]  # type: ignore[assignment]  # JSON
        self.has_env = bool(data["has_env"])
        self.warnings: list[list[str]] = data["warning_lines"]  # type: ignore[assignment]
        auto = any(facts["port"] == "auto" for facts in self.facts.values())
        self.ports = recorded_ports(self.root) if auto else {}
        name = str(data["session"])
        owner = os.path.basename(self.root)
        alternate = alternate_name(name, owner.rpartition("-")[2][:4])
        listing = _tmux(list_panes([name, alternate], owner))
        _server, found_sessions = read_listing(listing, wall_minus_boot())
        owners = {session: seen[0] for session, seen in found_sessions.items()}
        choice = choose_session(name, alternate, owner, owners)
        if choice.conflict is not None or choice.moved:
            raise NotHere  # E305, or a session renamed by hand: the service path says so
        self.session = choice.session
        self.running = self.session in owners
        self.stopped = stopped_with_session(self.root, name, self.running)
        if may_have_leftovers(self.root, self.running):
            raise NotHere  # a lost session: its leftovers are found by a process scan
        panes = found_sessions[self.session][1] if self.running else {}
        self.panes = {task: Pane(facts) for task, facts in panes.items()}
        for task, pane in self.panes.items():
            if pane.exit_pending:
                raise NotHere  # tmux 3.3a: the status comes a moment later; the seam waits
            if _may_have_daemonized(self.facts.get(task), pane):
                raise NotHere  # whether it put itself in the background: psutil looks
        try:
            self.killed = frozenset(os.listdir(os.path.join(self.root, "killed")))
        except FileNotFoundError:
            self.killed = frozenset()
        self.now = time.time()
        self.current = current_ports(self.facts, self.ports)
        configured = data.get("proxy_port", 0)
        self.proxy = (self.session, proxy_port(configured if isinstance(configured, int) else 0))

    def row(self, name: str) -> dict[str, object]:
        facts, pane = self.facts.get(name), self.panes.get(name)
        moved = moved_ports(pane.built_from, self.current) if pane is not None else None
        return task_row(
            name,
            facts,
            pane,
            name in self.killed,
            self.now,
            self.ports,
            self.root,
            stale=moved,
            proxy=self.proxy,
            stopped=self.stopped.get(name),
        )

    def notes(self) -> str:
        """The config's warnings as the full path prints them on stderr."""
        return "".join(f"warning[{code}]: {text}\n" for code, text in self.warnings)

    def status(self, only: list[str] | None = None) -> dict[str, Any]:
        """`only`: concrete task names to show (a group or a replicated task's own name
        is the service's to expand: NotHere)."""
        names = list(self.facts) + [t for t in self.panes if t not in self.facts]
        if only and any(name not in names for name in only):
            raise NotHere
        rows = [self.row(name) for name in (only and [n for n in names if n in only]) or names]
        warnings = [t for _, t in self.warnings]
        served = served_if_shown(self.root, self.proxy[1], rows)
        return status_document(self.session, self.running, rows, warnings, served=served)

    def inspect(self, name: str) -> dict[str, Any]:
        facts = self.facts.get(name)
        if facts is None or self.has_env or facts["has_env"]:
            raise NotHere  # E201, or names from env tables and files: the service's
        env: dict[str, object] = {"env_names": sorted(own_env_names(facts)), "env_problems": []}
        return inspect_record(self.session, self.row(name), facts, self.panes.get(name), env)


def _may_have_daemonized(facts: Facts | None, pane: Pane) -> bool:
    """A pane that exited 0 of a task with a port (see `lifecycle/daemonized.py`)."""
    return (
        facts is not None
        and facts["port"] is not None
        and pane.dead
        and pane.exit_signal is None
        and pane.exit_status == 0
    )


def tmux_lines(command: list[str]) -> list[str]:
    """One tmux client call (a command list: `;` between commands), as the lean path
    makes it: its output lines."""
    return _tmux(command)


_VOUCHED: set[str] = set()  # tmux binaries whose `-V` this process found new enough


def _tmux(command: list[str]) -> list[str]:
    """One tmux client call's output lines, as `Tmux.run` makes it (no `subprocess`: its
    import costs more than the client's whole run). The first call also asks `tmux -V`,
    run alongside; a tmux older than 3.2 (or one that does not say) is the service's
    to refuse (E302)."""
    binary = _which("tmux")
    argv = [binary]
    socket = os.environ.get("TASKMUX_TMUX_SOCKET")
    if socket:
        argv += ["-L", socket]
    env = os.environ
    leaked = set(TASK_VARS.intersection(env))
    if "TASKMUX_MARKER" in leaked and "PORT" in env:
        leaked.add("PORT")
    clean = {k: v for k, v in env.items() if k not in leaked}
    version = None if binary in _VOUCHED else _spawn(binary, [binary, "-V"], clean)
    try:
        out, err = _output(_spawn(binary, argv + command, clean))
    finally:
        reported = _output(version)[0] if version is not None else None
    if reported is not None:
        text = reported.decode("utf-8", "replace")
        if not text.strip() or too_old(text) is not None:
            raise NotHere  # the service path says which tmux and why
        _VOUCHED.add(binary)
    if b"server exited unexpectedly" in err:
        raise NotHere  # the seam tries again
    return out.decode("utf-8", "replace").splitlines()


def _spawn(binary: str, argv: list[str], env: dict[str, str]) -> tuple[int, int, int]:
    """Start a tmux client with its stdin empty: its pid and its stdout's and stderr's
    read ends."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawn(
            binary,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
        )
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    return pid, out_r, err_r


def _output(client: tuple[int, int, int]) -> tuple[bytes, bytes]:
    """A spawned client's stdout and stderr, once it has ended."""
    pid, out_r, err_r = client
    try:
        out = _drain(out_r)
        err = _drain(err_r)
    finally:
        os.close(out_r)
        os.close(err_r)
        os.waitpid(pid, 0)
    return out, err


def _drain(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _which(program: str) -> str:
    """As shutil.which for a bare name (shutil itself imports compression modules)."""
    path = os.environ.get("PATH")
    if not path:
        raise NotHere  # shutil.which's own defaults for that: the service path's
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder, program)
        if os.access(candidate, os.F_OK | os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise NotHere  # the service path says tmux is missing
