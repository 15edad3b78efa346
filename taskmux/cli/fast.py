"""The lean dispatcher: the hottest read commands without the Typer app.

Agents and people call `status` and `inspect` many times a minute; importing typer, rich
and every command module costs far more than the rest of the call. `LEAN` names the
commands answered here and the operation params each answers; their command-line
spellings come from `operations/` (`Param.flags`, `Param.argument`), the one
declaration the Typer commands are checked against (tests/test_faces.py). Anything else
(another option, `--help` of a command, a value the declaration refuses, `--`) goes to
the Typer app, which also owns every usage error. `taskmux --help` is written from
`catalog.py`.

Each handler asks the one read model (`lifecycle/readmodel.py`) on its lean path first,
and hands over to the service (the same read model under it) where that cannot answer.
Adding a command is an entry in `LEAN` and a handler of a few lines.
"""

from __future__ import annotations

import sys

from taskmux.operations import OPERATIONS

TYPE_CHECKING = False  # `typing` costs an import on the hottest path; mypy reads this
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from taskmux.config.project import Project
    from taskmux.operations import Operation, Param

    Handler = Callable[[str | None, dict[str, Any], bool], None]

_ROOT_CONFIG = ("-c", "--config")


def split_config(args: list[str]) -> tuple[str | None, list[str]]:
    """(the config a leading `-c`/`--config` names, what follows it): the one reading of
    the root option, for the lean path and for `dispatch.command_name`."""
    first = args[0] if args else ""
    if first in _ROOT_CONFIG and len(args) >= 2:
        return args[1], args[2:]
    if first.startswith("--config="):
        return first.partition("=")[2], args[1:]
    if first.startswith("-c") and len(first) > 2 and not first.startswith("--"):
        return first[2:], args[1:]
    return None, list(args)


def answer(args: list[str]) -> bool:
    """Answer `args` here and say so; False when they are for the Typer app."""
    config, rest = split_config(args)
    if rest in (["--help"], ["-h"]):
        from taskmux.cli.catalog import help_text
        from taskmux.cli.statustable import terminal

        sys.stdout.write(help_text(terminal()[0]))
        return True
    if not rest or rest[0] not in LEAN:
        return False
    operation, answered, handler = LEAN[rest[0]]
    parsed = parse(OPERATIONS[operation], answered, rest[1:])
    if parsed is None:
        return False
    params, json_out = parsed
    try:
        handler(config, params, json_out)
    except HandOver:
        return False
    return True


class HandOver(Exception):
    """A handler that cannot answer on the lean path and has no service path of its own
    here (`ensure` acts and renders progress): the Typer app answers instead."""


def parse(
    operation: Operation, answered: tuple[str, ...], args: list[str]
) -> tuple[dict[str, Any], bool] | None:
    """The values of the `answered` params of `operation` and `--json`, read with their
    declared spellings; None for anything else (the Typer app then reads the line)."""
    params = [operation.param(name) for name in answered]
    options = {flag: param for param in params for flag in param.flags}
    positional = [param for param in params if param.argument]
    values: dict[str, Any] = {}
    json_out = False
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--json":
            json_out = True
            continue
        name, inline = arg, None
        if arg.startswith("--") and "=" in arg:
            name, _, inline = arg.partition("=")
        param = options.get(name)
        if param is not None and param.name not in values:
            if inline is None and param.kind != "bool":
                if index == len(args):
                    return None
                inline, index = args[index], index + 1
            value = _value(param, inline)
            if value is None:
                return None
            values[param.name] = value
        elif positional and not arg.startswith("-"):
            if positional[0].kind == "names":  # takes every remaining word
                values.setdefault(positional[0].name, []).append(arg)
            else:
                values[positional.pop(0).name] = arg
        else:
            return None
    if any(param.required and param.name not in values for param in params):
        return None
    return values, json_out


def _value(param: Param, text: str | None) -> Any:
    """A command-line value as its declaration takes it, or None (not plainly one)."""
    if param.kind == "bool":
        return True if text is None else None
    if text is None or text.startswith("-"):
        return None
    value: Any = text
    if param.kind == "int":
        if not (text.isascii() and text.isdigit()):  # click would also take `+5` or `1_0`
            return None
        value = int(text)
    elif param.kind == "float":
        digits = text.replace(".", "", 1)
        if not (digits.isascii() and digits.isdigit()):  # no `nan`, `inf`, `1e3`: click's
            return None
        value = float(text)
    elif param.kind != "str":
        return None
    return value if param.check(value) is None else None


