"""`status --json` and `inspect` in the common case at about the cost of an interpreter start.

Agents call `status --json` many times a minute. The service path pays for `dataclasses`
(its import and every class it builds: about half the call), `typing` and `subprocess`
before it asks tmux anything, which keeps it well above twice a bare interpreter start
(SPEC §7). This module answers the common case with the standard library's cheapest
parts only: a config that validated before and has not changed since (the cache
`config.py` writes, trusted as `statefiles.read_trusted` trusts it), state folders that
pass the E801 checks, one `list-panes` through `posix_spawn`, and rows built exactly as
`status.task_row` builds them.

Anything else returns None and the caller takes the service path, which then says what
is wrong (E801, E305, W102, a config error) or does what this does not: a ready line
to look for, a pane that exited 0 with a port (it may have daemonized), tmux 3.3a's
pending exit status, a server that was just exiting. `tests/test_entry.py` compares
both paths' output, so a change to `status.py`, `state.py` or the pane fields that this
module does not follow fails there.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import time

from taskmux.runtime.paneformat import FIELDS, FORMAT, SEP, as_float, as_int

CONFIG_NAME = "taskmux.toml"  # as config.CONFIG_NAME
# As taskenv.TASK_VARS / MARKER_VAR: kept out of a tmux client's environment.
TASK_VARS = frozenset(
    {"TASKMUX_MARKER", "TASKMUX_TASK", "TASKMUX_PROJECT", "TASKMUX_SESSION", "TASKMUX_TASK_NAME"}
)
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


class _NotHere(Exception):
    """The case is not the common one: the service path answers instead."""


def schema_stamp() -> str:
    """Identifies the installed `schema.py` (as config.schema_stamp, the last part of the
    cache's key): a cache written under another schema is never read here."""
    info = os.stat(os.path.join(os.path.dirname(os.path.dirname(__file__)), "config", "schema.py"))
    return f"{info.st_size}:{info.st_mtime_ns}"


_PASS = (_NotHere, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError)


class Answer:
    """A document to print, and the warning lines (`warning[CODE]: ...`) for stderr first."""

    __slots__ = ("document", "notes")

    def __init__(self, document: dict[str, object], notes: list[str]) -> None:
        self.document = document
        self.notes = notes


def status_document(config: str | None) -> Answer | None:
    """The whole `status --json` document, or None when the service path must answer."""
    try:
        seen = _Seen(config)
        names = list(seen.tasks) + [t for t in seen.panes if t not in seen.tasks]
        document: dict[str, object] = {
            "ok": True,
            "session": seen.session,
            "session_running": seen.running,
            "tasks": [seen.row(name) for name in names],
        }
        if seen.warnings:
            document["config_warnings"] = [text for _, text in seen.warnings]
        return Answer(document, seen.notes())
    except _PASS:
        return None


def inspect_record(config: str | None, name: str) -> Answer | None:
    """The `inspect TASK` record (as status.inspect_row), or None for the service path:
    also when any environment is configured (its names need the TOML's `env` tables and
    the env files, which `taskenv` reads)."""
    try:
        seen = _Seen(config)
        task = seen.tasks[name]  # a task not in the config: the service says E201
        if seen.has_env or task["env_file"] is not None:
            raise _NotHere
        pane = seen.panes.get(name)
        record: dict[str, object] = {"session": seen.session, **seen.row(name)}
        own = ["TASKMUX_PROJECT", "TASKMUX_TASK"] + (["PORT"] if task["port"] is not None else [])
        record |= {"env_names": sorted(own), "env_problems": []}
        record["pane_pid"] = as_int(pane["pane_pid"]) if pane is not None else None
        pid = record.get("pid")
        record["pid"] = _real_pid(pid if isinstance(pid, int) else None)
        deps = task["depends_on"]
        assert isinstance(deps, list)
        tcp = task["health_tcp"]
        if tcp is True:
            tcp = task["port"] if isinstance(task["port"], int) else None
        elif tcp is False:
            tcp = None
        record |= {
            "dependencies": [{"task": d["task"], "condition": d["condition"]} for d in deps],
            "health_url": task["health_url"],
            "health_expect_status": task["health_expect_status"],
            "health_expect_body": task["health_expect_body"],
            "health_tcp": tcp,
            "ready_log": task["ready_log"],
            "health_start_period": task["health_start_period"],
            "success_exit_codes": task["success_exit_codes"],
            "stop_signal": task["stop_signal"],
            "restart_delay": task["restart_delay"],
        }
        if _probe(task) is None and task["ready_log"] is None:
            record["healthy"] = record.get("running")  # without a check, healthy is alive
        return Answer(record, seen.notes())
    except _PASS:
        return None


def _real_pid(pid: int | None) -> int | None:
    from taskmux.runtime.childpid import real_pid

    return real_pid(pid)


class _Seen:
    """The cached config and one observation of the project's session, read as
    config.load_project and status.observe_project read them (or _NotHere)."""

    def __init__(self, config: str | None) -> None:
        path = os.path.realpath(_find_config(config))
        info = os.stat(path)
        self.root = _state_folder(path)
        data = json.loads(_read_trusted(os.path.join(self.root, "config-cache.json")))
        key = data["key"]
        if key[:4] != [path, info.st_ino, info.st_size, info.st_mtime_ns]:
            raise _NotHere
        if key[5:] != [schema_stamp()]:
            raise _NotHere
        self.warnings = [(p["code"], _render(p)) for p in data["warnings"]]
        plain = data["config"]
        self.tasks: dict[str, dict[str, object]] = plain["tasks"]
        auto = any(body["port"] == "auto" for body in self.tasks.values())
        self.ports = _recorded_ports(self.root) if auto else {}
        self.has_env = bool(data["env_tables"]) or plain["env_file"] is not None
        name = plain["name"]
        alternate = f"{name}-{os.path.basename(self.root).rpartition('-')[2][:4]}"
        owners, panes = _observe([name, alternate])
        self.session = _choose_session(name, alternate, os.path.basename(self.root), owners)
        self.running = self.session in owners
        self.panes = panes.get(self.session, {})
        self.killed = _killed(self.root)
        self.now = time.time()

    def row(self, name: str) -> dict[str, object]:
        task, pane = self.tasks.get(name), self.panes.get(name)
        return _row(self.root, name, task, pane, name in self.killed, self.now, self.ports)

    def notes(self) -> list[str]:
        return [f"warning[{code}]: {text}\n" for code, text in self.warnings]


def _render(problem: dict[str, object]) -> str:
    """As errors.Problem.render, from its `to_dict()`."""
    where = str(problem["path"] or "taskmux.toml")
    if problem["line"] is not None:
        where = f"{where}:{problem['line']}"
    parts = [where]
    if problem["task"] is not None:
        parts.append(f"task '{problem['task']}'")
    if problem["key"] is not None:
        parts.append(f"key '{problem['key']}'")
    return f"{': '.join(parts)}: {problem['message']}"


def _recorded_ports(root: str) -> dict[str, int]:
    """As ports.PortBook.recorded: the automatic ports chosen so far."""
    try:
        with open(os.path.join(root, "ports.json"), encoding="utf-8") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int) and 0 < v < 65536}


