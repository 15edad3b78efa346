"""Moving in from process-compose: what its rules of text and shells become, and its
newer keys (`success_exit_codes`, `watch`, `replicas`). Pure.

- `vars` and `{{.NAME}}` are rendered before anything is mapped.
- An `environment` value taskmux's `env` cannot expand (`${NAME:-default}`) is exported
  before the command, for the shell to expand; a value that looks secret goes to an env
  file written 0600 beside taskmux.toml instead of into it.
- process-compose runs commands with `bash -c` (its `shell`), taskmux with `/bin/sh -c`:
  a command that uses bash's syntax is wrapped in `bash -c '…'`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskmux.interop.importers.plan import ImportPlan, shown
from taskmux.interop.importers.substitution import (
    as_bool,
    cd_prelude,
    export_prelude,
    has_shell_form,
    in_shell,
    leftover_templates,
    render_templates,
    uses_bash,
)

SECRETS_FILE = ".taskmux-secrets.env"  # the top level's; a task's adds its name
_TOP_BOOLS = ("is_dotenv_disabled", "disable_env_expansion", "is_strict", "ordered_shutdown")
_PROCESS_BOOLS = (
    "disabled",
    "is_foreground",
    "is_daemon",
    "is_tty",
    "is_interactive",
    "is_elevated",
    "disable_ansi_colors",
)
_POSIX_SHELLS = ("sh", "/bin/sh", "/usr/bin/sh", "dash", "/bin/dash")
_MAX_REPLICAS = 32  # as config/composition.MAX_REPLICAS


@dataclass(frozen=True)
class Shell:
    """The shell process-compose runs commands with (its default is bash)."""

    command: str = "bash"
    argument: str = "-c"

    @property
    def name(self) -> str:
        return f"{self.command} {self.argument}"

    @property
    def is_bash(self) -> bool:
        return self.command.rsplit("/", 1)[-1] == "bash"

    @property
    def is_posix(self) -> bool:
        return self.command in _POSIX_SHELLS


def shell_of(plan: ImportPlan, value: Any) -> Shell:
    if value is None:
        return Shell()
    command = value.get("shell_command") if isinstance(value, dict) else None
    argument = value.get("shell_argument") if isinstance(value, dict) else None
    if not isinstance(command, str) or not command.strip():
        plan.unmapped(shown("shell", value), "no shell_command: process-compose's bash kept")
        return Shell()
    shell = Shell(command.strip(), str(argument or "-c"))
    if shell.is_posix:
        plan.mapped("shell", "-", "taskmux runs every command with /bin/sh -c as well")
    elif shell.is_bash:
        plan.mapped("shell", "-", "a command that uses bash syntax is wrapped in bash -c")
    else:
        plan.mapped("shell", "-", f"every command is wrapped in {shell.name} '…'")
    return shell


def bool_keys(data: dict[str, Any]) -> dict[str, Any]:
    """The file with YAML 1.1 boolean words (`yes`, `no`, `on`, `off`) of boolean keys as
    bools, as Go's decoder reads them into process-compose's boolean fields."""
    out = {k: as_bool(v) if k in _TOP_BOOLS else v for k, v in data.items()}
    processes = data.get("processes")
    if isinstance(processes, dict):
        out["processes"] = {
            name: {k: as_bool(v) if k in _PROCESS_BOOLS else v for k, v in body.items()}
            if isinstance(body, dict)
            else body
            for name, body in processes.items()
        }
    return out


def render_vars(
    plan: ImportPlan, task: str | None, where: str, value: Any, variables: dict[str, Any]
) -> Any:
    """`value` with its `{{.NAME}}`s rendered; what cannot be is noted and left."""
    missing: set[str] = set()
    rendered = render_templates(value, variables, missing)
    for name in sorted(missing):
        plan.unmapped(f"{where}: {{{{.{name}}}}}", "no such name in vars: left as written", task)
    for action in dict.fromkeys(leftover_templates(rendered)):
        if not any(f".{name}" in action for name in missing):
            plan.unmapped(f"{where}: {action}", "a template action taskmux cannot render", task)
    return rendered


def place_env(
    plan: ImportPlan, task: str | None, where: str, env: dict[str, str]
) -> dict[str, str]:
    """Take out of `env` what must not stay there: values taskmux cannot expand (returned,
    to be exported before the command) and values that look secret (to an env file)."""
    from taskmux.logs.redact import secret_values

    exports: dict[str, str] = {}
    secrets: dict[str, str] = {}
    hidden = set(secret_values(env).values())
    target = f"tasks.{task}.command" if task else "tasks.*.command"
    for key, value in list(env.items()):
        if has_shell_form(value):
            exports[key] = env.pop(key)
            plan.mapped(
                f"{where}: {key}",
                target,
                "uses ${NAME:-default} (or the like), which taskmux's env does not expand: "
                "exported before the command, where the shell expands it as process-compose did",
            )
        elif key in hidden and "$" not in value:
            secrets[key] = env.pop(key)
    if secrets:
        name = SECRETS_FILE if task is None else f".taskmux-secrets-{task}.env"
        plan.private_files[name] = secrets
        keys = plan.top if task is None else plan.tasks[task].keys
        add_env_file(keys, name)
        plan.mapped(
            f"{where}: {', '.join(secrets)}",
            f"{'' if task is None else f'tasks.{task}.'}env_file",
            f"they look secret: written to {name} (0600, add it to .gitignore), not to "
            "taskmux.toml",
        )
    return exports


def add_env_file(keys: dict[str, Any], name: str) -> None:
    """`name` after the env files already listed (it wins over them, as `env` did)."""
    current = keys.get("env_file")
    files = [] if current is None else [current] if isinstance(current, str) else list(current)
    files.append(name)
    keys["env_file"] = files[0] if len(files) == 1 else files


def finish_command(
    plan: ImportPlan,
    name: str,
    where: str,
    shell: Shell,
    exports: dict[str, str],
    cd_into: str | None,
) -> None:
    """The command as taskmux runs it: in the source's shell where it needs that shell,
    after the exports and the `cd` the shell must do."""
    keys = plan.tasks[name].keys
    if "replicas" in keys:
        for key in ("command", "health_check"):
            if isinstance(keys.get(key), str):
                keys[key] = keys[key].replace("PC_REPLICA_NUM", "TASKMUX_REPLICA")
    for key in ("command", "health_check"):
        if isinstance(keys.get(key), str):
            keys[key] = _in_source_shell(plan, name, f"{where}.{key}", keys[key], shell)
    hooks = keys.get("hooks")
    if isinstance(hooks, dict) and isinstance(hooks.get("before_stop"), str):
        source = f"{where}.shutdown.command"
        hooks["before_stop"] = _in_source_shell(plan, name, source, hooks["before_stop"], shell)
    prelude = export_prelude(exports) + (cd_prelude(cd_into) if cd_into else "")
    if prelude:
        keys["command"] = prelude + keys["command"]


def _in_source_shell(plan: ImportPlan, name: str, source: str, command: str, shell: Shell) -> str:
    if shell.is_posix or (shell.is_bash and not uses_bash(command)):
        return command
    why = "uses bash syntax" if shell.is_bash else f"process-compose runs it with {shell.name}"
    plan.mapped(
        source, f"tasks.{name}", f"{why}; taskmux runs /bin/sh -c: wrapped in {shell.name} '…'"
    )
    return in_shell(command, shell.command, shell.argument)


def success_codes(plan: ImportPlan, name: str, source: str, value: Any) -> None:
    codes = [value] if isinstance(value, int) else value
    if (
        isinstance(codes, list)
        and codes
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in codes)
    ):
        plan.tasks[name].keys["success_exit_codes"] = list(codes)
        plan.mapped(source, f"tasks.{name}.success_exit_codes", ", ".join(map(str, codes)))
    else:
        plan.unmapped(shown(source, value), "not a list of exit codes (0-255)", name)


def watch(plan: ImportPlan, name: str, where: str, value: Any) -> None:
    """Paths or globs (strings, or tables with `path`/`paths`) as the task's `watch`."""
    items = value if isinstance(value, list) else [value]
    patterns: list[str] = []
    for item in items:
        if isinstance(item, str) and item.strip():
            patterns.append(item.strip())
        elif isinstance(item, dict):
            paths = item.get("paths", item.get("path"))
            found = [paths] if isinstance(paths, str) else paths
            if isinstance(found, list):
                patterns += [str(p) for p in found if str(p).strip()]
            for extra in item:
                if extra not in ("path", "paths"):
                    reason = "taskmux restarts the task on any change to a watched file"
                    plan.unmapped(shown(f"{where}.watch.{extra}", item[extra]), reason, name)
    if patterns:
        plan.tasks[name].keys["watch"] = patterns
        plan.mapped(f"{where}.watch", f"tasks.{name}.watch", ", ".join(patterns))
    else:
        plan.unmapped(shown(f"{where}.watch", value), "no path to watch", name)


def replicas(plan: ImportPlan, name: str, where: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MAX_REPLICAS:
        plan.tasks[name].keys["replicas"] = value
        plan.mapped(
            f"{where}.replicas",
            f"tasks.{name}.replicas",
            f"{value} instances {name}-1…{name}-{value}; PC_REPLICA_NUM is TASKMUX_REPLICA",
        )
    else:
        plan.unmapped(shown(f"{where}.replicas", value), f"not from 1 to {_MAX_REPLICAS}", name)
