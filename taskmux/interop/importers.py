"""Moving in: a Procfile or a process-compose.yaml as a taskmux config (SPEC §12). Pure.

The mappers take what was parsed (Procfile lines, the YAML's data) and return an
`ImportPlan`: the keys of the new `taskmux.toml` in order, plus one `Note` per source key
saying where it went, or why it has no equivalent. Nothing is dropped silently: a key with
no equivalent is written into the file as a comment naming it (with its value, unless the
value could be a secret), and reported. `render` turns a plan into TOML text (tomlkit, so
the comments are kept). Reading the source and writing the file are `moving.py`'s job.
"""

from __future__ import annotations

import re
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from taskmux.errors import ImportFailed

Format = Literal["procfile", "process-compose"]

# The port foreman, honcho and overmind give the n-th Procfile line (0-based): 5000 + 100 n.
PROCFILE_BASE_PORT = 5000
PROCFILE_PORT_STEP = 100
RELEASE = "release"  # Heroku's release phase: a one-shot before the others start

_PROCFILE_LINE_RE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*:\s*(.*)$")
_USES_PORT_RE = re.compile(r"\$(?:PORT\b|\{PORT\b)")
_TASK_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # as models.TASK_NAME_RE
_MAX_NAME = 64
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A bare `$NAME` in a value: process-compose expands it, taskmux only `${NAME}`.
_BARE_VAR_RE = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")
# Words in a key's name that say its value may be a secret: such values are not copied
# into comments or reports.
_SECRET_WORDS = re.compile(r"pass|secret|token|key|auth|cred|env|vars|cmd", re.IGNORECASE)
_MAX_SHOWN = 80  # longest value quoted in a comment
# The order of a task's keys in the file: what it runs, where, what it waits for, how it
# is checked, restarted and stopped.
_KEY_ORDER = (
    "command",
    "cwd",
    "port",
    "auto_start",
    "env_file",
    "depends_on",
    "ready_log",
    "health_check",
    "health_url",
    "health_expect_status",
    "health_start_period",
    "health_interval",
    "health_timeout",
    "health_retries",
    "restart_policy",
    "restart_delay",
    "restart_backoff",
    "max_restarts",
    "stop_signal",
    "stop_grace_period",
)
# Source flags whose value here is what taskmux does anyway.
_SAME_AS_TASKMUX: dict[str, Any] = {
    "is_daemon": False,
    "is_elevated": False,
    "is_interactive": False,
    "disable_ansi_colors": False,
    "is_tty": True,
    "replicas": 1,
}

CONDITIONS = {
    "process_started": "started",
    "process_healthy": "healthy",
    "process_log_ready": "healthy",  # healthy includes the ready line (SPEC §9)
    "process_completed": "completed",
    "process_completed_successfully": "completed_successfully",
}
RESTART_POLICIES = {"always": "always", "on_failure": "on-failure", "no": "no"}


@dataclass(frozen=True)
class Note:
    """What became of one key of the source: `target` names the taskmux key it went to,
    None when it has no equivalent (then it is a comment in the file)."""

    source: str  # e.g. "processes.api.readiness_probe.http_get"
    target: str | None  # e.g. "tasks.api.health_url"
    detail: str

    @property
    def mapped(self) -> bool:
        return self.target is not None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "detail": self.detail}


@dataclass
class TaskPlan:
    """One `[tasks.NAME]` table: keys in order, a trailing comment per key, and comment
    lines for what has no equivalent."""

    keys: dict[str, Any] = field(default_factory=dict)
    key_comments: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    """The new config: top-level keys, tasks in the source's order, and every note."""

    source_format: Format
    source_name: str
    top: dict[str, Any] = field(default_factory=dict)
    top_comments: list[str] = field(default_factory=list)
    tasks: dict[str, TaskPlan] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    def mapped(self, source: str, target: str, detail: str) -> None:
        self.notes.append(Note(source, target, detail))

    def unmapped(self, source: str, detail: str, task: str | None = None) -> None:
        """A key with no equivalent: noted, and a comment in the task's table (or on top)."""
        self.notes.append(Note(source, None, detail))
        line = f"no equivalent: {source}: {detail}"
        if task is None:
            self.top_comments.append(line)
        else:
            self.tasks[task].comments.append(line)


