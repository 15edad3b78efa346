"""Commands that act on running tasks: start, stop, restart, kill, status, health, inspect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskmux.cli.app import JsonOpt, app, console, emit, fail, finite, load, warn
from taskmux.cli.render import ProgressPrinter, status_table

if TYPE_CHECKING:
    from taskmux.lifecycle import Lifecycle, StartReport

TasksArg = Annotated[
    list[str] | None, typer.Argument(help="Task names (default: all).", show_default=False)
]


KillPortOpt = Annotated[
    bool,
    typer.Option(
        "--kill-port",
        help="Free each task's port from whatever holds it (that may be signalled), "
        "not only from this project's leftovers.",
    ),
]


@contextmanager
def lifecycle_for(
    json_out: bool, fallback: bool = False, kill_port: bool = False
) -> Iterator[Lifecycle]:
    """A Lifecycle whose progress is shown while the block runs (`fallback`: see `load`)."""
    from taskmux.lifecycle import Lifecycle

    printer = ProgressPrinter(json_out)
    try:
        lifecycle = Lifecycle.for_project(load(json_out, fallback), printer)
        lifecycle.kill_port = kill_port
        yield lifecycle
    finally:
        printer.close()


def report_start(json_out: bool, report: StartReport, exit_on_failure: bool = True) -> None:
    """Print a start summary; on failure exit 1 unless supervision should go on."""
    for message in report.warnings:
        warn(message, "W401")
    error = report.error()
    if error is None:
        emit(json_out, report.to_dict(), None)
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
    kill_port: KillPortOpt = False,
    with_deps: Annotated[
        bool,
        typer.Option("--with-deps", help="Also start what the named tasks depend on."),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Return once every task started is ready (healthy; a one-shot: completed); "
            "exit 1 saying why if one is not.",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", "-t", min=0, callback=finite, help="With --wait: give up after S seconds."
        ),
    ] = 60.0,
    json_out: JsonOpt = False,
) -> None:
    """Start tasks in dependency order (no names: every auto_start task)."""
    if monitor and wait:
        from taskmux.errors import UsageError

        raise UsageError("--wait and -m/--monitor do not go together (wait, then start -m)")
    if monitor:
        from taskmux.cli.supervise_cmds import run_monitor

        run_monitor(tasks or None, json_out, kill_port, with_deps)
        return
    if wait:
        start_and_wait(tasks or None, with_deps, timeout, kill_port, json_out)
        return
    with lifecycle_for(json_out, kill_port=kill_port) as lifecycle:
        report = lifecycle.start(tasks or None, with_deps=with_deps)
    note = None if tasks else nothing_to_start(lifecycle, report)
    if note is not None:
        emit(json_out, {**report.to_dict(), "note": note}, note)
        return
    report_start(json_out, report)


def start_and_wait(
    tasks: list[str] | None, with_deps: bool, timeout: float, kill_port: bool, json_out: bool
) -> None:
    """`start --wait`: start, wait for readiness; exit 1 with each unready task's facts."""
    from taskmux.cli.agent_cmds import explain_wait
    from taskmux.errors import StartFailed, TaskmuxError, WaitFailed
    from taskmux.waiting import start_and_wait as run

    with lifecycle_for(json_out, kill_port=kill_port) as lifecycle:
        report, result = run(lifecycle, tasks, with_deps, timeout)
    for message in report.warnings:
        warn(message, "W401")
    data = {**report.to_dict(), "wait": result.to_dict()}
    if result.ok and report.ok:
        note = None if tasks else nothing_to_start(lifecycle, report)
        emit(json_out, data if note is None else {**data, "note": note}, note or result.summary())
        return
    # The wait's summary names every task that is not ready and why; a start that failed
    # outright (a hook, a port, a quick death) keeps its own code.
    start_error = report.error() if report.failed else None
    error: TaskmuxError = WaitFailed(result.summary())
    if start_error is not None:
        error = StartFailed(result.summary(), code=start_error.code)
    fail(json_out, data, error, lambda: explain_wait(result))


