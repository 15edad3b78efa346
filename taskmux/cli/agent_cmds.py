"""Commands for AI coding agents: `wait`, `mcp` (the server, and `mcp install`), `inject`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from taskmux.cli.app import JsonOpt, app, emit, finite, load, state, warn
from taskmux.cli.calls import explain_wait, perform
from taskmux.operations import OPERATIONS

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from taskmux.lifecycle.waiting import WaitResult


@app.command()
def wait(
    tasks: Annotated[
        list[str] | None,
        typer.Argument(
            help="Tasks that must all meet the condition (none: every auto_start task)."
        ),
    ] = None,
    healthy: Annotated[
        bool, typer.Option("--healthy", help="Health check passes, or alive without one (default).")
    ] = False,
    running: Annotated[bool, typer.Option("--running", help="The process is alive.")] = False,
    exited: Annotated[
        bool, typer.Option("--exited", help="The process has ended (and stays down).")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", "-t", min=0, callback=finite, help="Give up after this many seconds."
        ),
    ] = OPERATIONS["wait"].default("timeout"),
    json_out: JsonOpt = False,
) -> None:
    """Block until every task meets the condition; exit 1 saying why if one cannot."""
    from taskmux.errors import UsageError
    from taskmux.lifecycle.waiting import Condition

    flags: list[tuple[Condition, bool]] = [
        ("healthy", healthy),
        ("running", running),
        ("exited", exited),
    ]
    chosen = [name for name, on in flags if on]
    if len(chosen) > 1:
        raise UsageError("choose one of --healthy, --running, --exited")
    condition = chosen[0] if chosen else "healthy"

    def human(result: WaitResult) -> str | Callable[[], None]:
        return result.summary() if result.ok else lambda: explain_wait(result)

    perform(json_out, "wait", lambda s: s.wait(tasks, condition, timeout), human)


mcp_app = typer.Typer(
    name="mcp",
    invoke_without_command=True,
    help="Serve taskmux to AI agents over MCP (stdio); 'mcp install' registers it.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(mcp_app)


@mcp_app.callback()
def mcp(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Run the MCP server on stdin/stdout (MCP clients start this; it is not interactive)."""
    if ctx.invoked_subcommand is not None:
        return
    from taskmux.mcp.server import serve

    serve(state.config)


@mcp_app.command("install")
def mcp_install(
    clients: Annotated[
        list[str] | None,
        typer.Argument(
            help="claude, cursor, gemini, vscode, opencode, codex (default: the detected "
            "agents' project configs, else claude).",
            show_default=False,
        ),
    ] = None,
    absolute: Annotated[
        bool, typer.Option("--absolute", help="Write the full path of this taskmux.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Register `taskmux mcp` in MCP client configs, keeping their other servers."""
    from taskmux.config.project import find_config
    from taskmux.mcp.install import client_spec, install

    root = find_config(state.config).parent
    names = [client_spec(c).name for c in clients] if clients else _default_clients(root)
    command = _taskmux_command(absolute)
    results = [install(name, root, command) for name in dict.fromkeys(names)]

    def human() -> None:
        for result in results:
            what = "added taskmux to" if result.changed else "already registered in"
            typer.echo(f"{result.client}: {what} {result.path}")

    emit(json_out, {"installed": [r.to_dict() for r in results]}, human)


def _default_clients(root: Path) -> list[str]:
    """Project-level configs of the detected agents; Codex (user-wide) only when named."""
    from taskmux.interop.agents import detect
    from taskmux.mcp.install import CLIENTS

    found = [a.name for a in detect(root) if a.name in CLIENTS and a.name != "codex"]
    return found or ["claude"]


def _taskmux_command(absolute: bool) -> str:
    import shutil
    import sys
    from pathlib import Path

    found = shutil.which("taskmux")
    if absolute:
        return found or str(Path(sys.argv[0]).resolve())
    if found is None:
        warn("taskmux is not on PATH; the client may not find it (use --absolute)", "W701")
    return "taskmux"


@app.command()
def inject(
    agents: Annotated[
        list[str] | None,
        typer.Argument(
            help="claude, codex, opencode, cursor, gemini (default: detected agents and "
            "files that already have the block).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write or refresh the taskmux instructions in AI agents' context files."""
    from taskmux.errors import UsageError
    from taskmux.interop import agents as core

    project = load(json_out)
    by_name = {agent.name: agent for agent in core.AGENTS}
    unknown = [name for name in agents or [] if name not in by_name]
    if unknown:
        raise UsageError(f"unknown agent '{unknown[0]}' (known: {', '.join(by_name)})")
    chosen = [by_name[n] for n in agents] if agents else core.detect(project.root)
    files = core.context_files(chosen)
    if not agents:
        present = [f for f in core.context_files(core.AGENTS) if core.has_block(project.root / f)]
        files += [f for f in present if f not in files]
    files = files or ["AGENTS.md"]  # read by most agents when none is detected
    tasks = [(name, task.command) for name, task in project.config.tasks.items()]
    block = core.render_block(project.session, tasks)
    changed = [f for f in files if core.write_block(project.root / f, block)]

    def human() -> None:
        for rel in files:
            typer.echo(f"{'wrote' if rel in changed else 'up to date'}: {rel}")

    data = {"agents": [a.name for a in chosen], "files": files, "changed": changed}
    emit(json_out, data, human)
