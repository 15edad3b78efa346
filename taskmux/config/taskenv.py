"""A task's environment: `env_file`s and `env` tables in their order, and `${...}` expansion.

Precedence, lowest first (SPEC §8): taskmux's own environment, the top-level `env_file`s,
the top-level `env`, the task's `env_file`s, the task's `env`. An `env` value expands
`${NAME}` from what is defined before it (then from taskmux's own environment),
`${tasks.NAME.port}` to that task's port, and `$$` to `$`; any other `$` is kept as it is.
Values read from env files are taken literally: a password with a `$` in it stays whole.

Values may be secrets: no problem reported here ever quotes one, only names, files and
line numbers. Expansion is pure; reading env files is the only I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from taskmux.config.schema import ProjectConfig
from taskmux.errors import Problem

# The variable that marks every process of a task ("<state folder>/<task>"), so a stop
# finds children that left the process group; and the variables that are one task's own.
MARKER_VAR = "TASKMUX_MARKER"
TASK_VARS = frozenset(
    {MARKER_VAR, "TASKMUX_TASK", "TASKMUX_PROJECT", "TASKMUX_SESSION", "TASKMUX_TASK_NAME"}
)

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PORT_REF_RE = re.compile(r"tasks\.([A-Za-z_][A-Za-z0-9_-]*)\.port\Z")
_DOLLAR_RE = re.compile(r"\$(\$|\{([^}$]*)\}|\{)")

E_REFERENCE = "E119"  # an undefined name, or a `${...}` taskmux cannot expand
E_ENV_FILE = "E122"  # a required env file is missing or unreadable
E_ENV_FILE_SYNTAX = "E123"  # a line of an env file cannot be parsed
E_ENV_NAME = "E124"  # an `env` key that is not a variable name

PortOf = Callable[[str], int | None]


class ExpansionError(Exception):
    """One `${...}` that cannot be expanded; the message names it, never a value."""


@dataclass(frozen=True)
class Reference:
    """One `${...}` or `$$` in a text: a variable name, a task's port, or a literal `$`."""

    text: str  # as written, e.g. "${tasks.api.port}"
    name: str | None = None  # for ${NAME}
    port_of: str | None = None  # for ${tasks.NAME.port}
    problem: str | None = None  # why it cannot be expanded (malformed)


def references(text: str) -> list[Reference]:
    """Every `$$` and `${...}` in an `env` value, in order."""
    found = []
    for match in _DOLLAR_RE.finditer(text):
        found.append(_reference(match))
    return found


def _reference(match: re.Match[str]) -> Reference:
    whole = match.group(0)
    if whole == "$$":
        return Reference(whole)
    inner = match.group(2)
    if inner is None:
        return Reference(whole, problem="'${' without a closing '}'")
    port = _PORT_REF_RE.match(inner)
    if port:
        return Reference(whole, port_of=port.group(1))
    if NAME_RE.match(inner):
        return Reference(whole, name=inner)
    return Reference(
        whole,
        problem=f"cannot expand {whole} (taskmux expands ${{NAME}}, ${{tasks.NAME.port}}, "
        "and $$ for a literal $)",
    )


def port_references(text: str) -> list[str]:
    """The tasks whose port a command line, health check or hook refers to."""
    return [
        port.group(1)
        for match in _DOLLAR_RE.finditer(text)
        if match.group(2) is not None and (port := _PORT_REF_RE.match(match.group(2)))
    ]


def _port_text(task: str, port_of: PortOf) -> str:
    port = port_of(task)
    if port is None:
        raise ExpansionError(f"${{tasks.{task}.port}}: task '{task}' has no port")
    return str(port)


def expand_value(text: str, lookup: Callable[[str], str | None], port_of: PortOf) -> str:
    """Expand one `env` value; raise ExpansionError for an undefined or malformed reference."""

    def replace(match: re.Match[str]) -> str:
        ref = _reference(match)
        if ref.problem is not None:
            raise ExpansionError(ref.problem)
        if ref.port_of is not None:
            return _port_text(ref.port_of, port_of)
        if ref.name is None:
            return "$"
        value = lookup(ref.name)
        if value is None:
            raise ExpansionError(f"${{{ref.name}}} is not defined")
        return value

    return _DOLLAR_RE.sub(replace, text)


