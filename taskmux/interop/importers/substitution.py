"""Moving in: the text rules of the source tools as taskmux's. Pure.

process-compose renders Go templates (`{{.NAME}}`) from `vars`, then fills `${NAME}`,
`${NAME:-default}` and `$NAME` from its environment and `.env`, with `$$` for one `$`.
taskmux expands only `${NAME}` in `env` values and nothing in `cwd`; the shell does the
rest. So what taskmux cannot expand itself is handed to the shell, which has the same
rules: an `export` before the command, a `cd` into a folder named with a variable. And a
command written for bash runs under bash, not taskmux's `/bin/sh`.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

# `{{.NAME}}` (spaces allowed): the one Go template form process-compose files use for vars.
_TEMPLATE_RE = re.compile(r"\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")
_ANY_TEMPLATE_RE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
# `${NAME<op>word}` with a shell operator (default, assign, error, alternative).
_SHELL_FORM_RE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-=?+])[^}]*\}")
_DEFAULT_ONLY_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}$")
# Syntax that bash runs and a POSIX /bin/sh (dash) does not.
_BASH_ONLY_RE = re.compile(
    r"\[\[\s|\bset\s+-o\s+pipefail\b|(?:^|[;&|({]\s*)source\s|<\(|>\(|&>|"
    r"\bfunction\s+\w+|\$'|\{\w+\.\.\w+\}|\bshopt\b|\bdeclare\b|\w+=\(|\|&|\$\{\w+//?"
)
_YAML11_BOOLS = {
    "y": True,
    "yes": True,
    "on": True,
    "true": True,
    "n": False,
    "no": False,
    "off": False,
    "false": False,
}


def render_templates(value: Any, variables: dict[str, Any], missing: set[str]) -> Any:
    """Every string in `value` (recursively) with `{{.NAME}}` replaced by the variable's
    text; names without a value are added to `missing` and left as written."""
    if isinstance(value, str):

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                missing.add(name)
                return match.group(0)
            found = variables[name]
            if isinstance(found, bool):
                return "true" if found else "false"
            return str(found)

        return _TEMPLATE_RE.sub(fill, value)
    if isinstance(value, dict):
        return {key: render_templates(item, variables, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [render_templates(item, variables, missing) for item in value]
    return value


def leftover_templates(value: Any) -> list[str]:
    """Template actions still in `value` after rendering (`{{if}}`, pipelines, ...)."""
    if isinstance(value, str):
        return _ANY_TEMPLATE_RE.findall(value)
    if isinstance(value, dict):
        return [found for item in value.values() for found in leftover_templates(item)]
    if isinstance(value, list):
        return [found for item in value for found in leftover_templates(item)]
    return []


def has_shell_form(text: str) -> bool:
    """Whether an `env` value uses `${NAME:-...}` and the like, which taskmux does not expand."""
    return _SHELL_FORM_RE.search(text) is not None


def default_of(text: str) -> tuple[str, str] | None:
    """(NAME, default) when the whole text is `${NAME:-default}` (or `${NAME-default}`)."""
    match = _DEFAULT_ONLY_RE.match(text.strip())
    return (match.group(1), match.group(2)) if match else None


def shell_word(text: str) -> str:
    """An `env` value (taskmux's syntax: `$$` is one `$`) as one double-quoted shell word
    in which `${...}` still expands and every other `$` is literal."""
    out = ['"']
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("$$", index):
            out.append("\\$")
            index += 2
            continue
        if char == "$" and text.startswith("${", index) and "}" in text[index:]:
            end = text.index("}", index)
            out.append(text[index : end + 1].replace('"', '\\"'))
            index = end + 1
            continue
        out.append("\\" + char if char in '$"\\`' else char)
        index += 1
    out.append('"')
    return "".join(out)


def export_prelude(values: dict[str, str]) -> str:
    """`export NAME="value"; ` for each value, for the shell to expand at run time."""
    return "".join(f"export {name}={shell_word(value)}; " for name, value in values.items())


def cd_prelude(folder: str) -> str:
    """`cd` into a folder named with variables, before the command (taskmux's `cwd` is
    taken literally); the task fails at once when the folder is not there."""
    return f"cd -- {shell_word(folder)} || exit 1; "


def uses_bash(command: str) -> bool:
    """Whether a command uses syntax that bash runs and a POSIX `/bin/sh` does not."""
    return _BASH_ONLY_RE.search(command) is not None


def in_shell(command: str, shell: str, argument: str = "-c") -> str:
    """`command` run by `shell` (taskmux runs every command with `/bin/sh -c`)."""
    return f"{shell} {argument} {shlex.quote(command)}"


def as_bool(value: Any) -> Any:
    """A YAML 1.1 boolean word (`yes`, `no`, `on`, `off`) as the bool Go's YAML decoder
    makes of it for a boolean key; anything else unchanged."""
    if isinstance(value, str) and value.strip().lower() in _YAML11_BOOLS:
        return _YAML11_BOOLS[value.strip().lower()]
    return value


def port_number(value: Any) -> int | None:
    """A port written as a number or as text (`"9681"`), or `${NAME:-9681}`'s default."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        found = default_of(value)
        text = found[1] if found else value.strip()
        value = int(text) if text.isdigit() else None
    if isinstance(value, int) and 1 <= value <= 65535:
        return value
    return None
