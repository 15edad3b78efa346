"""The hottest read-only calls without the Typer app: `status --json`, `inspect`, `logs`.

Agents call them many times a minute; importing typer and every command module costs more
than the rest of the call. Exactly these shapes are answered here, after an optional
`-c PATH`:

- `status|ls|list --json` and `inspect TASK [--json]`: first by `lean_status` (the
  common case at about the cost of an interpreter start), else through the same service
  call as the Typer command;
- `logs [TASK] [-n N|--lines N] [--json]`.

The service call and the printing are the Typer commands' own, so the output is the same
(tests/test_entry.py compares them). Anything else (other options, `--help`, `-n` with a
value click would read differently) goes to the full CLI, which also owns every usage
error.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing's own costs an import on the hottest path; mypy reads this
if TYPE_CHECKING:
    from taskmux.config.project import Project

_STATUS = frozenset({"status", "ls", "list"})


def answer(args: list[str]) -> bool:
    """Answer one of the lean commands and say so; False when `args` are anything else."""
    config: str | None = None
    rest = list(args)
    if rest[:1] in (["-c"], ["--config"]) and len(rest) >= 2:
        config, rest = rest[1], rest[2:]
    if not rest:
        return False
    command, rest = rest[0], rest[1:]
    json_out = "--json" in rest
    if json_out:
        rest.remove("--json")
    if command in _STATUS and json_out and not rest:
        _status(config)
        return True
    if command == "inspect" and len(rest) == 1 and not rest[0].startswith("-"):
        _inspect(config, rest[0], json_out)
        return True
    if command == "logs" and "--json" not in rest:
        return _logs(config, rest, json_out)
    return False


def _status(config: str | None) -> None:
    from taskmux.cli import lean_status

    lean = lean_status.status_document(config)
    if lean is not None:
        sys.stderr.write("".join(lean.notes))
        lean_status.write(lean.document)
        return
    from taskmux.service import Service

    project = _load(config)
    document = {"ok": True, **Service.for_project(project).status().to_dict()}
    if project.fallback is not None:
        document["config_error"] = project.fallback.to_dict()
    lean_status.write(document)


def _inspect(config: str | None, task: str, json_out: bool) -> None:
    from taskmux.cli import lean_status

    lean = lean_status.inspect_record(config, task)
    config_error = None
    if lean is not None:
        sys.stderr.write("".join(lean.notes))
        record = lean.document
    else:
        from taskmux.service import Service

        project = _load(config)
        record = Service.for_project(project).inspect(task).to_dict()
        if project.fallback is not None:
            config_error = project.fallback.to_dict()
    document = {"ok": True, **record} if json_out else record
    if config_error is not None:
        document["config_error"] = config_error
    lean_status.write(document)


def _logs(config: str | None, rest: list[str], json_out: bool) -> bool:
    """`logs [TASK] [-n N]`: False (the full CLI) for any other option."""
    task: str | None = None
    lines: int | None = None
    while rest:
        arg = rest.pop(0)
        if arg in ("-n", "--lines") and lines is None and rest and _count(rest[0]):
            lines = int(rest.pop(0))
        elif task is None and not arg.startswith("-"):
            task = arg
        else:
            return False
    from taskmux.cli.logprint import make_printer
    from taskmux.service import Service

    service = Service.for_project(_load(config))
    result = service.logs(task) if lines is None else service.logs(task, lines)
    printer = make_printer(list(service.project.config.tasks), task, False, False, json_out, None)
    if not json_out and not result.items and not service.has_logs(task):
        folder = service.project.paths.log_file("x").parent
        sys.stderr.write(f"no logs yet (in {folder})\n")
    printer.run(result.items)
    return True


def _count(text: str) -> bool:
    """A line count as plain digits (click would also take `+5`, ` 5` or `1_0`)."""
    return text.isascii() and text.isdigit()


def _load(config: str | None) -> Project:
    """The project, with its warnings on stderr, as the Typer commands' `load`."""
    from taskmux.cli import jsonout
    from taskmux.service import open_project

    project = open_project(config, fallback=True)
    notes = [(p.code, p.render()) for p in project.warnings]
    if project.fallback is not None:
        notes.insert(0, ("W102", project.fallback.describe(project.path)))
        jsonout.config_error = project.fallback.to_dict()  # an error reply says so too
    for code, text in notes:
        sys.stderr.write(f"warning[{code}]: {text}\n")
    return project
