"""Moving in from process-compose: its processes as tasks, each key mapped to its taskmux
key or noted as having no equivalent (probes: `compose_probes.py`; environment, vars,
shells and the newer keys: `compose_extras.py`). Pure."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from taskmux.errors import ImportFailed
from taskmux.interop.importers.compose_extras import (
    Shell,
    bool_keys,
    finish_command,
    place_env,
    render_vars,
    replicas,
    shell_of,
    success_codes,
    watch,
)
from taskmux.interop.importers.compose_probes import probes
from taskmux.interop.importers.plan import (
    ImportPlan,
    Note,
    TaskPlan,
    is_number,
    scalar_text,
    shown,
    signal_name,
    unescape_dollars,
    unique_names,
)

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A bare `$NAME` in a value: process-compose expands it, taskmux only `${NAME}`.
_BARE_VAR_RE = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")

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
    "env_cmds": "no commands that compute variables: put the values in env or an env file",
    "ordered_shutdown": "taskmux always stops dependents before their dependencies",
}
_PROCESS_UNMAPPED = {
    "is_daemon": "taskmux runs each task in the foreground of its window: run the program "
    "without detaching (e.g. without -d) so that taskmux can watch and stop it",
    "log_location": "taskmux keeps every task's log in its state folder (taskmux logs)",
    "log_configuration": "taskmux writes timestamped lines as they come",
    "namespace": "taskmux has no namespaces (a [groups] entry can name tasks together)",
    "is_tty": "every task runs on a terminal (its tmux window)",
    "is_interactive": "attach to the task's window (tmux attach) to type into it",
    "is_elevated": "taskmux runs tasks as you: put sudo in the command if you must",
    "launch_timeout_seconds": "taskmux watches a start for a short settle window",
    "disable_ansi_colors": "taskmux keeps the output as the task writes it",
    "description": "kept as this comment",
}


def from_process_compose(
    data: Any, session: str, source_name: str, extended: tuple[str, ...] = ()
) -> ImportPlan:
    """A process-compose project as tasks (see docs/import-export.md for each rule);
    `extended` names the files its `extends` chain merged in (moving.py reads them)."""
    if not isinstance(data, dict) or not isinstance(data.get("processes"), dict):
        raise ImportFailed(f"{source_name} has no 'processes' table: not a process-compose file")
    if not data["processes"]:
        raise ImportFailed(f"{source_name} has no processes to import")
    data = bool_keys(data)
    plan = ImportPlan("process-compose", source_name, top={"name": session})
    expand = data.get("disable_env_expansion") is not True
    if data.get("is_dotenv_disabled") is True:
        plan.mapped("is_dotenv_disabled", "env_file", "true: .env is not read (no env_file)")
    else:
        plan.top["env_file"] = "?.env"
        plan.mapped(".env", "env_file", 'process-compose reads .env: env_file = "?.env" (optional)')
    top_vars: dict[str, Any] = data["vars"] if isinstance(data.get("vars"), dict) else {}
    shell = shell_of(plan, data.get("shell"))
    top_exports: dict[str, str] = {}
    for key, value in data.items():
        if key in ("processes", "is_dotenv_disabled", "shell"):
            continue
        if key == "environment":
            rendered = render_vars(plan, None, "environment", value, top_vars)
            env = _environment(rendered, "environment", plan, None, expand)
            top_exports = place_env(plan, None, "environment", env)
            if env:
                plan.top["env"] = env
        elif key == "vars":
            _vars_note(plan, "vars", value, None)
        elif key == "extends":
            _extends_note(plan, value, extended)
        elif key == "disable_env_expansion":
            plan.mapped(key, "-", f"{scalar_text(value)}: commands are taken as written")
        elif key in _TOP_IGNORED:
            plan.mapped(key, "-", f"not needed: {_TOP_IGNORED[key]}")
        else:
            reason = _TOP_UNMAPPED.get(key, "no taskmux equivalent")
            plan.unmapped(shown(key, value), reason)
    names = unique_names([str(name) for name in data["processes"]], plan, "processes")
    renamed = dict(zip(data["processes"], names, strict=True))
    for name in renamed.values():
        plan.tasks[name] = TaskPlan()
    for original, name in renamed.items():
        body = data["processes"][original]
        if not isinstance(body, dict):
            raise ImportFailed(f"{source_name}: processes.{original} is not a table")
        where = f"processes.{original}"
        own_vars: dict[str, Any] = body["vars"] if isinstance(body.get("vars"), dict) else {}
        body = render_vars(plan, name, where, body, {**top_vars, **own_vars})
        context = _Context(renamed, data["processes"], expand, shell, top_exports)
        _process(plan, name, where, body, context)
    return plan


class _Context:
    """What every process of the file shares."""

    def __init__(
        self,
        renamed: dict[str, str],
        processes: dict[str, Any],
        expand: bool,
        shell: Shell,
        exports: dict[str, str],
    ) -> None:
        self.renamed = renamed
        self.processes = processes
        self.expand = expand
        self.shell = shell
        self.exports = exports


def _vars_note(plan: ImportPlan, where: str, value: Any, task: str | None) -> None:
    if isinstance(value, dict):
        plan.mapped(where, "-", "rendered: each {{.NAME}} is replaced by its value")
    else:
        plan.unmapped(shown(where, value), "not a table of values", task)


def _extends_note(plan: ImportPlan, value: Any, extended: tuple[str, ...]) -> None:
    if extended:
        detail = f"followed: {', '.join(extended)} merged under this file (this file wins)"
        plan.mapped(f"extends = {value}", "-", detail)
    else:
        plan.unmapped(shown("extends", value), "could not be followed: merge it by hand")


def _process(plan: ImportPlan, name: str, where: str, body: dict[str, Any], ctx: _Context) -> None:
    task = plan.tasks[name]
    expand = ctx.expand
    _command(plan, name, where, body, ctx)
    handled = {"command", "entrypoint", "executable", "args", "vars"}
    own_env = body.get("environment")
    exports = {k: v for k, v in ctx.exports.items() if not _sets(own_env, k)}
    cd_into: list[str] = []
    handlers: dict[str, Callable[[Any], None]] = {
        "working_dir": lambda v: cd_into.extend(_working_dir(plan, name, where, v)),
        "environment": lambda v: exports.update(_task_environment(plan, name, where, v, expand)),
        "env_file": lambda v: _env_file(plan, name, where, v),
        "depends_on": lambda v: _depends_on(plan, name, where, v, ctx.renamed, ctx.processes),
        "availability": lambda v: _availability(plan, name, where, v),
        "shutdown": lambda v: _shutdown(plan, name, where, v, expand),
        "ready_log_line": lambda v: _ready_log(plan, name, where, v),
        "disabled": lambda v: _disabled(plan, name, where, v, "disabled"),
        "is_foreground": lambda v: _disabled(plan, name, where, v, "is_foreground"),
        "success_exit_codes": lambda v: success_codes(plan, name, f"{where}.success_exit_codes", v),
        "watch": lambda v: watch(plan, name, where, v),
        "replicas": lambda v: replicas(plan, name, where, v),
    }
    for key, value in body.items():
        if key in handled or key in ("readiness_probe", "liveness_probe"):
            if key == "vars":
                _vars_note(plan, f"{where}.vars", value, name)
            continue
        if key in handlers and not (key == "replicas" and value == 1):
            handlers[key](value)
        elif key in _SAME_AS_TASKMUX and value == _SAME_AS_TASKMUX[key]:
            plan.mapped(f"{where}.{key}", "-", f"{scalar_text(value)}: what taskmux does anyway")
        elif key == "description" and isinstance(value, str):
            task.comments.append(f"{' '.join(value.split())}  ({where}.description)")
            plan.notes.append(Note(f"{where}.description", None, "kept as a comment"))
        else:
            reason = _PROCESS_UNMAPPED.get(key, "no taskmux equivalent")
            if key.startswith("x-"):
                reason = "an extension field: no taskmux equivalent"
            plan.unmapped(shown(f"{where}.{key}", value), reason, name)
    if "availability" not in body:
        _availability(plan, name, where, {})
    if "shutdown" not in body:
        _shutdown(plan, name, where, {}, expand)
    probes(plan, name, where, body, expand)
    finish_command(plan, name, where, ctx.shell, exports, cd_into[0] if cd_into else None)


def _command(plan: ImportPlan, name: str, where: str, body: dict[str, Any], ctx: _Context) -> None:
    """`command`, else `entrypoint`'s words, else `executable` and `args`."""
    keys = plan.tasks[name].keys
    expand = ctx.expand
    command = body.get("command")
    entrypoint = body.get("entrypoint")
    executable = body.get("executable")
    if isinstance(command, str) and command.strip():
        keys["command"] = unescape_dollars(command, expand)
        plan.mapped(
            f"{where}.command",
            f"tasks.{name}.command",
            f"run by /bin/sh -c (process-compose: {ctx.shell.name})",
        )
        for other in ("entrypoint", "executable"):
            if body.get(other):
                plan.unmapped(
                    shown(f"{where}.{other}", body[other]), "process-compose uses command", name
                )
    elif isinstance(entrypoint, list) and entrypoint:
        keys["command"] = shlex.join(str(word) for word in entrypoint)
        plan.mapped(f"{where}.entrypoint", f"tasks.{name}.command", "its words, shell-quoted")
    elif isinstance(executable, str) and executable.strip():
        args = body.get("args") or []
        words = [executable, *(scalar_text(a) for a in args)] if isinstance(args, list) else []
        if not words:
            raise ImportFailed(f"{plan.source_name}: {where}.args is not a list")
        keys["command"] = shlex.join(words)
        detail = "its words, shell-quoted (process-compose runs it without a shell)"
        plan.mapped(f"{where}.executable, args", f"tasks.{name}.command", detail)
    else:
        raise ImportFailed(f"{plan.source_name}: {where} has no command")


