"""Commands that read or edit the config file: add, remove, init, check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskmux.cli.app import JsonOpt, app, console, emit, load, state, warn

if TYPE_CHECKING:
    pass


@app.command()
def add(
    task: Annotated[str, typer.Argument(help="Name of the new task.")],
    command: Annotated[str, typer.Argument(help="Shell command line, run verbatim.")],
    cwd: Annotated[
        str | None, typer.Option(help="Working directory, relative to the config.")
    ] = None,
    port: Annotated[
        str | None, typer.Option(help='TCP port the task listens on, or "auto" (a free one).')
    ] = None,
    health_check: Annotated[
        str | None, typer.Option(help="Shell command; exit 0 = healthy.")
    ] = None,
    depends_on: Annotated[
        list[str] | None, typer.Option("--depends-on", help="A task this one needs (repeatable).")
    ] = None,
    restart_policy: Annotated[
        str | None, typer.Option(help="'no', 'on-failure' or 'always'.")
    ] = None,
    no_auto_start: Annotated[
        bool, typer.Option("--no-auto-start", help="Skip on bare start.")
    ] = False,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="KEY=VALUE set in the task's environment (repeatable)."),
    ] = None,
    env_file: Annotated[
        list[str] | None,
        typer.Option(
            "--env-file", help="Dotenv file for the task, '?path' if optional (repeatable)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a task of that name.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Add a task to taskmux.toml (validated before the file is written)."""
    from taskmux.service import Service, open_project

    service = Service.for_project(open_project(state.config))  # its warnings: the new file's
    result = service.add(
        task,
        command,
        cwd=cwd,
        port=_port_value(port),
        health_check=health_check,
        depends_on=depends_on,
        restart_policy=restart_policy,
        auto_start=not no_auto_start,
        env=_env_pairs(env) if env else None,
        env_file=env_file,
        force=force,
    )
    for problem in service.project.warnings:
        warn(problem.render(), problem.code)
    emit(json_out, result.to_dict(), f"added task '{task}'{result.note()}")


def _port_value(text: str | None) -> int | str | None:
    """`--port 3000` or `--port auto` (the range is left for validation to name)."""
    from taskmux.errors import UsageError

    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--port takes a port number or 'auto' (got {text!r})") from None


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    """`--env KEY=VALUE` options as a table, in order; a pair without `=` is a usage error."""
    from taskmux.errors import UsageError

    table: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:  # not echoed: the argument may hold a secret
            raise UsageError("--env takes KEY=VALUE; one argument has no KEY or no '='")
        table[name] = value
    return table


@app.command()
def remove(
    task: Annotated[str, typer.Argument(help="Task to remove.")],
    json_out: JsonOpt = False,
) -> None:
    """Remove a task from taskmux.toml, killing it first if it runs."""
    from taskmux.service import Service

    result = Service.for_project(load(json_out)).remove(task)
    note = " (was running: killed)" if result.was_running else ""
    emit(json_out, result.to_dict(), f"removed task '{task}'{note}{result.note()}")


@app.command()
def scale(
    task: Annotated[str, typer.Argument(help="The task, as declared in taskmux.toml.")],
    replicas: Annotated[
        int, typer.Argument(min=1, max=32, help="Instances wanted: TASK-1...TASK-N.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Set a task's replicas in taskmux.toml (comments kept) and apply it: stop the
    instances it drops, start the new ones when one of the task's instances runs."""
    from taskmux.cli.calls import perform

    def human(result: Any) -> str:
        done = [
            f"{verb} {', '.join(names)}"
            for verb, names in (("started", result.started), ("stopped", result.stopped))
            if names
        ]
        line = f"{task}: replicas = {replicas} ({', '.join(result.instances)})"
        return "; ".join([line, *done])

    params = {"task": task, "replicas": replicas}
    perform(json_out, "scale", lambda s: s.call("scale", params), human)


@app.command()
def init(
    defaults: Annotated[bool, typer.Option("--defaults", help="Ask nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create taskmux.toml here and write taskmux instructions for detected AI agents."""
    from taskmux.config.create import create_config, session_name_for
    from taskmux.interop import agents

    root = Path.cwd()
    session = session_name_for(root)
    detected = agents.detect(root)
    interactive = not defaults and not json_out and bool(sys.stdin and sys.stdin.isatty())
    if interactive:
        session = typer.prompt("Session name", default=session)
    path = create_config(root, session, force=force)
    files = agents.context_files(detected)
    if (
        interactive
        and files
        and not typer.confirm(f"Write taskmux notes to {', '.join(files)}?", default=True)
    ):
        files = []
    block = agents.render_block(session, [])
    written = [rel for rel in files if agents.write_block(root / rel, block) or True]
    names = [a.name for a in detected]

    def human() -> None:
        out = console()
        out.print(f"created {path.name} (session '{session}')")
        for rel in written:
            out.print(f"wrote taskmux notes to {rel}")
        if not detected:
            out.print("no AI coding agent detected; no context files written")

    emit(
        json_out,
        {"config": str(path), "session": session, "agents": names, "context_files": written},
        human,
    )


@app.command()
def check(json_out: JsonOpt = False) -> None:
    """Validate taskmux.toml and report every problem (errors exit 2, warnings exit 0)."""
    import os

    from taskmux.config.checking import check_project
    from taskmux.config.project import find_config

    path = find_config(state.config)
    config, problems = check_project(path, os.environ)
    errors = [p for p in problems if p.severity == "error"]
    if json_out:
        from taskmux.cli.app import print_json

        print_json(
            {"ok": not errors, "config": str(path), "problems": [p.to_dict() for p in problems]}
        )
    else:
        for p in problems:
            kind = "error" if p.severity == "error" else "warning"
            typer.echo(f"{kind}[{p.code}]: {p.render()}", err=True)
        tasks = len(config.tasks) if config else 0
        summary = f"{path}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
        typer.echo(summary if errors else f"{summary}; {tasks} task(s) OK")
    if errors:
        raise typer.Exit(2)
