"""Run the CLI with one error policy: a user mistake is one line and an exit code."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # `typing` costs an import on the hottest path; mypy reads this
if TYPE_CHECKING:
    from typing import Any


def run(argv: list[str] | None = None) -> None:
    from taskmux.cli.fast import answer

    args = json_after_command(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in args
    result: object = 0
    try:
        if not answer(args):  # the hottest calls are answered without the Typer app
            _kill_commands_on_signals()  # the lean reads run no hook or check to end
            from taskmux.cli.dispatch import command_for

            command = command_for(args)
            result = command.main(args=args, prog_name="taskmux", standalone_mode=False)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # errors.py is imported only now: the lean paths never need it
        _exit_for(exc, json_mode)
        raise  # not a user mistake: it goes on up, with its traceback
    sys.exit(result if isinstance(result, int) else 0)


def _exit_for(exc: Exception, json_mode: bool) -> None:
    """Exit with one line and the code for a user mistake; return for anything else."""
    from taskmux.errors import TaskmuxError, UsageError

    if isinstance(exc, TaskmuxError):
        _report(exc, json_mode)
        sys.exit(exc.exit_code)
    if isinstance(exc, _usage_errors()):
        if type(exc).__name__ != "NoArgsIsHelpError":  # the help it printed says it all
            _report(UsageError(_usage_message(exc)), json_mode)
        sys.exit(2)
    if isinstance(exc, OSError):  # the machine said no (disk full, permission): one line
        message = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        _report(TaskmuxError(message, code="E002"), json_mode)
        sys.exit(1)
    if type(exc).__name__ == "Abort":  # Ctrl+C at a prompt is typer's Abort
        sys.exit(130)


_ROOT_OPTIONS_WITH_VALUE = frozenset({"-c", "--config"})


def json_after_command(args: list[str]) -> list[str]:
    """Let `--json` stand anywhere: one given before the command moves behind it.

    Click only knows `--json` as an option of each command, so `taskmux --json status`
    would be a usage error; here it becomes `taskmux status --json`.
    """
    before: list[str] = []
    index = 0
    moved = False
    while index < len(args):
        arg = args[index]
        if arg == "--json":
            moved = True
        elif arg in _ROOT_OPTIONS_WITH_VALUE:
            before += args[index : index + 2]
            index += 1
        elif arg.startswith("-") and arg != "-":
            before.append(arg)
        else:
            break
        index += 1
    if not moved:
        return list(args)
    rest = args[index:]
    if "--" in rest:
        cut = rest.index("--")
        return [*before, *rest[:cut], "--json", *rest[cut:]]
    return [*before, *rest, "--json"]


def _kill_commands_on_signals() -> None:
    """Ctrl+C and SIGTERM also end the hooks and checks we wait for, then act as usual.

    Those run in their own process groups (out of the terminal's reach), so without this
    an interrupted `start` would leave its hook running. Commands that supervise install
    their own handlers later, for their own orderly shutdown. An ignored signal (a
    background job of a script) stays ignored.
    """

    import signal

    def handler(signum: int, _frame: object) -> None:
        shell = sys.modules.get("taskmux.runtime.shell")  # not imported: no command was ever run
        busy = shell is not None and shell.interrupt()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        if busy:  # unwind, so that a hook that was just starting is killed on the way
            raise SystemExit(128 + signum)
        signal.signal(signum, signal.SIG_DFL)  # otherwise end as SIGTERM always did
        os.kill(os.getpid(), signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, handler)


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's UsageError: typer >= 0.26 vendors click as `typer._click`, older ones use click."""
    import importlib

    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(module).UsageError)
        except ImportError:
            continue
    return tuple(found)


def _usage_message(exc: Any) -> str:
    message = str(exc.format_message()).replace("\n", " ")
    if exc.ctx is not None and exc.ctx.command_path:
        message = f"{message} (see '{exc.ctx.command_path} --help')"
    return message


def _report(error: object, json_mode: bool) -> None:
    from taskmux.cli.jsonout import print_json
    from taskmux.errors import TaskmuxError

    assert isinstance(error, TaskmuxError)
    if json_mode:
        print_json({"ok": False, "error": error.to_dict()})
    sys.stderr.write(f"error[{error.code}]: {error.message}\n")