def _sets(environment: Any, name: str) -> bool:
    """Whether a process's own `environment` sets `name` (it wins over the top level's)."""
    if isinstance(environment, dict):
        return name in environment
    if isinstance(environment, list):
        return any(str(item).partition("=")[0].strip() == name for item in environment)
    return False


def _working_dir(plan: ImportPlan, name: str, where: str, value: Any) -> list[str]:
    """The folder as `cwd`; one named with a variable (or `~`), which taskmux would take
    literally, is returned for the command to `cd` into."""
    if not isinstance(value, str) or not value.strip():
        plan.unmapped(shown(f"{where}.working_dir", value), "not a folder name", name)
        return []
    cwd = value.strip()
    if cwd.startswith("~"):
        cwd = "${HOME}" + cwd[1:]
    if "$" in cwd:
        cwd = _BARE_VAR_RE.sub(r"${\1}", cwd)
        detail = (
            "names a variable, which taskmux's cwd would take literally: the command starts "
            f"with cd into {cwd}, which the shell expands from the task's environment"
        )
        plan.mapped(f"{where}.working_dir", f"tasks.{name}.command", detail)
        return [cwd]
    if cwd not in (".", "./"):
        plan.tasks[name].keys["cwd"] = cwd
    plan.mapped(f"{where}.working_dir", f"tasks.{name}.cwd", cwd)
    return []