# The config and the state folder ------------------------------------------------------


def _find_config(explicit: str | None) -> str:
    """As config.find_config, for the cases where it finds a file (else the service path
    raises its error)."""
    named = explicit or os.environ.get("TASKMUX_CONFIG")
    if named:
        path = os.path.expanduser(named)
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_NAME)
        if not os.path.isfile(path):
            raise _NotHere
        return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    here = os.getcwd()
    while True:
        candidate = os.path.join(here, CONFIG_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            raise _NotHere
        here = parent


def _state_folder(config_path: str) -> str:
    """As paths.ProjectPaths.for_config(...).ensure().root: the folder, checked as
    statefiles.check_dir checks it (anything short of ours and private: not here)."""
    try:
        from _sha1 import sha1  # type: ignore[import-not-found]  # hashlib loads OpenSSL
    except ImportError:  # pragma: no cover - a Python built without it
        from hashlib import sha1
    digest = sha1(config_path.encode()).hexdigest()[:10]
    folder = "".join(
        c if c in _SAFE else "_" for c in os.path.basename(os.path.dirname(config_path))
    )
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    state_root = os.path.join(base, "taskmux")
    root = os.path.join(state_root, f"{folder or 'root'}-{digest}")
    for level in (state_root, root):
        _check_dir(level)
    return root


def _check_dir(path: str) -> None:
    me = os.geteuid()
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        if info.st_uid != me:
            raise _NotHere
        info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != me or info.st_mode & _OTHERS_WRITE:
        raise _NotHere


def _read_trusted(path: str) -> bytes:
    """As statefiles.read_trusted: a regular file of ours, one link, nobody else writes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & _OTHERS_WRITE
            or info.st_nlink > 1
        ):
            raise _NotHere
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _killed(root: str) -> frozenset[str]:
    try:
        return frozenset(os.listdir(os.path.join(root, "killed")))
    except FileNotFoundError:
        return frozenset()


def _choose_session(name: str, alternate: str, owner: str, owners: dict[str, str]) -> str:
    """As sessions.choose_session, without its conflicts (E305 is the service path's)."""
    for candidate in (name, alternate):
        if owners.get(candidate) == owner:
            return candidate
    if name not in owners:
        return name
    if owners[name] != "" and alternate not in owners:
        return alternate
    raise _NotHere


# tmux -----------------------------------------------------------------------------------


def _which(program: str) -> str:
    """As shutil.which for a bare name (shutil itself imports compression modules)."""
    path = os.environ.get("PATH")
    if not path:
        raise _NotHere  # shutil.which's own defaults for that: the service path's
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder, program)
        if os.access(candidate, os.F_OK | os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise _NotHere  # the service path says tmux is missing


def _observe(sessions: list[str]) -> tuple[dict[str, str], dict[str, dict[str, dict[str, str]]]]:
    """One `list-panes` as tmux_manager.Tmux.observe_sessions makes it: each existing
    session's owner, and each session's task panes (the first pane of a task wins)."""
    condition = f"#{{==:#{{session_name}},{sessions[0]}}}"
    for name in sessions[1:]:
        condition = f"#{{||:{condition},#{{==:#{{session_name}},{name}}}}}"
    binary = _which("tmux")
    argv = [binary]
    socket = os.environ.get("TASKMUX_TMUX_SOCKET")
    if socket:
        argv += ["-L", socket]
    argv += ["list-panes", "-a", "-f", condition, "-F", FORMAT]
    out, err = _run(argv)
    if "server exited unexpectedly" in err:
        raise _NotHere  # the service path retries
    owners: dict[str, str] = {}
    panes: dict[str, dict[str, dict[str, str]]] = {}
    for line in out.splitlines():
        if not line.startswith("pane" + SEP):
            continue
        values = line.split(SEP)[1:]
        if len(values) != len(FIELDS):
            continue
        row = dict(zip(FIELDS, values, strict=True))
        owners.setdefault(row["session_name"], row["@taskmux_project"])
        tasks = panes.setdefault(row["session_name"], {})
        if row["@taskmux_task"] and row["@taskmux_task"] not in tasks:
            tasks[row["@taskmux_task"]] = row
    return owners, panes


def _run(argv: list[str]) -> tuple[str, str]:
    """Run a tmux client, its output collected (no `subprocess`: its import costs more
    than the client's whole run)."""
    env = os.environ
    leaked = set(TASK_VARS.intersection(env))
    if "TASKMUX_MARKER" in leaked and "PORT" in env:
        leaked.add("PORT")
    clean = {k: v for k, v in env.items() if k not in leaked} if leaked else dict(env)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawn(
            argv[0],
            argv,
            clean,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
        )
    finally:
        os.close(out_w)
        os.close(err_w)
    try:
        out = _drain(out_r)
        err = _drain(err_r)
    finally:
        os.close(out_r)
        os.close(err_r)
        os.waitpid(pid, 0)
    return out.decode("utf-8"), err.decode("utf-8", "replace")


def _drain(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


# Rows -----------------------------------------------------------------------------------


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _probe(task: dict[str, object]) -> str | None:
    """As schema.TaskConfig.probe."""
    if task["health_check"] is not None:
        return "command"
    if task["health_url"] is not None:
        return "http"
    if task["health_tcp"] is not None and task["health_tcp"] is not False:
        return "tcp"
    return None


def _row(
    root: str,
    name: str,
    task: dict[str, object] | None,
    pane: dict[str, str] | None,
    killed: bool,
    now: float,
    ports: dict[str, int],
) -> dict[str, object]:
    """As status.task_row (with state.TaskState.to_dict) for one task."""
    row: dict[str, object] = {"name": name, "in_config": task is not None}
    if task is not None:
        port = task["port"]
        deps = task["depends_on"]
        assert isinstance(deps, list)
        row |= {
            "command": task["command"],
            "auto_start": task["auto_start"],
            "port": ports.get(name) if port == "auto" else port,
            "port_auto": port == "auto",
            "cwd": task["cwd"],
            "restart_policy": task["restart_policy"],
            "depends_on": [dep["task"] for dep in deps],
            "health_check": task["health_check"],
            "probe": _probe(task),
        }
    if pane is None:
        row |= {
            "state": "killed" if killed else "not started",
            "running": False,
            "pid": None,
            "manually_stopped": killed,
            "restart_count": 0,
            "healthy": None,
            "health_failures": 0,
            "probe_reason": None,
            "ready": None,
        }
    else:
        row |= _pane_facts(task, pane, now)
    row["log_file"] = os.path.join(root, "logs", f"{name}.log")
    return row


def _pane_facts(
    task: dict[str, object] | None, pane: dict[str, str], now: float
) -> dict[str, object]:
    dead = pane["pane_dead"] == "1"
    signal_number = as_int(pane["pane_dead_signal"]) if dead else None
    exit_signal = signal_number or None
    exit_status = None if signal_number else (as_int(pane["pane_dead_status"]) if dead else None)
    if dead and exit_status is None and exit_signal is None:
        raise _NotHere  # tmux 3.3a: the status comes a moment later; the service waits
    if task is not None and dead and exit_signal is None and exit_status == 0 and task["port"]:
        raise _NotHere  # it may have put itself in the background (daemonized.py)
    pid = as_int(pane["pane_pid"])
    started_at = as_float(pane["@taskmux_started"])
    health = _health(pane["@taskmux_health"], started_at)
    stopped = pane["@taskmux_stopped"] == "1"
    gave_up = pane["@taskmux_gave_up"] == "1"
    next_restart = as_float(pane["@taskmux_next_restart"])
    dead_time = as_float(pane["pane_dead_time"])
    unhealthy = health is not None and 0 < health.retries <= health.failures
    if exit_signal is not None:
        exit_text = f"killed by {_signal_name(exit_signal)}"
    else:
        exit_text = "completed" if exit_status == 0 else f"exited {exit_status}"
    if not dead:
        state = "unhealthy" if unhealthy else "running"
    elif gave_up:
        state = f"gave up ({exit_text})"
    elif stopped:
        state = "stopped"
    elif next_restart is not None:
        state = f"restarting ({exit_text})"
    else:
        state = exit_text
    verdict: bool | None = None
    if health is not None:
        verdict = False if unhealthy else (True if health.healthy else None)
    facts: dict[str, object] = {
        "state": state,
        "running": not dead,
        "pid": pid if not dead else None,
        "exit_code": exit_status if dead and exit_signal is None else None,
        "signal": _signal_name(exit_signal) if exit_signal is not None else None,
        "window_id": pane["window_id"],
        "pane_id": pane["pane_id"],
        "pane_current_command": pane["pane_current_command"],
        "pane_current_path": pane["pane_current_path"],
        "manually_stopped": stopped,
        "restart_count": as_int(pane["@taskmux_restarts"]) or 0,
        "gave_up": gave_up,
        "started_at": started_at,
        "exited_at": dead_time if dead else None,
        "next_restart_at": next_restart,
        "healthy": verdict,
        "health_failures": health.failures if health else 0,
        "health_checked_at": None if health is None else health.checked_at,
        "probe_reason": health.reason or None if health else None,
    }
    if task is not None and task["ready_log"] is not None:
        raise _NotHere  # whether the ready line was seen: state.TaskState.ready_seen
    facts["ready"] = None
    if task is not None and _starting(task, dead, started_at, health, unhealthy, now):
        facts["state"] = "starting"
    elif (
        task is not None
        and dead
        and not stopped
        and not gave_up
        and next_restart is None
        and exit_status not in (0, None)
        and exit_signal is None
        and exit_status in task["success_exit_codes"]  # type: ignore[operator]
    ):
        facts["state"] = f"completed (exit {exit_status})"
    alive_for = now - started_at if not dead and started_at else None
    facts["uptime"] = round(alive_for, 1) if alive_for is not None else None
    return facts


def _starting(
    task: dict[str, object],
    dead: bool,
    started_at: float | None,
    health: _Health | None,
    unhealthy: bool,
    now: float,
) -> bool:
    """As status._is_starting."""
    if _probe(task) is None or dead or started_at is None:
        return False
    if health is not None and (health.healthy or unhealthy):
        return False
    period, retries, interval = (
        task["health_start_period"],
        task["health_retries"],
        task["health_interval"],
    )
    assert isinstance(period, int | float) and isinstance(retries, int)
    assert isinstance(interval, int | float)
    return now - started_at < period + retries * interval


class _Health:
    """As state.Health (a plain class: a dataclass costs its import and a build)."""

    __slots__ = ("checked_at", "failures", "healthy", "reason", "retries")

    def __init__(self, parts: list[str]) -> None:
        self.healthy = parts[0] == "ok"
        self.checked_at = float(parts[1])
        self.failures = int(parts[2])
        self.retries = int(parts[4]) if len(parts) >= 5 else 0
        self.reason = parts[5] if len(parts) == 6 else ""


def _health(text: str, current_run: float | None) -> _Health | None:
    """As state.Health.decode."""
    parts = text.split(maxsplit=5)
    if len(parts) < 4:
        return None
    try:
        run = None if parts[3] == "-" else float(parts[3])
        health = _Health(parts)
    except ValueError:
        return None
    if run is not None and current_run is not None and abs(run - current_run) > 0.0005:
        return None
    return health


def write(document: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    sys.stdout.flush()
