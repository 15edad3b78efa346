"""Commands that act on running tasks: start, stop, restart, kill, status, health, inspect.

Each parses its arguments, makes one call into the service (`taskmux/service/`) and
renders what comes back; a `PartialFailure` is rendered with its result and error line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskmux.cli.app import JsonOpt, app, console, emit, finite, load, print_json
from taskmux.cli.calls import attempt, explain_wait, perform, render
from taskmux.operations import OPERATIONS

if TYPE_CHECKING:
    from taskmux.lifecycle.core import StartReport
    from taskmux.lifecycle.ensure import EnsureResult
    from taskmux.lifecycle.results import StartWaitResult
    from taskmux.service import Service

TasksArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Task names, or @GROUP for a [groups] entry's tasks (default: all).",
        show_default=False,
    ),
]


KillPortOpt = Annotated[
    bool,
    typer.Option(
        "--kill-port",
        help="Free each task's port from whatever holds it (that may be signalled), "
        "not only from this project's leftovers.",
    ),
]

HolderOpt = Annotated[
    str | None,
    typer.Option(
        "--holder",
        envvar="TASKMUX_HOLDER",
        help="Act as this holder (an agent's name): claims what it starts, restarts or "
        "ensures for hold_ttl seconds; another's stop/restart/kill of it fails with E307.",
        show_default=False,
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Act even on a task another holder holds (not E307).")
]


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
    ] = OPERATIONS["start"].default("timeout"),
    holder: HolderOpt = None,
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
    params: dict[str, Any] = {"tasks": tasks, "kill_port": kill_port, "wait": wait}
    params |= {"with_deps": with_deps, "timeout": timeout, "holder": holder}
    report, failure, service = attempt(json_out, "start", lambda s: s.call("start", params))
    plain = report.report if wait else report
    note = None if tasks or failure else nothing_to_start(service, plain)
    if note is not None:
        emit(json_out, {**report.to_dict(), "note": note}, note)
        return
    render(json_out, report, failure, _start_words if wait else _where)


@app.command()
def ensure(
    tasks: TasksArg = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", "-t", min=0, callback=finite, help="Give up waiting after S seconds."
        ),
    ] = OPERATIONS["ensure"].default("timeout"),
    holder: HolderOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Keep what runs and is current, start what is not running, restart what is
    unhealthy or stale (no names: every auto_start task, with their dependencies), then
    wait until every task is ready."""
    params = {"tasks": tasks, "timeout": timeout, "holder": holder}
    result, failure, _ = attempt(json_out, "ensure", lambda s: s.call("ensure", params))
    render(json_out, result, failure, _ensure_words)


def _ensure_words(result: EnsureResult) -> Callable[[], None]:
    """One line per task: what was done and why; an unready task's facts after it."""

    def show() -> None:
        out = console()
        for task in result.tasks:
            why = f" ({task.reason})" if task.reason else ""
            mark = "[red]✗[/]" if task.action == "failed" or task.ready is False else "[green]✓[/]"
            out.print(f"{mark} {task.name}: {task.action}{why}", markup=True)
        for note in result.notes:
            out.print(f"note: {note}", markup=False)
        if result.wait is not None and not result.wait.ok:
            explain_wait(result.wait)

    return show


def _start_words(result: StartWaitResult) -> str | Callable[[], None]:
    """`start --wait`: the wait's summary, or each unready task's facts."""
    if result.wait.ok and result.report.ok:
        return result.wait.summary()
    return lambda: explain_wait(result.wait)


def _where(report: StartReport) -> str | None:
    """Where the started tasks can be watched (a parallel checkout's session is not `name`)."""
    if report.started and report.session:
        return f"session '{report.session}' (tmux attach -t {report.session})"
    return None


def nothing_to_start(service: Service, report: StartReport) -> str | None:
    """Why a bare `start` had nothing to do (it prints nothing else), or None."""
    if (
        report.started
        or report.completed
        or report.already_running
        or report.skipped
        or report.failed
    ):
        return None
    config, file = service.project.config, service.project.path.name
    if not config.tasks:
        return f'no tasks in {file} (add one with `taskmux add NAME "COMMAND"`)'
    first = next(iter(config.tasks))
    if not config.auto_start:
        return f"auto_start = false in {file}: no task started (name one: `taskmux start {first}`)"
    return f"no task in {file} has auto_start = true (name one: `taskmux start {first}`)"


