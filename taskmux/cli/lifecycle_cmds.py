"""Commands that act on running tasks: start, stop, restart, kill, status, health, inspect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskmux.cli.app import JsonOpt, app, console, emit, fail, load, warn
from taskmux.cli.render import ProgressPrinter, status_table

if TYPE_CHECKING:
    from taskmux.lifecycle import Lifecycle, StartReport

TasksArg = Annotated[
    list[str] | None, typer.Argument(help="Task names (default: all).", show_default=False)
]


@contextmanager
def lifecycle_for(json_out: bool) -> Iterator[Lifecycle]:
    """A Lifecycle whose progress is shown while the block runs."""
    from taskmux.lifecycle import Lifecycle

    printer = ProgressPrinter(json_out)
    try:
        yield Lifecycle.for_project(load(json_out), printer)
    finally:
        printer.close()


def report_start(json_out: bool, report: StartReport, exit_on_failure: bool = True) -> None:
    """Print a start summary; on failure exit 1 unless supervision should go on."""
    for message in report.warnings:
        warn(message, "W401")
    error = report.error()
    if error is None:
        where = None
        if report.started and report.session:
            where = f"session '{report.session}' (tmux attach -t {report.session})"
        emit(json_out, report.to_dict(), where)
        return
    if exit_on_failure:
        fail(json_out, report.to_dict(), error, None)
    typer.echo(f"error[{error.code}]: {error.message}", err=True)


@app.command()
def start(
    tasks: TasksArg = None,
    monitor: Annotated[
        bool, typer.Option("-m", "--monitor", help="Then supervise in the foreground.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Start tasks in dependency order (no names: every auto_start task)."""
    if monitor:
        from taskmux.cli.supervise_cmds import run_monitor

        run_monitor(tasks or None, json_out)
        return
    with lifecycle_for(json_out) as lifecycle:
        report = lifecycle.start(tasks or None)
    report_start(json_out, report)


@app.command()
def stop(tasks: TasksArg = None, json_out: JsonOpt = False) -> None:
    """Stop tasks gracefully and mark them stopped (no names: all, then end the session)."""
    from taskmux.errors import TaskmuxError

    with lifecycle_for(json_out) as lifecycle:
        report = lifecycle.stop(tasks or None)
    for name in report.not_running:
        if not json_out:
            typer.echo(f"{name}: not running")
    if report.failed:
        fail(json_out, report.to_dict(), TaskmuxError("; ".join(report.failed.values())), None)
    human = report.session_kept or ("session ended" if report.session_ended else None)
    emit(json_out, report.to_dict(), human)


@app.command()
def restart(tasks: TasksArg = None, json_out: JsonOpt = False) -> None:
    """Stop, free ports, start again in place; clears manual-stop marks."""
    with lifecycle_for(json_out) as lifecycle:
        report = lifecycle.restart(tasks or None)
    report_start(json_out, report)


@app.command()
def kill(
    task: Annotated[str, typer.Argument(help="Task to kill.")], json_out: JsonOpt = False
) -> None:
    """SIGKILL a task's whole process tree and close its window."""
    with lifecycle_for(json_out) as lifecycle:
        was_running = lifecycle.kill(task)
    human = f"{task}: killed" if was_running else f"{task}: was not running; window closed"
    emit(json_out, {"task": task, "was_running": was_running}, human)


@app.command()
def status(json_out: JsonOpt = False) -> None:
    """Show the session and every task: state, pid, port, uptime, notes."""
    from taskmux.status import observe_project, status_rows
    from taskmux.tmux_manager import Tmux

    project = load(json_out)
    observation = observe_project(Tmux.from_env(), project)
    rows = status_rows(project, observation)
    data: dict[str, Any] = {
        "session": observation.session,
        "session_running": observation.session_exists,
    }
    emit(
        json_out,
        {**data, "tasks": rows},
        lambda: status_table(observation.session, observation.session_exists, rows),
    )


app.command("list", hidden=True, help="Alias of status.")(status)
app.command("ls", hidden=True, help="Alias of status.")(status)


@app.command()
def health(json_out: JsonOpt = False) -> None:
    """Run every task's health check concurrently; exit 1 if any task is unhealthy."""
    with lifecycle_for(json_out) as lifecycle:
        results = lifecycle.health()
    data = {name: r.to_dict() for name, r in results.items()}
    unhealthy = [n for n, r in results.items() if not r.healthy]

    def human() -> None:
        out = console()
        for name, result in results.items():
            sign = "[green]✓[/]" if result.healthy else "[red]✗[/]"
            detail = result.output.splitlines()[-1] if result.output else ""
            out.print(f"{sign} {name:<20} {detail}")

    emit(json_out, {"ok": not unhealthy, "tasks": data}, human)
    if unhealthy:
        raise typer.Exit(1)


@app.command()
def inspect(
    task: Annotated[str, typer.Argument(help="Task to inspect.")], json_out: JsonOpt = False
) -> None:
    """Everything taskmux knows about one task, as JSON."""
    from taskmux.cli.app import print_json
    from taskmux.status import inspect_row, observe_project
    from taskmux.tmux_manager import Tmux

    project = load(json_out)
    project.task(task)
    row = inspect_row(project, task, observe_project(Tmux.from_env(), project))
    print_json({"ok": True, **row} if json_out else row)
