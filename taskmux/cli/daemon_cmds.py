"""`daemon` (run, status, stop) and `watch` (apply config edits in the foreground)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from taskmux.cli.app import JsonOpt, app, emit, load, print_json

if TYPE_CHECKING:
    from taskmux.daemon.server import DaemonInfo
    from taskmux.watcher import ReloadOutcome

daemon_app = typer.Typer(
    help="Supervise tasks, apply config edits and serve a WebSocket API (127.0.0.1 only).",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(daemon_app, name="daemon")


@daemon_app.callback()
def daemon(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port on 127.0.0.1 (0: pick a free one).")
    ] = 28765,  # taskmux.daemon.server.DEFAULT_PORT (not imported: it pulls in websockets)
    allow_origin: Annotated[
        list[str] | None,
        typer.Option("--allow-origin", help="Accept this browser Origin (repeatable)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl+C; tasks keep running."""
    if ctx.invoked_subcommand is not None:
        return
    from taskmux.daemon.server import Daemon, Settings

    def ready(info: DaemonInfo) -> None:
        if json_out:
            print_json({"ok": True, **info.to_dict()})
            return
        typer.echo(f"taskmux daemon listening on {info.url} (pid {info.pid})")
        typer.echo(f"token file: {info.token_file}; log: {info.log_file}", err=True)

    settings = Settings(port, tuple(allow_origin or ()))
    Daemon(load(json_out), settings, ready).run()
    if not json_out:
        typer.echo("daemon stopped; tasks keep running", err=True)


@daemon_app.command("status")
def daemon_status(json_out: JsonOpt = False) -> None:
    """Show whether the project's daemon runs, and where (exit 1 if it does not)."""
    from taskmux.daemon.server import running_daemon

    info = running_daemon(load(json_out, fallback=True).paths)
    emit(
        json_out,
        {"running": True, **info.to_dict()},
        f"daemon running: pid {info.pid}, {info.url}, token file {info.token_file}",
    )


@daemon_app.command("stop")
def daemon_stop(json_out: JsonOpt = False) -> None:
    """Stop the daemon (SIGTERM, then SIGKILL after 10 s); tasks keep running."""
    from taskmux.daemon.server import stop_daemon

    info, forced = stop_daemon(load(json_out, fallback=True).paths)
    how = " (did not exit in time: killed)" if forced else ""
    emit(json_out, {"pid": info.pid, "forced": forced}, f"daemon (pid {info.pid}) stopped{how}")


@app.command()
def watch(json_out: JsonOpt = False) -> None:
    """Apply edits of taskmux.toml to the running tasks until Ctrl+C (not a supervisor).

    With --json, each reload prints one JSON object per line.
    """
    from taskmux.cli.render import ProgressPrinter
    from taskmux.service import Service
    from taskmux.watcher import ConfigWatcher, Reloader

    project = load(json_out)
    reloader = Reloader(Service.for_project(project, ProgressPrinter(json_out)))
    wake, stop = threading.Event(), threading.Event()

    def end() -> None:
        stop.set()
        wake.set()

    _on_signals(end)
    watcher = ConfigWatcher(project.path, wake.set)
    watcher.start()
    typer.echo(f"watching {project.path} (Ctrl+C to stop)", err=True)
    try:
        while wake.wait() and not stop.is_set():
            wake.clear()
            _show_reload(reloader.reload(), json_out)
    finally:
        watcher.stop()


def _on_signals(action: Callable[[], object]) -> None:
    """Signal handlers only set flags; the loop notices and winds down."""

    def handler(_signum: int, _frame: object) -> None:
        action()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _show_reload(outcome: ReloadOutcome, json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps(outcome.to_dict()))
        return
    for line in (*outcome.errors, *outcome.warnings):
        typer.echo(line, err=True)
    typer.echo(outcome.describe(), err=not outcome.ok)