def _task_environment(
    plan: ImportPlan, name: str, where: str, value: Any, expand: bool
) -> dict[str, str]:
    """The process's `environment` as the task's `env`; returns what must be exported
    before the command instead (values taskmux's `env` cannot expand)."""
    env = _environment(value, f"{where}.environment", plan, name, expand)
    exports = place_env(plan, name, f"{where}.environment", env)
    if env:
        plan.tasks[name].keys["env"] = env
        plan.mapped(f"{where}.environment", f"tasks.{name}.env", ", ".join(env))
    return exports


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
        text = "" if raw is None else scalar_text(raw)
        # Without expansion every `$` is taken literally: `$$` in taskmux's env.
        text = _BARE_VAR_RE.sub(r"${\1}", text) if expand else text.replace("$", "$$")
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
        plan.unmapped(shown(f"{where}.env_file", value), "not a path or a list of paths", name)


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
        plan.unmapped(shown(f"{where}.depends_on", value), "not a table of processes", name)
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
                    plan.unmapped(shown(f"{source}.{extra}", spec[extra]), "no equivalent", name)
    if deps:
        plan.tasks[name].keys["depends_on"] = deps


def _availability(plan: ImportPlan, name: str, where: str, value: Any) -> None:
    keys = plan.tasks[name].keys
    comments = plan.tasks[name].key_comments
    source = f"{where}.availability"
    if not isinstance(value, dict):
        plan.unmapped(shown(source, value), "not a table", name)
        value = {}
    raw_restart = value.get("restart", "no")
    restart = "no" if raw_restart is False else str(raw_restart)  # YAML 1.1 read `no` as false
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
    if is_number(backoff) and backoff >= 0:
        keys["restart_delay"] = backoff
        plan.mapped(f"{source}.backoff_seconds", f"tasks.{name}.restart_delay", str(backoff))
    elif backoff is not None:
        plan.unmapped(shown(f"{source}.backoff_seconds", backoff), "not a number", name)
    if restarts:
        keys["restart_backoff"] = 1.0
        comments["restart_backoff"] = "the same delay before every restart, as process-compose"
    maximum = value.get("max_restarts")
    if is_number(maximum) and isinstance(maximum, int) and maximum > 0:
        keys["max_restarts"] = maximum
        plan.mapped(f"{source}.max_restarts", f"tasks.{name}.max_restarts", str(maximum))
    elif restarts:
        plan.unmapped(
            f"{source}.max_restarts = {maximum if maximum is not None else 0} (no limit)",
            "taskmux gives up after max_restarts (default 5) restarts in a row",
            name,
        )
    if "success_exit_codes" in value:
        success_codes(plan, name, f"{source}.success_exit_codes", value["success_exit_codes"])
    for extra in value:
        if extra not in ("restart", "backoff_seconds", "max_restarts", "success_exit_codes"):
            reason = "taskmux does not stop the project when one task ends"
            plan.unmapped(shown(f"{source}.{extra}", value[extra]), reason, name)


