"""`taskmux up`: the stack in the foreground as a container's main process (SPEC §16).

It starts every `auto_start` task in order and supervises as `start -m` does (the same
start path and `Monitor`), printing the events and the tasks' output as lines; SIGTERM or SIGINT stops every
task in reverse dependency order within their grace periods, then it exits: 0 when all
stopped cleanly, else the first failing task's exit code (with `--exit-on-failure`, as soon
as a task fails). It also ends once every task has ended for good. The PID-1 duties
(reaping orphans, forwarding signals) are `supervision/container.py`'s.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskmux.cli.app import JsonOpt, app
from taskmux.cli.eventline import describe_event
from taskmux.operations import MAX_LINES

if TYPE_CHECKING:
    from taskmux.service import Service
    from taskmux.supervision.stack_rules import Failure


def _line(json_out: bool, record: dict[str, Any], text: str) -> None:
    sys.stdout.write((json.dumps(record) if json_out else text) + "\n")
    sys.stdout.flush()


@app.command()
def up(
    exit_on_failure: Annotated[
        bool,
        typer.Option("--exit-on-failure", help="Stop everything and exit as soon as a task fails."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run the stack in the foreground as a container's main process."""
    from taskmux.supervision import container

    def orphan(pid: int, code: int) -> None:
        _line(
            json_out,
            {"up": "reaped", "pid": pid, "exit_code": code},
            f"up: reaped orphan {pid} (exit {code})",
        )

    code = container.split(orphan)
    if code is not None:  # the reaper: the worker has ended
        raise typer.Exit(code)
    stop = threading.Event()
    wakers: list[Callable[[], None]] = []

    def handler(_signum: int, _frame: object) -> None:  # only flags: the loop winds down
        stop.set()
        for wake in wakers:
            wake()

    # Every signal the reaper forwards has a handler here, or its default action would
    # end this worker without a stop: HUP and QUIT stop the stack as TERM does (a
    # terminal closed, `docker stop --signal QUIT`); USR1 and USR2 mean nothing to it.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, handler)
    for signum in container.FORWARDED:
        if signum in (signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(signum, signal.SIG_IGN)
    container.unblock()
    _run(stop, wakers, exit_on_failure, json_out)


def _run(
    stop: threading.Event, wakers: list[Callable[[], None]], exit_on_failure: bool, json_out: bool
) -> None:
    from taskmux.cli.supervise_cmds import show_reload, start_supervised
    from taskmux.errors import StackFailed
    from taskmux.supervision.container import StackWatch
    from taskmux.supervision.monitor import Monitor

    began = datetime.now(UTC).isoformat()  # the tasks' lines from here are shown
    started = start_supervised(None, json_out, holder="up")
    service = started.service
    try:
        monitor = Monitor(service, started.seen, show_reload(json_out))
        wakers.append(monitor.wake)
        watch = StackWatch(service, stop, monitor.wake, exit_on_failure)
        watch.failed_start(started.failure)
        with monitor:
            events = service.follow_events(stop=stop)

            def show(record: dict[str, Any]) -> None:
                _line(json_out, record, describe_event(record))

            follower = threading.Thread(target=watch.follow, args=(events, show), daemon=True)
            follower.start()
            printer = threading.Thread(
                target=_print_logs, args=(service, stop, began, json_out), daemon=True
            )
            printer.start()
            watch.check_over()  # a stack of one-shots may be over before the first event
            monitor.run(stop)
        reason = watch.reason or "a stop was asked for"
        _line(json_out, {"up": "stopping", "reason": reason}, f"up: stopping all tasks ({reason})")
        report, failures = watch.shut_down()
    finally:
        started.claim.release()
    _line(json_out, {"up": "stopped", **report.to_dict()}, _stopped_text(failures))
    if failures:
        first = failures[0]
        raise StackFailed(_failure_text(first), first.exit_code)


def _print_logs(service: Service, stop: threading.Event, began: str, json_out: bool) -> None:
    """Every task's output since `up` began, prefixed by its name (`--json`: the records
    of `logs --json`), so a container's log shows it (secrets redacted, as `logs` does)."""
    from taskmux.cli.logprint import make_printer

    tasks = list(service.project.config.tasks)
    result, stream = service.follow_logs(None, MAX_LINES, None, 0, began, stop=stop)
    make_printer(tasks, None, False, False, json_out, result.pattern).run(stream, True)


def _stopped_text(failures: list[Failure]) -> str:
    if not failures:
        return "up: every task stopped cleanly"
    return "up: stopped; " + "; ".join(_failure_text(f) for f in failures)


def _failure_text(failure: Failure) -> str:
    who = f"task '{failure.task}'" if failure.task else "the start"
    return f"{who} failed ({failure.reason}): exit {failure.exit_code}"