# Handlers --------------------------------------------------------------------------------

_CANNOT_VOUCH = (OSError, ValueError, KeyError, TypeError, IndexError)


def _status(config: str | None, params: dict[str, Any], json_out: bool) -> None:
    from taskmux.lifecycle.readmodel import LeanRead, NotHere

    document: dict[str, Any]
    names = params.get("tasks") or []
    try:
        lean = LeanRead(config)
        document = lean.status(names)
        sys.stderr.write(lean.notes())
    except (NotHere, *_CANNOT_VOUCH):
        from taskmux.service import Service

        service = Service.for_project(load(config, fallback=True))
        document = service.call("status", {"tasks": names or None}).to_dict()
    if json_out:
        _print_json({"ok": True, **document})
        return
    from taskmux.cli.statustable import write

    notes = document.get("session_notes")
    write(document["session"], document["session_running"], document["tasks"], notes)


def _inspect(config: str | None, params: dict[str, Any], json_out: bool) -> None:
    from taskmux.lifecycle.readmodel import LeanRead, NotHere

    task = params["task"]
    try:
        lean = LeanRead(config)
        record = lean.inspect(task)
        sys.stderr.write(lean.notes())
    except (NotHere, *_CANNOT_VOUCH):
        from taskmux.service import Service

        record = Service.for_project(load(config, fallback=True)).inspect(task).to_dict()
    _print_json({"ok": True, **record} if json_out else record)


def _logs(config: str | None, params: dict[str, Any], json_out: bool) -> None:
    from taskmux.cli.logprint import make_printer
    from taskmux.lifecycle.readmodel import LeanRead, NotHere

    task = params.get("task")
    try:
        lean = LeanRead(config)  # the cache, and one look at the panes' pipes
    except (NotHere, *_CANNOT_VOUCH):
        lean = None
    if lean is None or (task is not None and task not in lean.facts) or _pipes_lost(lean):
        _logs_by_service(config, params, json_out)  # W102, E201, re-attaching pipes: its own
        return
    if _may_hold_secrets(lean, task):
        _logs_by_service(config, params, json_out)  # it hides them (`logs/redact.py`)
        return
    from pathlib import Path

    from taskmux.logs.lines import TaskLog
    from taskmux.logs.reading import tail_lines

    sys.stderr.write(lean.notes())
    tasks = list(lean.facts)
    names = [task] if task is not None else tasks
    logs = [TaskLog(name, Path(lean.root, "logs", f"{name}.log")) for name in names]
    lines = params.get("lines", OPERATIONS["logs"].default("lines"))
    items = tail_lines(logs, lines, cursors=True)
    printer = make_printer(tasks, task, False, False, json_out, None)
    if json_out:
        if not items:  # where every log ends now: the service's read knows (dataclasses)
            _logs_by_service(config, params, json_out)
            return
        from taskmux.logs.cursors import line_cursor

        _print_json(printer.page(items, line_cursor(items[-1])))
        return
    if not items and not any(log.files() for log in logs):
        sys.stderr.write(f"no logs yet (in {Path(lean.root, 'logs')})\n")
    printer.run(items)


def _may_hold_secrets(lean: Any, task: str | None) -> bool:
    """Whether a task read may print a secret: it gets variables from `env`/`env_file`
    (only the service resolves them, to hide their values)."""
    names = [task] if task is not None else list(lean.facts)
    return bool(lean.has_env) or any(lean.facts[name].get("has_env") for name in names)


def _pipes_lost(lean: Any) -> bool:
    """Whether a running task's log pipe died or lost its spool: the service's read puts
    it back (`lifecycle/logpipes.py`) before it reads."""
    from taskmux.logs.spool import lost_pipes

    live = {name: pane.piped for name, pane in lean.panes.items() if not pane.dead}
    return bool(lost_pipes(lean.root, live))