# Procfile ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcfileEntry:
    name: str
    command: str
    line: int


def parse_procfile(text: str) -> tuple[list[ProcfileEntry], list[tuple[int, str]]]:
    """`name: command` lines, and the lines that are neither that, blank nor a comment."""
    entries: list[ProcfileEntry] = []
    strange: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PROCFILE_LINE_RE.match(line)
        if match is None or not match.group(2).strip():
            strange.append((number, line))
            continue
        entries.append(ProcfileEntry(match.group(1), match.group(2).strip(), number))
    return entries, strange


def from_procfile(
    entries: list[ProcfileEntry],
    strange: list[tuple[int, str]],
    session: str,
    source_name: str = "Procfile",
) -> ImportPlan:
    """A Procfile's processes as tasks (see the README's "Coming from honcho/overmind/
    process-compose" for each rule)."""
    if not entries:
        raise ImportFailed(f"{source_name} has no 'name: command' line to import")
    plan = ImportPlan("procfile", source_name, top={"name": session})
    plan.top["env_file"] = "?.env"
    plan.mapped(
        ".env",
        "env_file",
        'foreman, honcho and overmind read .env when it exists: env_file = "?.env" (optional)',
    )
    names = _unique_names([entry.name for entry in entries], plan, "line")
    by_name: dict[str, ProcfileEntry] = {}
    for entry, name in zip(entries, names, strict=True):
        if name in by_name:
            first = by_name[name].line
            plan.unmapped(
                f"line {entry.line}",
                f"'{entry.name}' is defined again (line {first} is kept): {entry.command}",
            )
            continue
        by_name[name] = entry
    for index, (name, entry) in enumerate(by_name.items()):
        task = plan.tasks.setdefault(name, TaskPlan())
        task.keys["command"] = entry.command
        plan.mapped(f"line {entry.line} ({entry.name})", f"tasks.{name}.command", entry.command)
        if _USES_PORT_RE.search(entry.command):
            task.keys["port"] = "auto"
            given = PROCFILE_BASE_PORT + PROCFILE_PORT_STEP * index
            task.key_comments["port"] = f"was PORT={given} under foreman/honcho"
            plan.mapped(
                f"line {entry.line} ($PORT)",
                f"tasks.{name}.port",
                f'port = "auto": taskmux picks a free port and sets PORT '
                f"(foreman and honcho gave this line PORT={given})",
            )
    release = _release_name(by_name)
    if release is not None:
        plan.tasks[release].keys["restart_policy"] = "no"
        plan.tasks[release].key_comments["restart_policy"] = "a one-shot: runs once per start"
        for name, task in plan.tasks.items():
            if name != release:
                task.keys["depends_on"] = [{"task": release, "condition": "completed_successfully"}]
        plan.mapped(
            f"line {by_name[release].line} ({RELEASE})",
            f"tasks.{release}",
            'the release phase: a one-shot (restart_policy = "no") every other task waits '
            "for (depends_on, condition completed_successfully)",
        )
    for number, line in strange:
        plan.unmapped(f"line {number}", f"not a 'name: command' line: {line}")
    return plan


def _release_name(by_name: dict[str, ProcfileEntry]) -> str | None:
    for name, entry in by_name.items():
        if entry.name == RELEASE:
            return name
    return None


# process-compose ---------------------------------------------------------------------

