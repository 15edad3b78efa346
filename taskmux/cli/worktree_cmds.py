"""`taskmux worktree add|list|remove|prune` and `taskmux proxy` (SPEC §14).

Kept to the CLI, as `import`/`export` are: they run git and change folders beside the
project (or serve a port), which the API and MCP faces do not offer. Each command makes
one call into `service/worktrees.py` (or the proxy's keeper) and renders its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from taskmux.cli.app import JsonOpt, app, emit, load

worktree_app = typer.Typer(
    name="worktree",
    no_args_is_help=True,
    help="Git worktrees of this project: add one ready to start, list, remove, prune.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(worktree_app, name="worktree")


@worktree_app.command("add")
def add_cmd(
    path: Annotated[str, typer.Argument(help="Where the new checkout goes.")],
    branch: Annotated[
        str | None, typer.Option("--branch", "-b", help="Create this branch (else HEAD detached).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """`git worktree add`, then [worktree] copy and init; prints its session and URLs."""
    from taskmux.service import worktrees

    result = worktrees.add(load(json_out), Path(path), branch)

    def human() -> None:
        typer.echo(f"checkout {result.path} (session {result.session})")
        for entry in result.copied:
            typer.echo(f"  copied {entry}")
        for step in result.ran:
            typer.echo(f"  ran {step}")
        for name, url in result.urls.items():
            typer.echo(f"  {name}: {url}")
        typer.echo(f"start it: cd {result.path} && taskmux start")

    emit(json_out, result.to_dict(), human)


@worktree_app.command("list")
def list_cmd(json_out: JsonOpt = False) -> None:
    """Every checkout of this repository: path, branch, session, running tasks, URLs."""
    from taskmux.service import worktrees

    rows = worktrees.listing(load(json_out, fallback=True))
    emit(json_out, {"worktrees": rows}, lambda: _print_rows(rows))


def _print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        branch = row["branch"] or "(detached)"
        where = "main" if row["main"] else "gone: prune it" if row["prunable"] else ""
        running = "running" if row["session_running"] else "not running"
        typer.echo(f"{row['path']}  {branch}  {row['session'] or '-'} ({running}) {where}".rstrip())
        for task in row["tasks"]:
            shown = task.get("url") or task.get("port") or ""
            typer.echo(f"  {task['name']}: {task['state']} {shown}".rstrip())


@worktree_app.command("remove")
def remove_cmd(
    path: Annotated[str, typer.Argument(help="The checkout to remove.")],
    force: Annotated[
        bool, typer.Option("--force", help="Remove even with uncommitted changes.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Stop its tasks (its own session only), run teardown, remove its state and checkout."""
    from taskmux.service import worktrees

    result = worktrees.remove(load(json_out, fallback=True), Path(path), force)
    emit(json_out, result.to_dict(), lambda: _print_removed(result.checkouts))


@worktree_app.command("prune")
def prune_cmd(json_out: JsonOpt = False) -> None:
    """For checkouts git no longer has: end their sessions, remove their state."""
    from taskmux.service import worktrees

    result = worktrees.prune(load(json_out, fallback=True))
    emit(json_out, result.to_dict(), lambda: _print_removed(result.checkouts))


def _print_removed(checkouts: list[dict[str, Any]]) -> None:
    if not checkouts:
        typer.echo("nothing to prune")
    for item in checkouts:
        for ran in item.get("teardown", []):
            failed = ran["timed_out"] or ran["exit_code"] != 0
            how = "timed out" if ran["timed_out"] else f"exit {ran['exit_code']}"
            typer.echo(
                f"  teardown: {ran['step']}" + (f" (failed, {how}; --force)" if failed else "")
            )
        ended = ", ".join(item["sessions"]) or "none running"
        typer.echo(f"removed {item['path']} (sessions: {ended}; state {item['state']})")


@app.command("proxy")
def proxy_cmd(
    port: Annotated[
        int | None, typer.Option("--port", help="Serve on this port (default: proxy_port).")
    ] = None,
) -> None:
    """Serve the URL proxy in the foreground until Ctrl+C (or wait to take it over)."""
    import signal
    import threading

    from taskmux.errors import TaskmuxError
    from taskmux.lifecycle.named_urls import proxy_port
    from taskmux.supervision.proxy.keeper import ProxyKeeper

    chosen = port if port is not None else proxy_port(_configured())
    if not chosen:
        raise TaskmuxError("the URL proxy is off (proxy_port = 0)", code="E139")
    keeper = ProxyKeeper(chosen).start()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    if keeper.serving.wait(2):
        typer.echo(f"serving http://TASK.SESSION.localhost:{chosen}/ (Ctrl+C to stop)")
    else:
        typer.echo(
            keeper.problem
            or f"another taskmux process serves port {chosen}; this one takes over when it ends"
        )
    done.wait()
    keeper.stop()


def _configured() -> int:
    """This project's proxy_port; the default outside a project."""
    from taskmux.config.schema import ProjectConfig
    from taskmux.errors import TaskmuxError

    try:
        return load(fallback=True).config.proxy_port
    except TaskmuxError:
        return ProjectConfig().proxy_port
