"""Validation of taskmux.toml against the schema (`schema.py`), through pydantic.

Validation never stops at the first problem: `validate_config` returns all of them, so
`taskmux check` can report everything in one go and loading can name the first. Only
this module imports pydantic; it is loaded when a config has to be (re)validated.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections import Counter
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from taskmux.config.deps import find_cycle
from taskmux.config.patterns import pattern_problem
from taskmux.config.schedules import (
    depended_problems,
    notify_problems,
    schedule_problems,
    without_auto_start,
)
from taskmux.config.schema import (
    Dependency,
    Hooks,
    ProjectConfig,
    RestartPolicy,
    TaskConfig,
    WorktreeSettings,
    field_names,
)
from taskmux.config.signals import parse_signal
from taskmux.config.taskenv import E_ENV_NAME, E_REFERENCE, NAME_RE, port_references, references
from taskmux.errors import InvalidPattern, Problem

__all__ = ["Dependency", "Hooks", "ProjectConfig", "RestartPolicy", "TaskConfig", "validate_config"]

TASK_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")

# Stable codes for config problems.
E_TOML = "E110"  # raised by config.py, which must not import this module to parse
E_MISSING = "E111"
E_TYPE = "E112"
E_RANGE = "E113"
E_UNKNOWN_DEP = "E114"
E_CYCLE = "E115"
E_TASK_NAME = "E116"
W_UNKNOWN_KEY = "W117"
E_SESSION_NAME = "E140"  # E118 is a command's unknown @GROUP (SPEC §15)
W_DUPLICATE_DEP = "W119"
W_WATCH_UNUSED = "W122"
E_PROBES = "E130"  # more than one of health_check, health_url, health_tcp
E_REGEX = "E131"  # health_expect_body or ready_log does not compile
E_SIGNAL = "E132"  # stop_signal is not a signal that can stop a process
E_PROBE_TARGET = "E133"  # health_url is not http(s), health_tcp = true without a port
W_PROBE_OPTION = "W134"  # health_expect_* without health_url: no effect
E_DUPLICATE_PORT = "E903"  # two tasks with one fixed port: the second cannot start

# tmux takes names of thousands of characters, but a task's name also names its log and
# lock files (255 bytes at most on common file systems) and fills a column of `status`.
MAX_NAME_LENGTH = 64
# tmux refuses a command message over 16 KiB ("command too long"); a task's launch also
# carries its folder, environment and log pipe, so its command gets at most this much.
MAX_COMMAND_BYTES = 10_000

_RANGE_ERRORS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "string_too_short",
    "too_short",
}


def _problem_code(error_type: str) -> str:
    if error_type == "missing":
        return E_MISSING
    return E_RANGE if error_type in _RANGE_ERRORS else E_TYPE


# Keys whose type is a union: pydantic reports one error per member; we report one.
_UNION_KEYS = {
    "port": 'must be an integer from 1 to 65535, or "auto"',
    "env_file": "must be a path or a list of paths",
}


def _describe(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    message = str(error["msg"])
    message = message[0].lower() + message[1:]
    message = message.replace("input should be", "must be")
    if error["loc"] and error["loc"][0] == "env":
        return message  # an env value may be a secret: never echo it
    return f"{message} (got {error['input']!r})"


def _validate(
    adapter: TypeAdapter[Any], raw: dict[str, Any], task: str | None
) -> tuple[Any, list[Problem]]:
    """Strict validation: JSON mode accepts tables for dataclasses but coerces no types."""
    try:
        return adapter.validate_json(json.dumps(raw, default=str)), []
    except ValidationError as exc:
        problems = []
        unions: dict[str, list[Any]] = {}
        for error in exc.errors():
            head = str(error["loc"][0]) if error["loc"] else ""
            if head in _UNION_KEYS:
                unions.setdefault(head, []).append(error)
                continue
            loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
            problems.append(
                Problem(
                    _problem_code(error["type"]),
                    _describe(error),
                    task=task,
                    key=".".join(loc) or None,
                )
            )
        for key, errors in unions.items():
            ranged = [e for e in errors if e["type"] in _RANGE_ERRORS]
            text = _UNION_KEYS[key]
            if ranged:  # the right type, out of range: say which bound
                text = _describe({**ranged[0], "loc": ()}).rpartition(" (got")[0] + ', or "auto"'
            message = f"{text} (got {raw.get(key)!r})"
            problems.append(Problem(E_RANGE if ranged else E_TYPE, message, task=task, key=key))
        return None, problems


def _unknown_key(key: str, known: set[str], task: str | None, prefix: str) -> Problem:
    """W117, with the closest known key when the unknown one looks like a typo of it."""
    message = "unknown key (ignored)"
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        message += f"; did you mean '{close[0]}'?"
    return Problem(W_UNKNOWN_KEY, message, "warning", task=task, key=prefix + key)


def _unknown_keys(
    raw: dict[str, Any], cls: type, task: str | None, prefix: str = ""
) -> list[Problem]:
    known = field_names(cls)
    problems = [_unknown_key(key, known, task, prefix) for key in raw if key not in known]
    hooks = raw.get("hooks")
    if isinstance(hooks, dict):
        problems += _unknown_keys(hooks, Hooks, task, f"{prefix}hooks.")
    worktree = raw.get("worktree") if task is None else None
    if isinstance(worktree, dict):
        problems += _unknown_keys(worktree, WorktreeSettings, None, "worktree.")
    return problems


def _strip_unknown(raw: dict[str, Any], cls: type) -> dict[str, Any]:
    known = field_names(cls)
    clean = {k: v for k, v in raw.items() if k in known}
    if isinstance(clean.get("hooks"), dict):
        clean["hooks"] = _strip_unknown(clean["hooks"], Hooks)
    if cls is ProjectConfig and isinstance(clean.get("worktree"), dict):
        clean["worktree"] = _strip_unknown(clean["worktree"], WorktreeSettings)
    return clean


@cache
def _adapter(model: type[Any]) -> TypeAdapter[Any]:
    """One validator a model a process: building one costs ~20 ms, and a long-lived
    process (the daemon, a supervisor following edits) validates every change."""
    return TypeAdapter(model)


def validate_config(raw: dict[str, Any]) -> tuple[ProjectConfig | None, list[Problem]]:
    """Check a parsed TOML document; return the config (None if any error) and all problems."""
    problems: list[Problem] = []
    raw_tasks = raw.get("tasks", {})
    top = {k: v for k, v in raw.items() if k != "tasks"}
    problems += _unknown_keys(top, ProjectConfig, None)
    project, found = _validate(_adapter(ProjectConfig), _strip_unknown(top, ProjectConfig), None)
    problems += found
    if project is not None and not SESSION_NAME_RE.match(project.name):
        message = f"session name {project.name!r} may only hold letters, digits, '-' and '_'"
        problems.append(Problem(E_SESSION_NAME, message, key="name"))
    elif project is not None and len(project.name) > MAX_NAME_LENGTH:
        message = f"session name is {len(project.name)} characters long; at most {MAX_NAME_LENGTH}"
        problems.append(Problem(E_SESSION_NAME, message, key="name"))

    if not isinstance(raw_tasks, dict):
        problems.append(Problem(E_TYPE, "must be a table of [tasks.NAME] tables", key="tasks"))
        raw_tasks = {}

    task_adapter = _adapter(TaskConfig)
    tasks: dict[str, TaskConfig] = {}
    for name, body in raw_tasks.items():
        if not TASK_NAME_RE.match(name):
            problems.append(
                Problem(
                    E_TASK_NAME,
                    "task names may only hold letters, digits, '-' and '_', and must start "
                    "with a letter or '_'",
                    task=name,
                )
            )
        elif len(name) > MAX_NAME_LENGTH:
            message = (
                f"task name is {len(name)} characters long; at most {MAX_NAME_LENGTH} "
                "(it names the task's window, log and lock files)"
            )
            problems.append(Problem(E_TASK_NAME, message, task=name))
        if not isinstance(body, dict):
            problems.append(Problem(E_TYPE, "must be a table", task=name))
            continue
        problems += _unknown_keys(body, TaskConfig, name)
        clean, found = _normalize(_strip_unknown(body, TaskConfig), name)
        problems += found
        task, found = _validate(task_adapter, clean, name)
        problems += found
        if task is not None:
            problems += _command_problems(name, task.command)
            problems += _duplicate_problems(name, task.dependencies)
            problems += _watch_problems(name, task)
            problems += _readiness_problems(name, task)
            unique: dict[str, Dependency] = {}
            for dep in task.depends_on:
                unique.setdefault(dep.task, dep)  # listed twice: the first one counts
            tasks[name] = dataclasses.replace(task, depends_on=list(unique.values()))
            # Schedules and cascades (SPEC §15): `config/composition.py`.
            problems += schedule_problems(name, task, body)
            tasks[name] = without_auto_start(tasks[name])

    problems += _dependency_problems(tasks, raw_tasks)
    problems += _duplicate_port_problems(tasks)
    # `[notify]` and dependencies on scheduled tasks (SPEC §15): `config/composition.py`.
    problems += depended_problems(tasks)
    problems += notify_problems(raw.get("notify"), project.notify if project else None)
    problems += _env_problems(project, tasks, raw_tasks)
    if project is None or any(p.severity == "error" for p in problems):
        return None, problems
    return dataclasses.replace(project, tasks=tasks), problems


def _normalize(body: dict[str, Any], task: str) -> tuple[dict[str, Any], list[Problem]]:
    """The file's shorthands in their full form: a `depends_on` name is `{task = NAME}`
    (condition "healthy"), a single `health_expect_status` number a list of one."""
    body = dict(body)
    problems: list[Problem] = []
    status = body.get("health_expect_status")
    if isinstance(status, int) and not isinstance(status, bool):
        body["health_expect_status"] = [status]
    tcp = body.get("health_tcp")
    if "health_tcp" in body and not isinstance(tcp, bool):
        # One message for the two things it may be (pydantic would give one per kind).
        if not isinstance(tcp, int):
            message = f"must be a port number (1-65535) or true (got {tcp!r})"
            problems.append(Problem(E_TYPE, message, task=task, key="health_tcp"))
            del body["health_tcp"]
        elif not 1 <= tcp <= 65535:
            message = f"must be a port number from 1 to 65535 (got {tcp!r})"
            problems.append(Problem(E_RANGE, message, task=task, key="health_tcp"))
            del body["health_tcp"]
    entries = body.get("depends_on")
    if isinstance(entries, list):
        normalized: list[Any] = []
        for entry in entries:
            if isinstance(entry, str):
                normalized.append({"task": entry})
            elif isinstance(entry, dict):
                known = field_names(Dependency)
                problems += [
                    _unknown_key(key, known, task, "depends_on.")
                    for key in entry
                    if key not in known
                ]
                normalized.append({k: v for k, v in entry.items() if k in known})
            else:
                message = (
                    "entries must be a task name or a table "
                    f'{{task = "NAME", condition = "..."}} (got {entry!r})'
                )
                problems.append(Problem(E_TYPE, message, task=task, key="depends_on"))
        body["depends_on"] = normalized
    return body, problems


def _readiness_problems(name: str, task: TaskConfig) -> list[Problem]:
    """What the schema cannot say about probes, ready lines and stop signals."""
    problems: list[Problem] = []

    def problem(code: str, key: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(code, message, severity, task=name, key=key))

    kinds = [
        key
        for key, value in (
            ("health_check", task.health_check),
            ("health_url", task.health_url),
            ("health_tcp", task.health_tcp),
        )
        if value is not None and value is not False
    ]
    if len(kinds) > 1:
        problem(E_PROBES, kinds[1], f"a task has at most one probe; it also has {kinds[0]}")
    if task.health_url is not None:
        url = urlsplit(task.health_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            problem(
                E_PROBE_TARGET,
                "health_url",
                f"must be an http:// or https:// URL with a host (got {task.health_url!r})",
            )
    else:
        for key in ("health_expect_status", "health_expect_body"):
            if getattr(task, key) is not None:
                problem(W_PROBE_OPTION, key, "has no effect without health_url", "warning")
    if task.health_tcp is True and task.port is None:
        problem(
            E_PROBE_TARGET,
            "health_tcp",
            "true means the task's own port, but the task has no port "
            "(set port, or give health_tcp a port number)",
        )
    for key in ("health_expect_body", "ready_log"):
        source = getattr(task, key)
        if source is not None:
            problems += [
                Problem(E_REGEX, message, task=name, key=key) for message in _regex_problems(source)
            ]
    try:
        parse_signal(task.stop_signal)
    except ValueError as exc:
        problem(E_SIGNAL, "stop_signal", str(exc))
    return problems


def _regex_problems(source: str) -> list[str]:
    from taskmux.logs.search import compile_pattern

    try:
        compile_pattern(source)
    except InvalidPattern as exc:
        return [exc.message]
    return []


def _command_problems(task: str, command: str) -> list[Problem]:
    """A command that cannot run: blank (the window would open and close at once), or too
    long for tmux to launch."""
    if not command.strip():
        return [Problem(E_RANGE, "must not be blank", task=task, key="command")]
    size = len(command.encode())
    if size > MAX_COMMAND_BYTES:
        message = (
            f"is {size} bytes long; tmux launches at most {MAX_COMMAND_BYTES} "
            "(put a long command in a script and run that)"
        )
        return [Problem(E_RANGE, message, task=task, key="command")]
    return []


def _watch_problems(name: str, task: TaskConfig) -> list[Problem]:
    """Patterns that cannot be used, and watch settings that do nothing without `watch`."""
    problems = []
    for key, patterns, anchored in (
        ("watch", task.watch, False),
        ("watch_ignore", task.watch_ignore, True),
    ):
        for pattern in patterns:
            why = pattern_problem(pattern, anchored_slash=anchored)
            if why is not None:
                problems.append(Problem(E_RANGE, why, task=name, key=key))
    if task.watch_cmd is not None and not task.watch_cmd.strip():
        problems.append(Problem(E_RANGE, "must not be blank", task=name, key="watch_cmd"))
    if not task.watch:
        for key in ("watch_ignore", "watch_cmd"):
            if getattr(task, key):
                message = "has no effect without `watch` (no file is watched for this task)"
                problems.append(Problem(W_WATCH_UNUSED, message, "warning", task=name, key=key))
    return problems


def _duplicate_problems(task: str, depends_on: list[str]) -> list[Problem]:
    repeated = [dep for dep, count in Counter(depends_on).items() if count > 1]
    return [
        Problem(
            W_DUPLICATE_DEP,
            f"lists '{dep}' more than once (taskmux uses it once)",
            "warning",
            task=task,
            key="depends_on",
        )
        for dep in repeated
    ]


def _duplicate_port_problems(tasks: dict[str, TaskConfig]) -> list[Problem]:
    """A fixed port held by two tasks: only one can listen there, the other fails to start
    (and exports would publish the port twice)."""
    owners: dict[int, str] = {}
    problems = []
    for name, task in tasks.items():
        if not isinstance(task.port, int) or isinstance(task.port, bool):
            continue
        first = owners.setdefault(task.port, name)
        if first != name:
            message = (
                f"port {task.port} is also task '{first}'s port: two tasks cannot listen on "
                'one port (give one another port, or port = "auto")'
            )
            problems.append(Problem(E_DUPLICATE_PORT, message, task=name, key="port"))
    return problems


def _dependency_problems(tasks: dict[str, TaskConfig], raw_tasks: dict[str, Any]) -> list[Problem]:
    problems = []
    for name, task in tasks.items():
        for dep in task.dependencies:
            if dep == name:
                problems.append(
                    Problem(E_CYCLE, "a task cannot depend on itself", task=name, key="depends_on")
                )
            elif dep not in raw_tasks:
                message = f"depends on unknown task '{dep}'"
                problems.append(Problem(E_UNKNOWN_DEP, message, task=name, key="depends_on"))
    cycle = find_cycle({n: [d for d in t.dependencies if d != n] for n, t in tasks.items()})
    if cycle:
        message = "dependency cycle: " + " → ".join(cycle)
        problems.append(Problem(E_CYCLE, message, task=cycle[0], key="depends_on"))
    return problems


def _env_problems(
    project: ProjectConfig | None, tasks: dict[str, TaskConfig], raw_tasks: dict[str, Any]
) -> list[Problem]:
    """What can be told without reading env files: names, `${...}` syntax, port references."""
    problems: list[Problem] = []
    scopes: list[tuple[str | None, Any]] = [(None, project)] if project else []
    scopes += list(tasks.items())

    def check_port_ref(target: str, scope: str | None, key: str) -> None:
        if target not in raw_tasks:
            message = f"${{tasks.{target}.port}} names a task that does not exist"
        elif target in tasks and tasks[target].port is None:
            message = f"${{tasks.{target}.port}}: task '{target}' has no port"
        else:
            return
        problems.append(Problem(E_REFERENCE, message, task=scope, key=key))

    for scope, spec in scopes:
        for name, value in spec.env.items():
            key = f"env.{name}"
            if not NAME_RE.match(name):
                message = f"{name!r} is not a variable name (letters, digits and '_')"
                problems.append(Problem(E_ENV_NAME, message, task=scope, key=key))
            for ref in references(value):
                if ref.problem is not None:
                    problems.append(Problem(E_REFERENCE, ref.problem, task=scope, key=key))
                elif ref.port_of is not None:
                    check_port_ref(ref.port_of, scope, key)
        for entry in spec.env_files:
            if entry.lstrip("?").strip() == "":
                message = f"must name a file (got {entry!r})"
                problems.append(Problem(E_TYPE, message, task=scope, key="env_file"))
        for key, text in _expanded_texts(spec):
            for target in port_references(text):
                check_port_ref(target, scope, key)
    return problems


def _expanded_texts(spec: ProjectConfig | TaskConfig) -> list[tuple[str, str]]:
    """The keys in which taskmux expands `${tasks.NAME.port}`: command, health_check, hooks."""
    texts = [(f"hooks.{f.name}", getattr(spec.hooks, f.name)) for f in dataclasses.fields(Hooks)]
    if isinstance(spec, TaskConfig):
        texts += [("command", spec.command), ("health_check", spec.health_check)]
    return [(key, text) for key, text in texts if text]
