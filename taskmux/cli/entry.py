"""Run the CLI with one error policy: a user mistake is one line and an exit code."""

from __future__ import annotations

import sys


def run(argv: list[str] | None = None) -> None:
    import typer

    from taskmux.cli.commands import app
    from taskmux.errors import TaskmuxError, UsageError

    args = sys.argv[1:] if argv is None else argv
    json_mode = "--json" in args
    try:
        result = app(args=args, prog_name="taskmux", standalone_mode=False)
    except TaskmuxError as error:
        _report(error, json_mode)
        sys.exit(error.exit_code)
    except _usage_error() as exc:
        message = exc.format_message().replace("\n", " ")
        if exc.ctx is not None and exc.ctx.command_path:
            message = f"{message} (see '{exc.ctx.command_path} --help')"
        _report(UsageError(message), json_mode)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


def _report(error: object, json_mode: bool) -> None:
    from taskmux.cli.app import print_json
    from taskmux.errors import TaskmuxError

    assert isinstance(error, TaskmuxError)
    if json_mode:
        print_json({"ok": False, "error": error.to_dict()})
    sys.stderr.write(f"error[{error.code}]: {error.message}\n")


def _usage_error() -> type[Exception]:
    """Click's UsageError: typer vendors click in recent releases, older ones use click."""
    try:
        from typer._click.exceptions import UsageError
    except ImportError:  # typer < 0.22 depends on click itself
        from click.exceptions import UsageError  # type: ignore[no-redef]
    return UsageError