@app.command()
def stop(
    tasks: TasksArg = None,
    holder: HolderOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Stop tasks gracefully and mark them stopped (no names: all, then end the session)."""

    def human(report: Any) -> str | None:
        if not json_out:
            for name in report.not_running:
                typer.echo(f"{name}: not running")
        return report.session_kept or ("session ended" if report.session_ended else None)

    params = {"tasks": tasks or None, "holder": holder, "force": force}
    perform(json_out, "stop", lambda s: s.call("stop", params), human)


@app.command()
def restart(
    tasks: TasksArg = None,
    kill_port: KillPortOpt = False,
    holder: HolderOpt = None,
    force: ForceOpt = False,
    cascade: Annotated[
        bool,
        typer.Option(
            "--cascade",
            help="Then, once they are ready again, restart what depends on them (condition "
            "healthy or started), in dependency order.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Stop, free ports, start again in place; clears manual-stop marks."""
    params = {
        "tasks": tasks or None,
        "kill_port": kill_port,
        "holder": holder,
        "force": force,
        "cascade": cascade,
    }

    def human(report: StartReport) -> str | None:
        said = [_where(report)] if _where(report) else []
        if report.cascaded:
            said.append("then, once ready, its dependents: " + ", ".join(report.cascaded))
        return "; ".join(s for s in said if s) or None

    perform(json_out, "restart", lambda s: s.call("restart", params), human)


@app.command()
def kill(
    task: Annotated[str, typer.Argument(help="Task to kill (or @GROUP: each of its tasks).")],
    holder: HolderOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """SIGKILL a task's whole process tree and close its window."""

    def human(result: Any) -> str:
        named = ", ".join(r.task for r in getattr(result, "results", ())) or task  # @GROUP
        return (
            f"{named}: killed" if result.was_running else f"{named}: was not running; window closed"
        )

    perform(
        json_out,
        "kill",
        lambda s: s.call("kill", {"task": task, "holder": holder, "force": force}),
        human,
    )


@app.command()
def status(tasks: TasksArg = None, json_out: JsonOpt = False) -> None:
    """Show the session and every task (or those named): state, pid, port, uptime, notes."""
    from taskmux.cli.statustable import write as status_table
    from taskmux.service import Service

    service = Service.for_project(load(json_out, fallback=True))
    result = service.call("status", {"tasks": tasks or None})
    document = result.to_dict()
    emit(
        json_out,
        document,
        lambda: status_table(
            result.session,
            result.session_running,
            list(result.tasks),
            document.get("session_notes"),
        ),
    )


app.command("list", hidden=True, help="Alias of status.")(status)
app.command("ls", hidden=True, help="Alias of status.")(status)


@app.command()
def health(json_out: JsonOpt = False) -> None:
    """Check every running task concurrently; exit 1 if one that should run is down or
    unhealthy (tasks never started, or stopped by hand, show as not running)."""

    def human(report: Any) -> Callable[[], None]:
        return lambda: _health_lines(report)

    perform(json_out, "health", lambda s: s.health(), human)


def _health_lines(report: Any) -> None:
    from rich.markup import escape

    out = console()
    for name, entry in report.tasks.items():
        if entry.healthy is None:
            sign = "[dim]○[/]"
        else:
            sign = "[green]✓[/]" if entry.healthy else "[red]✗[/]"
        line = f"{sign} {name:<20} {escape(entry.state):<12} {escape(entry.summary)}"
        out.print(line.rstrip())


@app.command()
def inspect(
    task: Annotated[str, typer.Argument(help="Task to inspect.")], json_out: JsonOpt = False
) -> None:
    """Everything taskmux knows about one task, as JSON."""
    from taskmux.service import Service

    record = Service.for_project(load(json_out, fallback=True)).inspect(task).to_dict()
    print_json({"ok": True, **record} if json_out else record)


@app.command()
def graph(
    dot: Annotated[
        bool, typer.Option("--dot", help="Graphviz text (pipe it to `dot -Tsvg`).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """The dependency graph, its critical chain and the last start's times to ready."""
    from taskmux.service import Service

    result = Service.for_project(load(json_out, fallback=True)).graph()
    if dot and not json_out:
        print(result.dot(), end="")
        return
    emit(json_out, result.to_dict(), lambda: print("\n".join(result.lines())))