def expand_ports(text: str, port_of: PortOf) -> str:
    """Expand only `${tasks.NAME.port}` (command, health_check, hooks); the rest is the shell's."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(2)
        port = _PORT_REF_RE.match(inner) if inner is not None else None
        return _port_text(port.group(1), port_of) if port else match.group(0)

    return _DOLLAR_RE.sub(replace, text)


@dataclass(frozen=True)
class Layer:
    """One source of variables: an env file (literal values) or an `env` table (expanded)."""

    values: Mapping[str, str]
    expand: bool
    task: str | None  # None: the top level
    key: str  # "env" or "env_file", for problems


def merge(
    layers: Iterable[Layer], base: Mapping[str, str], port_of: PortOf
) -> tuple[dict[str, str], list[Problem]]:
    """Apply the layers in order; return the variables they define and the problems found.

    `base` is taskmux's own environment: the fallback of `${NAME}`, not part of the result.
    A variable whose value cannot be expanded is left out and reported.
    """
    defined: dict[str, str] = {}
    problems: list[Problem] = []

    def lookup(name: str) -> str | None:
        return defined[name] if name in defined else base.get(name)

    for layer in layers:
        for name, raw in layer.values.items():
            if not layer.expand:
                defined[name] = raw
                continue
            try:
                defined[name] = expand_value(raw, lookup, port_of)
            except ExpansionError as exc:
                problems.append(Problem(E_REFERENCE, str(exc), task=layer.task, key=f"env.{name}"))
    return defined, problems


# Env files ----------------------------------------------------------------------------


def env_file_path(root: Path, entry: str) -> tuple[Path, bool]:
    """The file an `env_file` entry names (relative to the config's folder), and if optional."""
    optional = entry.startswith("?")
    text = entry[1:] if optional else entry
    return root / Path(text).expanduser(), optional


def read_env_file(root: Path, entry: str, task: str | None) -> tuple[dict[str, str], list[Problem]]:
    """Parse one dotenv file (python-dotenv's parser); a missing optional file is empty."""
    path, optional = env_file_path(root, entry)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if optional:
            return {}, []
        message = (
            f"env file {entry!r} does not exist ({path}); "
            f"write it, or make it optional with '?{entry}'"
        )
        return {}, [Problem(E_ENV_FILE, message, task=task, key="env_file")]
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        message = f"env file {entry!r} cannot be read ({path}): {reason}"
        return {}, [Problem(E_ENV_FILE, message, task=task, key="env_file")]
    return parse_env_text(text, entry, task)


def parse_env_text(text: str, entry: str, task: str | None) -> tuple[dict[str, str], list[Problem]]:
    """Dotenv syntax: quotes, escapes, comments, `export`; a bare `NAME` line sets nothing."""
    import io

    from dotenv.parser import parse_stream

    values: dict[str, str] = {}
    problems = []
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            message = f"env file {entry!r}, line {line}: not a NAME=VALUE line"
            problems.append(Problem(E_ENV_FILE_SYNTAX, message, task=task, key="env_file"))
        elif binding.key is not None and not NAME_RE.match(binding.key):
            message = f"env file {entry!r}, line {line}: {binding.key!r} is not a variable name"
            problems.append(Problem(E_ENV_FILE_SYNTAX, message, task=task, key="env_file"))
        elif binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values, problems


def resolve(
    config: ProjectConfig,
    root: Path,
    task: str | None,
    base: Mapping[str, str],
    port_of: PortOf,
) -> tuple[dict[str, str], list[Problem]]:
    """The variables `env_file` and `env` give a task (without a task: the top level's).

    Returns them with every problem found (missing files, bad lines, undefined names);
    the caller decides whether a problem is fatal.
    """
    scopes: list[tuple[str | None, list[str], Mapping[str, str]]] = [
        (None, config.env_files, config.env)
    ]
    if task is not None:
        spec = config.tasks[task]
        scopes.append((task, spec.env_files, spec.env))
    layers: list[Layer] = []
    problems: list[Problem] = []
    for scope, files, table in scopes:
        for entry in files:
            values, found = read_env_file(root, entry, scope)
            problems += found
            layers.append(Layer(values, False, scope, "env_file"))
        layers.append(Layer(table, True, scope, "env"))
    values, found = merge(layers, base, port_of)
    return values, problems + found


def all_problems(
    config: ProjectConfig, root: Path, base: Mapping[str, str], port_of: PortOf
) -> list[Problem]:
    """Every env problem of the project (for `check`), each reported once."""
    found: dict[tuple[object, ...], Problem] = {}
    for task in [None, *config.tasks]:
        for problem in resolve(config, root, task, base, port_of)[1]:
            found.setdefault((problem.code, problem.message, problem.task, problem.key), problem)
    return list(found.values())


def port_variable(task: str) -> str:
    """TASKMUX_<TASK>_PORT: upper case, anything but letters, digits and `_` as `_`."""
    return f"TASKMUX_{re.sub(r'[^A-Za-z0-9_]', '_', task).upper()}_PORT"


def url_variable(task: str) -> str:
    """TASKMUX_URL_<TASK>: the task's named URL (SPEC §14), spelled as `port_variable`."""
    return f"TASKMUX_URL_{re.sub(r'[^A-Za-z0-9_]', '_', task).upper()}"
