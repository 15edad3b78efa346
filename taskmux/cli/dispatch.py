"""Build only the command a process runs: import the module that defines it and make a
click group of the app's root and that one command.

Importing every command module and building all ~40 commands from their signatures
costs a `taskmux start` or `add` ~0.1-0.2 s of CPU before it does anything; agents run
such commands many times a minute. Whatever this cannot name (no command, an unknown
one, a root option such as `--version` or `--help` first) takes the whole app, which
says what is wrong exactly as before.
"""

from __future__ import annotations

import copy
import importlib
from functools import cache
from typing import Any

# Each command (and command group) and the modules under taskmux/cli that define it;
# tests/cli/test_dispatch.py holds this equal to what the modules register.
HOMES: dict[str, tuple[str, ...]] = {
    "wait": ("agent_cmds",),
    "inject": ("agent_cmds",),
    "mcp": ("agent_cmds",),
    "add": ("config_cmds",),
    "remove": ("config_cmds",),
    "scale": ("config_cmds",),
    "init": ("config_cmds",),
    "check": ("config_cmds",),
    "daemon": ("daemon_cmds",),
    "ui": ("daemon_cmds",),
    "watch": ("daemon_cmds",),
    "env": ("env_cmd",),
    "start": ("lifecycle_cmds",),
    "ensure": ("lifecycle_cmds",),
    "stop": ("lifecycle_cmds",),
    "restart": ("lifecycle_cmds",),
    "kill": ("lifecycle_cmds",),
    "status": ("lifecycle_cmds",),
    "list": ("lifecycle_cmds",),
    "ls": ("lifecycle_cmds",),
    "health": ("lifecycle_cmds",),
    "inspect": ("lifecycle_cmds",),
    "graph": ("lifecycle_cmds",),
    "logs": ("logs_cmd",),
    "import": ("move_cmds",),
    "export": ("move_cmds", "kube_cmd"),
    "events": ("supervise_cmds",),
    "up": ("up_cmd",),
    "worktree": ("worktree_cmds",),
    "proxy": ("worktree_cmds",),
}


def command_name(args: list[str]) -> str | None:
    """The command `args` run, if only `-c`/`--config` stands before it (None otherwise:
    `--version`, `--help`, `--`, a typo, which the whole app answers)."""
    from taskmux.cli.fast import split_config  # already imported: entry.run asked it first

    rest = split_config(args)[1]
    return rest[0] if rest and not rest[0].startswith("-") else None


def command_for(args: list[str]) -> Any:
    """The click command to run `args` with: the root and just their command when it can
    be named, the whole app otherwise."""
    name = command_name(args)
    if name in HOMES:
        return _one_command(name)
    from taskmux.cli.commands import command

    return command()


@cache
def _one_command(name: str) -> Any:
    """The root group with `name` alone in it, built once a process (as `commands.command`)."""
    import typer

    from taskmux.cli import catalog
    from taskmux.cli.app import app

    for module in HOMES[name]:
        importlib.import_module(f"taskmux.cli.{module}")
    lone = copy.copy(app)
    lone.registered_commands = [c for c in app.registered_commands if _name_of(c) == name]
    lone.registered_groups = [g for g in app.registered_groups if _group_name(g) == name]
    for info in lone.registered_commands:
        info.short_help = catalog.ALIASES[name] if info.hidden else catalog.COMMANDS[name]
    return typer.main.get_command(lone)


def _name_of(info: Any) -> str:
    """A registered command's name as the command line spells it."""
    return str(info.name or info.callback.__name__.replace("_", "-"))


def _group_name(info: Any) -> str | None:
    """A command group's name: given where it was added, or by its own Typer."""
    named = info.name or info.typer_instance.info.name
    return named if isinstance(named, str) else None