_TOP_IGNORED = {
    "version": "taskmux.toml has no format version",
}
_TOP_UNMAPPED = {
    "log_location": "taskmux keeps every task's log in its state folder (taskmux logs)",
    "log_level": "taskmux has no log level",
    "log_length": "taskmux keeps logs on disk, rotated by log_max_size_mb",
    "log_configuration": "taskmux writes timestamped lines as they come",
    "log_format": "taskmux writes timestamped lines as they come",
    "is_strict": "taskmux always reports unknown keys (as warnings, taskmux check)",
    "vars": "no templates in taskmux.toml: write the values into the commands",
    "env_cmds": "no commands that compute variables: put the values in env or an env file",
    "disable_env_expansion": "taskmux passes commands to the shell as written",
    "ordered_shutdown": "taskmux always stops dependents before their dependencies",
}
_PROCESS_UNMAPPED = {
    "is_daemon": "taskmux runs each task in the foreground of its window: run the program "
    "without detaching (e.g. without -d) so that taskmux can watch and stop it",
    "log_location": "taskmux keeps every task's log in its state folder (taskmux logs)",
    "log_configuration": "taskmux writes timestamped lines as they come",
    "namespace": "taskmux has no namespaces",
    "replicas": "taskmux runs one process per task: add tasks for more",
    "is_tty": "every task runs on a terminal (its tmux window)",
    "is_interactive": "attach to the task's window (tmux attach) to type into it",
    "is_elevated": "taskmux runs tasks as you: put sudo in the command if you must",
    "launch_timeout_seconds": "taskmux watches a start for a short settle window",
    "disable_ansi_colors": "taskmux keeps the output as the task writes it",
    "vars": "no templates in taskmux.toml: write the values into the command",
    "description": "kept as this comment",
}


def from_process_compose(data: Any, session: str, source_name: str) -> ImportPlan:
    """A process-compose project as tasks (see the README for each rule)."""
    if not isinstance(data, dict) or not isinstance(data.get("processes"), dict):
        raise ImportFailed(f"{source_name} has no 'processes' table: not a process-compose file")
    if not data["processes"]:
        raise ImportFailed(f"{source_name} has no processes to import")
    plan = ImportPlan("process-compose", source_name, top={"name": session})
    expand = not data.get("disable_env_expansion", False)
    if data.get("is_dotenv_disabled"):
        plan.mapped("is_dotenv_disabled", "env_file", "true: .env is not read (no env_file)")
    else:
        plan.top["env_file"] = "?.env"
        plan.mapped(".env", "env_file", 'process-compose reads .env: env_file = "?.env" (optional)')
    for key, value in data.items():
        if key in ("processes", "is_dotenv_disabled"):
            continue
        if key == "environment":
            env = _environment(value, "environment", plan, None, expand)
            if env:
                plan.top["env"] = env
        elif key == "shell":
            _shell(value, plan)
        elif key in _TOP_IGNORED:
            plan.mapped(key, "-", f"not needed: {_TOP_IGNORED[key]}")
        else:
            reason = _TOP_UNMAPPED.get(key, "no taskmux equivalent")
            plan.unmapped(_shown(key, value), reason)
    names = _unique_names([str(name) for name in data["processes"]], plan, "processes")
    renamed = dict(zip(data["processes"], names, strict=True))
    for name in renamed.values():
        plan.tasks[name] = TaskPlan()
    for original, name in renamed.items():
        body = data["processes"][original]
        if not isinstance(body, dict):
            raise ImportFailed(f"{source_name}: processes.{original} is not a table")
        _process(plan, name, f"processes.{original}", body, renamed, data["processes"], expand)
    return plan


def _shell(value: Any, plan: ImportPlan) -> None:
    command = value.get("shell_command") if isinstance(value, dict) else None
    if command in (None, "sh", "/bin/sh"):
        plan.mapped("shell", "-", "taskmux runs every command with /bin/sh -c as well")
    else:
        plan.unmapped(
            _shown("shell", value),
            "taskmux runs every command with /bin/sh -c; wrap a command that needs "
            f"{command} as: {command} -c '...'",
        )