def _shutdown(plan: ImportPlan, name: str, where: str, value: Any, expand: bool) -> None:
    task = plan.tasks[name]
    source = f"{where}.shutdown"
    if not isinstance(value, dict):
        plan.unmapped(shown(source, value), "not a table", name)
        value = {}
    number = value.get("signal")
    if number is None:
        task.keys["stop_signal"] = "SIGTERM"
        task.key_comments["stop_signal"] = "process-compose's default"
        plan.mapped(f"{source}.signal", f"tasks.{name}.stop_signal", "(default 15) → SIGTERM")
    else:
        stop_signal = signal_name(number)
        if stop_signal is None:
            plan.unmapped(f"{source}.signal = {number}", "not a signal on this system", name)
        else:
            task.keys["stop_signal"] = stop_signal
            plan.mapped(
                f"{source}.signal", f"tasks.{name}.stop_signal", f"{number} → {stop_signal}"
            )
    timeout = value.get("timeout_seconds")
    if is_number(timeout) and timeout >= 0:
        task.keys["stop_grace_period"] = timeout
        plan.mapped(f"{source}.timeout_seconds", f"tasks.{name}.stop_grace_period", str(timeout))
    elif timeout is not None:
        plan.unmapped(shown(f"{source}.timeout_seconds", timeout), "not a number", name)
    command = value.get("command")
    if isinstance(command, str) and command.strip():
        task.keys["hooks"] = {"before_stop": unescape_dollars(command, expand)}
        plan.mapped(
            f"{source}.command",
            f"tasks.{name}.hooks.before_stop",
            "runs before the stop signal (process-compose runs it instead of the signal; "
            "taskmux then signals whatever is left)",
        )
    for extra in value:
        if extra not in ("signal", "timeout_seconds", "command"):
            reason = "taskmux signals the task's whole process group"
            plan.unmapped(shown(f"{source}.{extra}", value[extra]), reason, name)


def _ready_log(plan: ImportPlan, name: str, where: str, value: Any) -> None:
    if isinstance(value, str) and value:
        plan.tasks[name].keys["ready_log"] = re.escape(value)
        plan.mapped(
            f"{where}.ready_log_line", f"tasks.{name}.ready_log", "as a regex matching the text"
        )
    else:
        plan.unmapped(shown(f"{where}.ready_log_line", value), "not a line of text", name)


def _disabled(plan: ImportPlan, name: str, where: str, value: Any, key: str) -> None:
    if value is True:
        plan.tasks[name].keys["auto_start"] = False
        plan.mapped(f"{where}.{key}", f"tasks.{name}.auto_start", "false: start it by name")
    elif value is not False:
        plan.unmapped(shown(f"{where}.{key}", value), "not true or false", name)
