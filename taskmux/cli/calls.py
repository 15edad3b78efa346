"""What the command modules share: one service call, its progress shown, its result rendered.

Here so that the command modules import it and never each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from taskmux.cli.app import console, emit, fail, load, warn
from taskmux.cli.render import ProgressPrinter

if TYPE_CHECKING:
    from taskmux.errors import PartialFailure
    from taskmux.lifecycle.waiting import TaskWait, WaitResult
    from taskmux.service import Service


@contextmanager
def service_for(json_out: bool, operation: str) -> Iterator[Service]:
    """The service for one operation, its progress shown while the block runs; loaded
    from the last valid config when the operation allows it and the file is invalid."""
    from taskmux.operations import OPERATIONS
    from taskmux.service import Service

    printer = ProgressPrinter(json_out)
    try:
        yield Service.for_project(load(json_out, OPERATIONS[operation].fallback), printer)
    finally:
        printer.close()


def attempt(
    json_out: bool, operation: str, act: Callable[[Service], Any]
) -> tuple[Any, PartialFailure | None, Service]:
    """Run one service call (progress shown meanwhile): its result, and the partial
    failure when it partly failed (its result is then the failure's)."""
    from taskmux.errors import PartialFailure

    with service_for(json_out, operation) as service:
        try:
            return act(service), None, service
        except PartialFailure as failure:
            return failure.result, failure, service


def render(
    json_out: bool,
    result: Any,
    failure: PartialFailure | None,
    human: Callable[[Any], str | Callable[[], None] | None] | None = None,
    exit_on_failure: bool = True,
) -> None:
    """Print a result, or a partial failure with its result and error line (exit 1)."""
    for message in getattr(result, "warnings", []):
        warn(message, "W401")
    rendering = human(result) if human is not None else None
    if failure is None:
        emit(json_out, result.to_dict(), rendering)
    elif exit_on_failure:
        fail(json_out, failure.details, failure.error, rendering if callable(rendering) else None)
    else:
        typer.echo(f"error[{failure.code}]: {failure.message}", err=True)


def perform(
    json_out: bool,
    operation: str,
    act: Callable[[Service], Any],
    human: Callable[[Any], str | Callable[[], None] | None] | None = None,
) -> None:
    """One service call, rendered."""
    result, failure, _ = attempt(json_out, operation, act)
    render(json_out, result, failure, human)


def explain_wait(result: WaitResult) -> None:
    """Each task's outcome; for an unmet one, the facts that say why."""
    out = console()
    for task in result.tasks:
        if task.met:
            out.print(f"[green]✓[/] {task.task}: {task.state}", markup=True)
            continue
        out.print(f"[red]✗[/] {task.task}: {task.reason}", markup=True)
        for line in _facts(task):
            out.print(f"    {line}", markup=False)


def _facts(task: TaskWait) -> list[str]:
    lines = [] if task.reason.startswith(task.state) else [f"state: {task.state}"]
    if task.exit_code is not None:
        lines.append(f"exit code: {task.exit_code}")
    if task.signal is not None:
        lines.append(f"signal: {task.signal}")
    if task.health is not None:
        health = task.health
        verdict = "passed" if health.healthy else "failed"
        what = "health check" if health.kind == "command" else f"{health.kind} probe"
        if health.kind == "process":
            what = "check"
        lines.append(f"last {what}: {verdict} ({health.reason})")
        if health.kind == "command":
            lines += [f"  {line}" for line in health.output.splitlines()[-5:]]
    if task.logs:
        lines.append(f"last {len(task.logs)} log lines:")
        lines += [f"  | {line}" for line in task.logs]
    else:
        lines.append("no log lines")
    return lines
