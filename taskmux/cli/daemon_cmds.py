"""`daemon` (run, status, stop), `ui` (log in to its dashboard) and `watch` (apply
config edits in the foreground)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from taskmux.cli.app import JsonOpt, app, emit, load, print_json

if TYPE_CHECKING:
    from taskmux.daemon.statefile import DaemonInfo
    from taskmux.supervision.config_watch import ReloadOutcome

daemon_app = typer.Typer(
    help="Supervise tasks, apply config edits, serve a WebSocket API and a web dashboard "
    "(127.0.0.1 only).",
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
    ui_port: Annotated[
        int | None,
        typer.Option(
            "--ui-port",
            min=0,
            max=65535,
            help="The dashboard's port on 127.0.0.1 (0: pick a free one). Default: 28766, "
            "or a free one with --port 0.",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl+C; tasks keep running."""
    if ctx.invoked_subcommand is not None:
        return
    from taskmux.daemon.server import DEFAULT_UI_PORT, Daemon, Settings

    def ready(info: DaemonInfo) -> None:
        if json_out:
            print_json({"ok": True, **info.to_dict()})
            return
        typer.echo(f"taskmux daemon listening on {info.url} (pid {info.pid})")
        typer.echo(f"dashboard on {info.ui_url} (log in with `taskmux ui`)")
        typer.echo(f"token file: {info.token_file}; log: {info.log_file}", err=True)

    if ui_port is None:  # a picked API port means several daemons: pick this one too
        ui_port = 0 if port == 0 else DEFAULT_UI_PORT
    settings = Settings(port=port, ui_port=ui_port, login_ttl=_login_ttl())
    Daemon(load(json_out), settings, ready).run()
    if not json_out:
        typer.echo("daemon stopped; tasks keep running", err=True)


@daemon_app.command("status")
def daemon_status(json_out: JsonOpt = False) -> None:
    """Show whether the project's daemon runs, and where (exit 1 if it does not)."""
    from taskmux.daemon.statefile import running_daemon

    info = running_daemon(load(json_out, fallback=True).paths)
    dashboard = f", dashboard {info.ui_url}" if info.ui_url else ""
    emit(
        json_out,
        {"running": True, **info.to_dict()},
        f"daemon running: pid {info.pid}, {info.url}{dashboard}, token file {info.token_file}",
    )


@daemon_app.command("stop")
def daemon_stop(json_out: JsonOpt = False) -> None:
    """Stop the daemon (SIGTERM, then SIGKILL after 10 s); tasks keep running."""
    from taskmux.daemon.statefile import stop_daemon

    info, forced = stop_daemon(load(json_out, fallback=True).paths)
    how = " (did not exit in time: killed)" if forced else ""
    emit(json_out, {"pid": info.pid, "forced": forced}, f"daemon (pid {info.pid}) stopped{how}")


@app.command()
def ui(
    no_open: Annotated[
        bool, typer.Option("--no-open", help="Only print the link; do not open a browser.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print (and on a desktop, open) a one-time login link to the daemon's dashboard.

    The link works once, within 60 seconds; it logs the browser in with a session cookie.
    """
    from taskmux.daemon.client import call

    _info, result = call(load(json_out, fallback=True).paths, "ui_login")
    url = str(result["url"])
    opened = not no_open and not json_out and _desktop() and _open_browser(url)
    if json_out:
        print_json({"ok": True, **result, "opened": opened})
        return
    typer.echo(url)
    expires = f"works once, within {result['expires_in']:g} s"
    typer.echo(
        f"opened in your browser ({expires})" if opened else f"open it ({expires})", err=True
    )


def _desktop() -> bool:
    """A graphical session to open a browser in, and a person at a terminal to see it."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and (
        sys.stdout.isatty()
    )


def _open_browser(url: str) -> bool:
    import webbrowser

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def _login_ttl() -> float:
    """The login code's lifetime: 60 s, or shorter through TASKMUX_UI_LOGIN_TTL (tests);
    never longer."""
    from taskmux.daemon.dashboard.logins import LOGIN_TTL

    try:
        wanted = float(os.environ.get("TASKMUX_UI_LOGIN_TTL", LOGIN_TTL))
    except ValueError:
        return LOGIN_TTL
    return wanted if 0 < wanted < LOGIN_TTL else LOGIN_TTL


@app.command()
def watch(json_out: JsonOpt = False) -> None:
    """Apply edits of taskmux.toml to the running tasks until Ctrl+C (not a supervisor).

    With --json, each reload prints one JSON object per line.
    """
    from taskmux.cli.render import ProgressPrinter
    from taskmux.service import Service
    from taskmux.supervision.config_watch import ConfigWatcher, Reloader

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
