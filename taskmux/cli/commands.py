"""Import every command module so each registers its commands on the app; each command
is listed with its line from `catalog.py` (the lean `--help` is written from it too)."""

from __future__ import annotations

from functools import cache
from typing import Any

import typer

from taskmux.cli import (  # noqa: F401
    agent_cmds,
    config_cmds,
    daemon_cmds,
    env_cmd,
    kube_cmd,
    lifecycle_cmds,
    logs_cmd,
    move_cmds,
    supervise_cmds,
    up_cmd,
    worktree_cmds,
)
from taskmux.cli.app import app
from taskmux.cli.catalog import ALIASES, COMMANDS


def _summaries() -> None:
    """Each command's summary is the catalog's: a command without one cannot be listed."""
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        command.short_help = ALIASES[name] if command.hidden else COMMANDS[name]
    for group in app.registered_groups:
        assert group.typer_instance is not None
        named = (group.name, group.typer_instance.info.name)
        name = next(n for n in named if isinstance(n, str))
        group.short_help = COMMANDS[name]


_summaries()


@cache
def command() -> Any:
    """The app as one click command, built once a process: building it from the
    functions' signatures costs ~90 ms, and a host that runs the CLI again and again in
    one process (the tests, an embedding) would pay that every call."""
    return typer.main.get_command(app)


__all__ = ["app", "command"]
