"""`start -m` (foreground supervision) and `events` (the lifecycle history)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskmux.cli.app import JsonOpt, app, load, print_json, warn
from taskmux.cli.eventline import describe_event
from taskmux.operations import OPERATIONS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from taskmux.errors import PartialFailure
    from taskmux.runtime.tmux_manager import Observation
    from taskmux.service import Service
    from taskmux.statedir.claim import Claim
    from taskmux.supervision.config_watch import ReloadOutcome
    from taskmux.supervision.supervisor import Supervisor


def _stop_on_signals(stop: threading.Event, wakers: list[Callable[[], None]]) -> None:
    """Signal handlers only set the flag (and wake the loop); the loop winds down.

    Installed before the start: a SIGTERM while the tasks start (a service manager's
    stop) lets the start finish and ends without supervising, exit 0, rather than killing
    `start -m` mid-way. Ctrl+C while starting still interrupts the start at once, as it
    does a plain `start` (`wakers` is empty until the supervisor exists)."""

    def handler(signum: int, _frame: object) -> None:
        stop.set()
        for wake in wakers:
            wake()
        if signum == signal.SIGINT and not wakers:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _print_events(events: Iterator[dict[str, Any]], json_out: bool) -> None:
    for record in events:
        line = json.dumps(record) if json_out else describe_event(record)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _show_reload(outcome: ReloadOutcome, json_out: bool) -> None:
    """A reload of the edited config, as one line (or one JSON record) among the events."""
    if json_out:
        sys.stdout.write(json.dumps({"reload": outcome.to_dict()}) + "\n")
        sys.stdout.flush()
        return
    for line in (*outcome.errors, *outcome.warnings):
        typer.echo(line, err=True)
    typer.echo(outcome.describe(), err=True)


@dataclass(frozen=True)
class Started:
    """What a supervising command has once its start is done: the service (the start's
    config, no progress printing), the session as the start last saw it, its claim on
    supervision (release it when done) and the start's partial failure, if any."""

    service: Service
    seen: Observation | None
    claim: Claim
    failure: PartialFailure | None


def start_supervised(
    names: list[str] | None,
    json_out: bool,
    kill_port: bool = False,
    with_deps: bool = False,
    holder: str = "start -m",
) -> Started:
    """Claim supervision, start like `start` and print its report (`start -m`, `up`)."""
    from taskmux.cli.calls import render, service_for
    from taskmux.errors import PartialFailure
    from taskmux.service import Service
    from taskmux.supervision.supervisor import claim_supervision

    with service_for(json_out, "start") as starter:
        claim = claim_supervision(starter.project.paths.supervisor_lock, holder)
        if claim.warning:
            warn(claim.warning)
        failure: PartialFailure | None = None
        try:
            report: Any = starter.start(names, kill_port, with_deps)
        except PartialFailure as caught:
            failure, report = caught, caught.result
        except BaseException:
            claim.release()
            raise
    service = Service(starter.config, starter.tmux)  # the same config in use, no progress
    try:
        render(json_out, report, failure, exit_on_failure=False)
    except BaseException:
        claim.release()
        raise
    return Started(service, starter.lifecycle().last_sight, claim, failure)


def show_reload(json_out: bool) -> Callable[[ReloadOutcome], None]:
    return lambda outcome: _show_reload(outcome, json_out)


def run_monitor(
    names: list[str] | None, json_out: bool, kill_port: bool = False, with_deps: bool = False
) -> None:
    """Start like `start`, then supervise in the foreground until Ctrl+C or SIGTERM,
    following edits of taskmux.toml as the daemon does."""
    from taskmux.supervision.monitor import Monitor

    stop = threading.Event()
    wakers: list[Callable[[], None]] = []
    _stop_on_signals(stop, wakers)
    started = start_supervised(names, json_out, kill_port, with_deps)
    service = started.service
    try:
        monitor = Monitor(service, started.seen, show_reload(json_out))
        wakers.append(monitor.wake)
        with monitor:
            if sys.stdout.isatty() and not json_out:
                worker = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
                worker.start()
                _live_view(monitor.supervisor, stop)
            else:
                events = service.follow_events(stop=stop)
                printer = threading.Thread(
                    target=_print_events, args=(events, json_out), daemon=True
                )
                printer.start()
                monitor.run(stop)
    finally:
        started.claim.release()
    if not json_out:
        typer.echo("supervision ended; tasks keep running", err=True)


def _live_view(supervisor: Supervisor, stop: threading.Event) -> None:
    from rich.live import Live
    from rich.table import Table

    from taskmux.cli.app import console

    def render() -> Table:
        table = Table(
            box=None, header_style="bold", title="supervising (Ctrl+C to leave; tasks keep running)"
        )
        for column in ("TASK", "STATE", "RESTARTS", "NEXT RESTART"):
            table.add_column(column)
        now = time.time()
        lifecycle = supervisor.lifecycle
        for name in lifecycle.config.tasks:
            state = supervisor.snapshot.tasks.get(name)
            if state is None:
                table.add_row(name, "[dim]not started[/]", "-", "-")
                continue
            due = (
                f"in {max(0.0, state.next_restart_at - now):.0f}s" if state.next_restart_at else "-"
            )
            table.add_row(name, state.describe(), str(state.restarts), due)
        if supervisor.notice:  # e.g. the tmux session was lost and is being recreated
            table.caption = supervisor.notice
        return table

    with Live(render(), console=console(), refresh_per_second=4, transient=False) as live:
        while not stop.wait(0.5):
            live.update(render())


@app.command()
def events(
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Only this task's events.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only events newer than 10m, 2h, or ISO-8601.")
    ] = None,
    lines: Annotated[
        int, typer.Option("-n", "--lines", min=0, help="Show the last N events.")
    ] = OPERATIONS["events"].default("lines"),
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new events.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """The lifecycle event history: starts, exits, restarts, health changes, stops."""
    from taskmux.service import Service

    service = Service.for_project(load(json_out, fallback=True))
    records = service.events(task, since, lines).events
    if json_out and not follow:
        print_json({"ok": True, "events": list(records)})
        return
    stream = service.follow_events(task) if follow else iter(())
    for record in records:
        typer.echo(json.dumps(record) if json_out else describe_event(record))
    try:
        for record in stream:
            typer.echo(json.dumps(record) if json_out else describe_event(record))
    except KeyboardInterrupt:
        return
