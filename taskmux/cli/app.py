"""The Typer app, its global options, and the shared output conventions.

Human output goes to stdout through rich; `--json` prints exactly one JSON document on
stdout (`{"ok": true, ...}`), and warnings always go to stderr. Heavy modules are imported
inside commands so that `taskmux --help` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskmux.cli import catalog, fast, jsonout
from taskmux.cli.jsonout import print_json as print_json

if TYPE_CHECKING:
    from rich.console import Console

    from taskmux.config.project import Project

app = typer.Typer(
    name="taskmux",
    help=catalog.DESCRIPTION,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@dataclass
class _GlobalState:
    config: str | None = None


state = _GlobalState()


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"taskmux {version('taskmux')}")
        raise typer.Exit(0)


@app.callback()
def _main(
    config: Annotated[
        str | None,
        typer.Option("-c", "--config", help=catalog.CONFIG_HELP),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help=catalog.VERSION_HELP
        ),
    ] = False,
) -> None:
    state.config = config
    jsonout.config_error = None


def console(stderr: bool = False) -> Console:
    """A rich console; imported lazily because rich costs ~30 ms to import."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def finite(seconds: float) -> float:
    """`--timeout nan` or `inf` would wait forever or not at all: refuse them."""
    import math

    if not math.isfinite(seconds):
        raise typer.BadParameter(f"{seconds} is not a finite number of seconds")
    return seconds


def warn(message: str, code: str = "W000") -> None:
    typer.echo(f"warning[{code}]: {message}", err=True)


def load(json_mode: bool = False, fallback: bool = False) -> Project:
    """Load the project named by `-c` (or found upwards), printing its warnings to stderr
    (`fast.load`: the lean dispatcher's loading is this one). `fallback` is for the
    commands that only look or stop (status, logs, events, stop, kill, daemon
    stop/status, inspect): they run on the last valid config while the file is invalid.
    """
    return fast.load(state.config, fallback)


def emit(json_mode: bool, data: dict[str, Any], human: str | Callable[[], None] | None) -> None:
    """Print a successful result: JSON on stdout, or the human rendering."""
    if json_mode:
        print_json({"ok": True, **data})
    elif callable(human):
        human()
    elif human:
        typer.echo(human)


def fail(
    json_mode: bool, data: dict[str, Any], error: Any, human: Callable[[], None] | None
) -> None:
    """Report a partial failure (exit 1) that still has a result worth printing."""
    if json_mode:
        print_json({"ok": False, **data, "error": error.to_dict()})
    elif human:
        human()
    typer.echo(f"error[{error.code}]: {error.message}", err=True)
    raise typer.Exit(error.exit_code)