def _logs_by_service(config: str | None, params: dict[str, Any], json_out: bool) -> None:
    from taskmux.cli.logprint import make_printer
    from taskmux.service import Service
    from taskmux.service.results import LogsResult

    task = params.get("task")
    service = Service.for_project(load(config, fallback=True))
    result = service.logs(task, params["lines"]) if "lines" in params else service.logs(task)
    assert isinstance(result, LogsResult)  # lines, not a digest: `--digest` is the Typer app's
    printer = make_printer(list(service.project.config.tasks), task, False, False, json_out, None)
    if json_out:
        _print_json(printer.page(result.items, result.next_cursor, result.more, result.lost))
        return
    if not result.items and not service.has_logs(task):
        folder = service.project.paths.log_file("x").parent
        sys.stderr.write(f"no logs yet (in {folder})\n")
    printer.run(result.items)


def _events(config: str | None, params: dict[str, Any], json_out: bool) -> None:
    task = params.get("task")
    lines = params.get("lines", OPERATIONS["events"].default("lines"))
    found = _cached(config)
    records: list[dict[str, Any]]
    if found is None or (task is not None and task not in found[1]):
        from taskmux.service import Service

        service = Service.for_project(load(config, fallback=True))
        records = list(service.events(task, None, lines).events)
    else:
        from pathlib import Path

        from taskmux.logs.events import tail

        root, _tasks, notes = found
        sys.stderr.write(notes)
        records = tail(Path(root, "events.jsonl"), lines, task)
    if json_out:
        _print_json({"ok": True, "events": records})
        return
    from taskmux.cli.eventline import describe_event

    sys.stdout.write("".join(describe_event(record) + "\n" for record in records))


def _cached(config: str | None) -> tuple[str, list[str], str] | None:
    """The state folder, the task names and the warnings of the config as it is now, from
    the cache the last full load wrote; None when there is none to trust."""
    from taskmux.config.cache import read_current

    try:
        found = read_current(config)
    except _CANNOT_VOUCH:
        return None
    if found is None:
        return None
    root, data = found
    warnings: list[list[str]] = data["warning_lines"]  # type: ignore[assignment]  # JSON
    notes = "".join(f"warning[{code}]: {text}\n" for code, text in warnings)
    return root, list(data["facts"]), notes  # type: ignore[call-overload]  # JSON


def _ensure(config: str | None, params: dict[str, Any], json_out: bool) -> None:
    """Every task kept (running, ready, current) is answered here; anything to do, or to
    look at more closely, is the service's (`HandOver`)."""
    import os

    from taskmux.lifecycle.ensure_lean import all_kept
    from taskmux.lifecycle.readmodel import NotHere

    try:
        holder = params.get("holder") or os.environ.get("TASKMUX_HOLDER") or None
        document, notes = all_kept(config, params.get("tasks", []), holder)
    except (NotHere, *_CANNOT_VOUCH):
        raise HandOver from None
    sys.stderr.write(notes)
    if json_out:
        _print_json(document)
        return
    sys.stdout.write("".join(f"✓ {name}: kept\n" for name in document["tasks"]))


# command word: (operation, the params answered here, handler).
LEAN: dict[str, tuple[str, tuple[str, ...], Handler]] = {
    "status": ("status", ("tasks",), _status),
    "ls": ("status", ("tasks",), _status),
    "list": ("status", ("tasks",), _status),
    "inspect": ("inspect", ("task",), _inspect),
    "logs": ("logs", ("task", "lines"), _logs),
    "events": ("events", ("task", "lines"), _events),
    "ensure": ("ensure", ("tasks", "timeout", "holder"), _ensure),
}


def _print_json(document: dict[str, Any]) -> None:
    from taskmux.cli.jsonout import print_json

    print_json(document)


def load(config: str | None, fallback: bool = False) -> Project:
    """Load the project named by `-c` (or found upwards), its warnings on stderr.

    `fallback` is for the commands that only look or stop: an invalid file must not
    lock the user out of them. They run on the last valid config, or on the windows
    tmux reports, with one W102 warning naming the error; every JSON document then
    carries `config_error`.
    """
    from taskmux.cli import jsonout
    from taskmux.service import open_project

    project = open_project(config, fallback=fallback)
    notes = [(p.code, p.render()) for p in project.warnings]
    if project.fallback is not None:
        notes.insert(0, ("W102", project.fallback.describe(project.path)))
        jsonout.config_error = project.fallback.to_dict()  # an error reply says so too
    for code, text in notes:
        sys.stderr.write(f"warning[{code}]: {text}\n")
    sys.stderr.flush()
    return project