def _process(
    plan: ImportPlan,
    name: str,
    where: str,
    body: dict[str, Any],
    renamed: dict[str, str],
    processes: dict[str, Any],
    expand: bool,
) -> None:
    task = plan.tasks[name]
    keys = task.keys
    command = body.get("command")
    entrypoint = body.get("entrypoint")
    if isinstance(command, str) and command.strip():
        keys["command"] = _unescape_dollars(command, expand)
        plan.mapped(f"{where}.command", f"tasks.{name}.command", "run by /bin/sh -c")
        if entrypoint:
            plan.unmapped(
                _shown(f"{where}.entrypoint", entrypoint), "process-compose uses command", name
            )
    elif isinstance(entrypoint, list) and entrypoint:
        keys["command"] = shlex.join(str(word) for word in entrypoint)
        plan.mapped(f"{where}.entrypoint", f"tasks.{name}.command", "its words, shell-quoted")
    else:
        raise ImportFailed(f"{plan.source_name}: {where} has no command")

    handled = {"command", "entrypoint"}
    handlers: dict[str, Callable[[Any], None]] = {
        "working_dir": lambda v: _working_dir(plan, name, where, v),
        "environment": lambda v: _task_environment(plan, name, where, v, expand),
        "env_file": lambda v: _env_file(plan, name, where, v),
        "depends_on": lambda v: _depends_on(plan, name, where, v, renamed, processes),
        "availability": lambda v: _availability(plan, name, where, v),
        "shutdown": lambda v: _shutdown(plan, name, where, v, expand),
        "ready_log_line": lambda v: _ready_log(plan, name, where, v),
        "disabled": lambda v: _disabled(plan, name, where, v, "disabled"),
        "is_foreground": lambda v: _disabled(plan, name, where, v, "is_foreground"),
    }
    for key, value in body.items():
        if key in handled or key in ("readiness_probe", "liveness_probe"):
            continue
        if key in handlers:
            handlers[key](value)
        elif key in _SAME_AS_TASKMUX and value == _SAME_AS_TASKMUX[key]:
            plan.mapped(f"{where}.{key}", "-", f"{_scalar_text(value)}: what taskmux does anyway")
        elif key == "description" and isinstance(value, str):
            task.comments.append(f"{' '.join(value.split())}  ({where}.description)")
            plan.notes.append(Note(f"{where}.description", None, "kept as a comment"))
        else:
            reason = _PROCESS_UNMAPPED.get(key, "no taskmux equivalent")
            if key.startswith("x-"):
                reason = "an extension field: no taskmux equivalent"
            plan.unmapped(_shown(f"{where}.{key}", value), reason, name)
    if "availability" not in body:
        _availability(plan, name, where, {})
    if "shutdown" not in body:
        _shutdown(plan, name, where, {}, expand)
    _probes(plan, name, where, body, expand)


def _working_dir(plan: ImportPlan, name: str, where: str, value: Any) -> None:
    if isinstance(value, str) and value.strip():
        cwd = value.strip()
        if cwd not in (".", "./"):
            plan.tasks[name].keys["cwd"] = cwd
        plan.mapped(f"{where}.working_dir", f"tasks.{name}.cwd", cwd)
    else:
        plan.unmapped(_shown(f"{where}.working_dir", value), "not a folder name", name)


def _task_environment(plan: ImportPlan, name: str, where: str, value: Any, expand: bool) -> None:
    env = _environment(value, f"{where}.environment", plan, name, expand)
    if env:
        plan.tasks[name].keys["env"] = env
        plan.mapped(f"{where}.environment", f"tasks.{name}.env", ", ".join(env))


