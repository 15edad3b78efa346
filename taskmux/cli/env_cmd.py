"""`taskmux env [TASK]`: a task's environment as shell `export` lines (or JSON)."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from taskmux.cli.app import JsonOpt, app, load, print_json


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
    from taskmux.service import Service

    result = Service.for_project(load(json_out)).env(task)
    if json_out:
        print_json({"ok": True, **result.to_dict()})
        return
    for name, value in result.exported.items():
        typer.echo(f"export {name}={shlex.quote(value)}")
