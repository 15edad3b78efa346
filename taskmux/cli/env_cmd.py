"""`taskmux env [TASK]`: a task's environment as shell `export` lines (or JSON)."""

from __future__ import annotations

import re
import shlex
from typing import Annotated

import typer

from taskmux.cli.app import JsonOpt, app, load, print_json


def port_variable(task: str) -> str:
    """TASKMUX_<TASK>_PORT: upper case, `-` as `_`."""
    return f"TASKMUX_{re.sub(r'[^A-Za-z0-9_]', '_', task).upper()}_PORT"


@app.command("env")
def env_command(
    task: Annotated[
        str | None, typer.Argument(help="Print this task's whole environment too.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print `export NAME=VALUE` lines: every task's port, and with TASK its environment.

    `eval "$(taskmux env api)"` then runs a one-off command (tests, a REPL, a migration)
    as the task would. The output holds the values of env files: secrets included.
    """
    from taskmux.lifecycle import Lifecycle

    lifecycle = Lifecycle.for_project(load(json_out))
    ports, env = lifecycle.environment(task)
    exported = {port_variable(name): str(port) for name, port in ports.items()} | env
    if json_out:
        data = {"session": lifecycle.session, "task": task, "ports": ports, "env": exported}
        print_json({"ok": True, **data})
        return
    for name, value in exported.items():
        typer.echo(f"export {name}={shlex.quote(value)}")