def nothing_to_start(lifecycle: Lifecycle, report: StartReport) -> str | None:
    """Why a bare `start` had nothing to do (it prints nothing else), or None."""
    if (
        report.started
        or report.completed
        or report.already_running
        or report.skipped
        or report.failed
    ):
        return None
    config, file = lifecycle.config, lifecycle.project.path.name
    if not config.tasks:
        return f'no tasks in {file} (add one with `taskmux add NAME "COMMAND"`)'
    first = next(iter(config.tasks))
    if not config.auto_start:
        return f"auto_start = false in {file}: no task started (name one: `taskmux start {first}`)"
    return f"no task in {file} has auto_start = true (name one: `taskmux start {first}`)"


@app.command()
def stop(tasks: TasksArg = None, json_out: JsonOpt = False) -> None:
    """Stop tasks gracefully and mark them stopped (no names: all, then end the session)."""
    from taskmux.errors import TaskmuxError

    with lifecycle_for(json_out, fallback=True) as lifecycle:
        report = lifecycle.stop(tasks or None)
    for name in report.not_running:
        if not json_out:
            typer.echo(f"{name}: not running")
    if report.failed:
        fail(json_out, report.to_dict(), TaskmuxError("; ".join(report.failed.values())), None)
    human = report.session_kept or ("session ended" if report.session_ended else None)
    emit(json_out, report.to_dict(), human)


@app.command()
def restart(
    tasks: TasksArg = None, kill_port: KillPortOpt = False, json_out: JsonOpt = False
) -> None:
    """Stop, free ports, start again in place; clears manual-stop marks."""
    with lifecycle_for(json_out, kill_port=kill_port) as lifecycle:
        report = lifecycle.restart(tasks or None)
    report_start(json_out, report)


@app.command()
def kill(
    task: Annotated[str, typer.Argument(help="Task to kill.")], json_out: JsonOpt = False
) -> None:
    """SIGKILL a task's whole process tree and close its window."""
    with lifecycle_for(json_out, fallback=True) as lifecycle:
        was_running = lifecycle.kill(task)
    human = f"{task}: killed" if was_running else f"{task}: was not running; window closed"
    emit(json_out, {"task": task, "was_running": was_running}, human)


@app.command()
def status(json_out: JsonOpt = False) -> None:
    """Show the session and every task: state, pid, port, uptime, notes."""
    from taskmux.status import observe_project, status_rows
    from taskmux.tmux_manager import Tmux

    project = load(json_out, fallback=True)
    observation = observe_project(Tmux.from_env(), project)
    rows = status_rows(project, observation)
    data: dict[str, Any] = {
        "session": project.session,
        "session_running": observation.session_exists,
    }
    emit(
        json_out,
        {**data, "tasks": rows},
        lambda: status_table(project.session, observation.session_exists, rows),
    )


app.command("list", hidden=True, help="Alias of status.")(status)
app.command("ls", hidden=True, help="Alias of status.")(status)


@app.command()
def health(json_out: JsonOpt = False) -> None:
    """Check every running task concurrently; exit 1 if one that should run is down or
    unhealthy (tasks never started, or stopped by hand, show as not running)."""
    with lifecycle_for(json_out) as lifecycle:
        report = lifecycle.health()

    def human() -> None:
        from rich.markup import escape

        out = console()
        for name, entry in report.tasks.items():
            if entry.healthy is None:
                sign = "[dim]○[/]"
            else:
                sign = "[green]✓[/]" if entry.healthy else "[red]✗[/]"
            line = f"{sign} {name:<20} {escape(entry.state):<12} {escape(entry.summary)}"
            out.print(line.rstrip())

    error = report.error()
    if error is not None:
        fail(json_out, report.to_dict(), error, human)
    emit(json_out, report.to_dict(), human)


@app.command()
def inspect(
    task: Annotated[str, typer.Argument(help="Task to inspect.")], json_out: JsonOpt = False
) -> None:
    """Everything taskmux knows about one task, as JSON."""
    from taskmux.cli.app import print_json
    from taskmux.status import inspect_row, observe_project
    from taskmux.tmux_manager import Tmux

    project = load(json_out, fallback=True)
    project.task(task)
    row = inspect_row(project, task, observe_project(Tmux.from_env(), project))
    print_json({"ok": True, **row} if json_out else row)