def _environment(
    value: Any, where: str, plan: ImportPlan, task: str | None, expand: bool
) -> dict[str, str]:
    """`environment` as a list of `NAME=VALUE` (or a map) as an `env` table. Values are not
    quoted in notes: they may be secrets."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        for item in value:
            text = str(item)
            if "=" not in text:
                plan.unmapped(
                    f"{where}: {text.split()[0] if text.split() else text!r}",
                    "no '=': process-compose passes no value either",
                    task,
                )
                continue
            key, _, raw = text.partition("=")
            pairs.append((key, raw))
    else:
        plan.unmapped(f"{where}", "not a list of NAME=VALUE or a map (value not copied)", task)
        return {}
    env: dict[str, str] = {}
    for key, raw in pairs:
        name = str(key).strip()
        if not _ENV_NAME_RE.match(name):
            plan.unmapped(f"{where}: {name!r}", "not a variable name (value not copied)", task)
            continue
        text = "" if raw is None else _scalar_text(raw)
        if expand:
            text = _BARE_VAR_RE.sub(r"${\1}", text)
        env[name] = text
    if env and task is None:
        plan.mapped(where, "env", ", ".join(env))
    return env


def _env_file(plan: ImportPlan, name: str, where: str, value: Any) -> None:
    files = [value] if isinstance(value, str) else value
    if isinstance(files, list) and all(isinstance(f, str) for f in files) and files:
        plan.tasks[name].keys["env_file"] = files[0] if len(files) == 1 else list(files)
        plan.mapped(f"{where}.env_file", f"tasks.{name}.env_file", ", ".join(files))
    else:
        plan.unmapped(_shown(f"{where}.env_file", value), "not a path or a list of paths", name)


def _depends_on(
    plan: ImportPlan,
    name: str,
    where: str,
    value: Any,
    renamed: dict[str, str],
    processes: dict[str, Any],
) -> None:
    items: list[tuple[str, Any]]
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(str(k), None) for k in value]
    else:
        plan.unmapped(_shown(f"{where}.depends_on", value), "not a table of processes", name)
        return
    deps: list[Any] = []
    for dep, spec in items:
        source = f"{where}.depends_on.{dep}"
        if dep not in renamed:
            plan.unmapped(source, f"'{dep}' is not a process of this file", name)
            continue
        raw = spec.get("condition", "process_started") if isinstance(spec, dict) else None
        raw = raw or "process_started"
        condition = CONDITIONS.get(str(raw))
        if condition is None:
            plan.unmapped(f"{source}.condition = {raw}", "unknown condition", name)
            continue
        target = renamed[dep]
        deps.append(target if condition == "healthy" else {"task": target, "condition": condition})
        detail = f"{raw} → {condition}"
        if raw == "process_log_ready":
            dep_body = processes.get(dep)
            if isinstance(dep_body, dict) and dep_body.get("ready_log_line"):
                detail += f" (healthy includes {target}'s ready_log)"
            else:
                detail += f" ({target} has no ready_log_line: healthy once it runs)"
        plan.mapped(source, f"tasks.{name}.depends_on", detail)
        if isinstance(spec, dict):
            for extra in spec:
                if extra != "condition":
                    plan.unmapped(_shown(f"{source}.{extra}", spec[extra]), "no equivalent", name)
    if deps:
        plan.tasks[name].keys["depends_on"] = deps


def _availability(plan: ImportPlan, name: str, where: str, value: Any) -> None:
    keys = plan.tasks[name].keys
    comments = plan.tasks[name].key_comments
    source = f"{where}.availability"
    if not isinstance(value, dict):
        plan.unmapped(_shown(source, value), "not a table", name)
        value = {}
    restart = str(value.get("restart", "no"))
    policy = RESTART_POLICIES.get(restart)
    if restart == "exit_on_failure":
        policy = "no"
        plan.unmapped(
            f"{source}.restart = exit_on_failure",
            'taskmux does not stop the project when a task fails (restart_policy = "no")',
            name,
        )
    elif policy is None:
        plan.unmapped(f"{source}.restart = {restart}", "unknown policy", name)
        policy = "no"
    keys["restart_policy"] = policy
    if "restart" not in value:
        comments["restart_policy"] = "process-compose's default"
    plan.mapped(f"{source}.restart", f"tasks.{name}.restart_policy", f"{restart} → {policy}")
    restarts = policy != "no"
    backoff = value.get("backoff_seconds")
    if _is_number(backoff) and backoff >= 0:
        keys["restart_delay"] = backoff
        plan.mapped(f"{source}.backoff_seconds", f"tasks.{name}.restart_delay", str(backoff))
    elif backoff is not None:
        plan.unmapped(_shown(f"{source}.backoff_seconds", backoff), "not a number", name)
    if restarts:
        keys["restart_backoff"] = 1.0
        comments["restart_backoff"] = "the same delay before every restart, as process-compose"
    maximum = value.get("max_restarts")
    if _is_number(maximum) and isinstance(maximum, int) and maximum > 0:
        keys["max_restarts"] = maximum
        plan.mapped(f"{source}.max_restarts", f"tasks.{name}.max_restarts", str(maximum))
    elif restarts:
        plan.unmapped(
            f"{source}.max_restarts = {maximum if maximum is not None else 0} (no limit)",
            "taskmux gives up after max_restarts (default 5) restarts in a row",
            name,
        )
    for extra in value:
        if extra not in ("restart", "backoff_seconds", "max_restarts"):
            reason = "taskmux does not stop the project when one task ends"
            plan.unmapped(_shown(f"{source}.{extra}", value[extra]), reason, name)


def _shutdown(plan: ImportPlan, name: str, where: str, value: Any, expand: bool) -> None:
    task = plan.tasks[name]
    source = f"{where}.shutdown"
    if not isinstance(value, dict):
        plan.unmapped(_shown(source, value), "not a table", name)
        value = {}
    number = value.get("signal")
    if number is None:
        task.keys["stop_signal"] = "SIGTERM"
        task.key_comments["stop_signal"] = "process-compose's default"
        plan.mapped(f"{source}.signal", f"tasks.{name}.stop_signal", "(default 15) → SIGTERM")
    else:
        stop_signal = _signal_name(number)
        if stop_signal is None:
            plan.unmapped(f"{source}.signal = {number}", "not a signal on this system", name)
        else:
            task.keys["stop_signal"] = stop_signal
            plan.mapped(
                f"{source}.signal", f"tasks.{name}.stop_signal", f"{number} → {stop_signal}"
            )
    timeout = value.get("timeout_seconds")
    if _is_number(timeout) and timeout >= 0:
        task.keys["stop_grace_period"] = timeout
        plan.mapped(f"{source}.timeout_seconds", f"tasks.{name}.stop_grace_period", str(timeout))
    elif timeout is not None:
        plan.unmapped(_shown(f"{source}.timeout_seconds", timeout), "not a number", name)
    command = value.get("command")
    if isinstance(command, str) and command.strip():
        task.keys["hooks"] = {"before_stop": _unescape_dollars(command, expand)}
        plan.mapped(
            f"{source}.command",
            f"tasks.{name}.hooks.before_stop",
            "runs before the stop signal (process-compose runs it instead of the signal; "
            "taskmux then signals whatever is left)",
        )
    for extra in value:
        if extra not in ("signal", "timeout_seconds", "command"):
            reason = "taskmux signals the task's whole process group"
            plan.unmapped(_shown(f"{source}.{extra}", value[extra]), reason, name)


def _ready_log(plan: ImportPlan, name: str, where: str, value: Any) -> None:
    if isinstance(value, str) and value:
        plan.tasks[name].keys["ready_log"] = re.escape(value)
        plan.mapped(
            f"{where}.ready_log_line", f"tasks.{name}.ready_log", "as a regex matching the text"
        )
    else:
        plan.unmapped(_shown(f"{where}.ready_log_line", value), "not a line of text", name)


def _disabled(plan: ImportPlan, name: str, where: str, value: Any, key: str) -> None:
    if value is True:
        plan.tasks[name].keys["auto_start"] = False
        plan.mapped(f"{where}.{key}", f"tasks.{name}.auto_start", "false: start it by name")
    elif value is not False:
        plan.unmapped(_shown(f"{where}.{key}", value), "not true or false", name)


def _probes(plan: ImportPlan, name: str, where: str, body: dict[str, Any], expand: bool) -> None:
    readiness = body.get("readiness_probe")
    liveness = body.get("liveness_probe")
    chosen, kind = (readiness, "readiness_probe") if readiness else (liveness, "liveness_probe")
    if not chosen:
        return
    source = f"{where}.{kind}"
    if not isinstance(chosen, dict) or not _probe(plan, name, source, chosen, expand):
        plan.unmapped(f"{source}", "neither exec.command nor http_get: no probe", name)
        return
    if readiness and liveness and liveness != readiness:
        plan.unmapped(
            f"{where}.liveness_probe ({_probe_summary(liveness)})",
            "taskmux has one probe per task (here the readiness probe), which also restarts "
            "the task after health_retries failures",
            name,
        )


def _probe(plan: ImportPlan, name: str, source: str, probe: dict[str, Any], expand: bool) -> bool:
    keys = plan.tasks[name].keys
    exec_probe = probe.get("exec")
    http = probe.get("http_get") or probe.get("http")
    if isinstance(exec_probe, dict) and isinstance(exec_probe.get("command"), str):
        keys["health_check"] = _unescape_dollars(exec_probe["command"], expand)
        plan.mapped(f"{source}.exec.command", f"tasks.{name}.health_check", "a shell command")
        probe_dir = exec_probe.get("working_dir")
        if probe_dir and probe_dir != keys.get("cwd"):
            plan.unmapped(
                _shown(f"{source}.exec.working_dir", probe_dir),
                "taskmux runs the check in the task's cwd",
                name,
            )
    elif isinstance(http, dict):
        _http_probe(plan, name, source, http)
    else:
        return False
    timing = {
        "initial_delay_seconds": "health_start_period",
        "period_seconds": "health_interval",
        "timeout_seconds": "health_timeout",
        "failure_threshold": "health_retries",
    }
    for key, target in timing.items():
        value = probe.get(key)
        if value is None:
            continue
        lowest = 0 if target == "health_start_period" else 1
        if _is_number(value) and value >= lowest:
            keys[target] = int(value) if target == "health_retries" else value
            plan.mapped(f"{source}.{key}", f"tasks.{name}.{target}", str(value))
        else:
            plan.unmapped(_shown(f"{source}.{key}", value), "out of range: default kept", name)
    success = probe.get("success_threshold")
    if success not in (None, 1):
        plan.unmapped(
            _shown(f"{source}.success_threshold", success),
            "one passing check makes a task healthy",
            name,
        )
    for extra in probe:
        if extra not in ("exec", "http_get", "http", "success_threshold", *timing):
            plan.unmapped(_shown(f"{source}.{extra}", probe[extra]), "no equivalent", name)
    return True


def _http_probe(plan: ImportPlan, name: str, source: str, http: dict[str, Any]) -> None:
    keys = plan.tasks[name].keys
    scheme = str(http.get("scheme") or "http")
    host = str(http.get("host") or "127.0.0.1")
    port = http.get("port")
    path = str(http.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    has_port = isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535
    netloc = f"{host}:{port}" if has_port else host
    keys["health_url"] = f"{scheme}://{netloc}{path}"
    plan.mapped(f"{source}.http_get", f"tasks.{name}.health_url", keys["health_url"])
    if has_port and host in ("127.0.0.1", "localhost", "0.0.0.0", "::1") and "port" not in keys:
        keys["port"] = port
        plan.tasks[name].key_comments["port"] = "the probe's port"
        plan.mapped(
            f"{source}.http_get.port",
            f"tasks.{name}.port",
            f"{port}: taskmux frees it before a start, shows it and sets PORT",
        )
    status = http.get("status_code")
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        keys["health_expect_status"] = status
        plan.mapped(
            f"{source}.http_get.status_code", f"tasks.{name}.health_expect_status", str(status)
        )
    elif status is not None:
        plan.unmapped(_shown(f"{source}.http_get.status_code", status), "not a status", name)
    method = http.get("method")
    if method is not None and str(method).upper() != "GET":
        plan.unmapped(_shown(f"{source}.http_get.method", method), "taskmux probes with GET", name)
    for extra in http:
        if extra not in ("scheme", "host", "port", "path", "status_code", "method"):
            plan.unmapped(_shown(f"{source}.http_get.{extra}", http[extra]), "no equivalent", name)


def _probe_summary(probe: Any) -> str:
    if not isinstance(probe, dict):
        return "not a table"
    if isinstance(probe.get("exec"), dict):
        return f"exec: {probe['exec'].get('command')}"
    http = probe.get("http_get") or probe.get("http")
    if isinstance(http, dict):
        return (
            f"http_get: {http.get('host', '127.0.0.1')}:{http.get('port')}{http.get('path', '/')}"
        )
    return "no exec or http_get"


# Shared ------------------------------------------------------------------------------


def _unique_names(names: list[str], plan: ImportPlan, what: str) -> list[str]:
    """Task names taskmux accepts, one per source name (renames are noted)."""
    result: list[str] = []
    taken: set[str] = set()
    for original in names:
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", original).strip("-")[:_MAX_NAME] or "task"
        if not _TASK_NAME_RE.match(name):
            name = ("_" + name)[:_MAX_NAME]
        if name in taken and name != original:
            base, number = name[: _MAX_NAME - 4], 2
            while f"{base}-{number}" in taken:
                number += 1
            name = f"{base}-{number}"
        if name != original:
            plan.mapped(
                f"{what} {original!r}", f"tasks.{name}", "renamed: task names hold A-Z a-z 0-9 - _"
            )
        taken.add(name)
        result.append(name)
    return result


def _unescape_dollars(command: str, expand: bool) -> str:
    """process-compose turns `$$` into `$` before running a command; the shell would not."""
    return command.replace("$$", "$") if expand else command


def _signal_name(value: Any) -> str | None:
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return signal.Signals(value).name
        text = str(value).strip().upper()
        return signal.Signals[text if text.startswith("SIG") else "SIG" + text].name
    except (ValueError, KeyError):
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shown(key: str, value: Any) -> str:
    """`key = value` for a comment, or just the key when the value may be a secret, is a
    table, or is long."""
    if _SECRET_WORDS.search(key.rsplit(".", 1)[-1]) or isinstance(value, dict | list):
        return key
    text = _scalar_text(value) if value is not None else "null"
    if "\n" in text or len(text) > _MAX_SHOWN:
        return key
    return f"{key} = {text}"


# Rendering -----------------------------------------------------------------------------


def render(plan: ImportPlan, tool: str) -> str:
    """The plan as a fresh `taskmux.toml`: keys in order, comments for what has no
    equivalent (at the top for the project, in each task's table for the task)."""
    import tomlkit

    document = tomlkit.document()
    document.add(tomlkit.comment(f"taskmux.toml: imported from {plan.source_name} by {tool}."))
    document.add(
        tomlkit.comment("Comments marked 'no equivalent' are settings taskmux could not carry.")
    )
    for line in plan.top_comments:
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    for key, value in plan.top.items():
        if key != "env":
            document.add(key, value)
    if "env" in plan.top:
        document.add(tomlkit.nl())
        document.add("env", _table(plan.top["env"]))
    tasks = tomlkit.table(is_super_table=True)
    for name, task in plan.tasks.items():
        table = tomlkit.table()
        for line in task.comments:
            table.add(tomlkit.comment(line))
        for key, value in sorted(task.keys.items(), key=_key_rank):
            if key in ("env", "hooks"):
                continue
            item = _depends(value) if key == "depends_on" else tomlkit.item(value)
            if key in task.key_comments:
                item.comment(task.key_comments[key])
            table.add(key, item)
        for key in ("env", "hooks"):
            if key in task.keys:
                table.add(key, _table(task.keys[key]))
        tasks.add(name, table)
    document.add(tomlkit.nl())
    document.add("tasks", tasks)
    return tomlkit.dumps(document)


def _key_rank(item: tuple[str, Any]) -> int:
    key = item[0]
    return _KEY_ORDER.index(key) if key in _KEY_ORDER else len(_KEY_ORDER)


def _table(values: dict[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for key, value in values.items():
        table.add(key, value)
    return table


def _depends(entries: list[Any]) -> Any:
    import tomlkit

    array = tomlkit.array()
    for entry in entries:
        if isinstance(entry, dict):
            inline = tomlkit.inline_table()
            inline.update(entry)
            array.append(inline)
        else:
            array.append(entry)
    return array
