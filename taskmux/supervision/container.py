"""`taskmux up` as a container's main process (SPEC §16): the PID-1 duties, and the watch
over a running stack that ends it. Prints nothing: the face (cli/up_cmd.py) does.

Reaping without stealing exit statuses. An init must collect every orphan the kernel hands
it (a task's double-forked daemon, the tmux server itself), and the usual way is a
`waitpid(-1)` loop on SIGCHLD. But taskmux waits for children of its own all the time
(`subprocess.Popen` for tmux commands, probes and hooks, each then calling `waitpid(pid)`
on its child), and a `waitpid(-1)` in the same process would take some of those statuses
first: the Popen would then see ECHILD and report exit 0 for a probe that failed. So `up`
splits in two at once, as tini does: the parent (PID 1, or a Linux child subreaper when
`up` is not PID 1) runs no Popen at all; it forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/
SIGUSR2 to its one child, the worker that runs the stack, and blocks in `waitpid(-1)`, which
the kernel wakes on each child's death (what a SIGCHLD handler would do, without the race
between the handler and the wait). Every orphan is reaped there; the worker's own status is
the parent's exit code. The worker's subprocesses are the worker's children, never the
parent's, so no status is ever taken from the code that waits for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskmux.errors import PartialFailure
from taskmux.supervision.stack_rules import Failure, FailureLog, is_over, unclean_stops

if TYPE_CHECKING:
    from collections.abc import Iterable

    from taskmux.lifecycle.results import StopReport
    from taskmux.service import Service

FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process adopt its descendants' orphans (Linux's PR_SET_CHILD_SUBREAPER),
    as PID 1 does; False where the system has no such thing."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def split(on_orphan: Callable[[int, int], None]) -> int | None:
    """Fork into the reaper (the parent: returns the worker's exit code once it ended)
    and the worker (returns None, with the forwarded signals still blocked: install the
    handlers, then `unblock`). No split where orphans would not come to this process (not
    PID 1 and no subreaper): None at once, nothing blocked."""
    if os.getpid() != 1 and not become_subreaper():
        return None
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)  # none is lost around the fork
    sys.stdout.flush()
    sys.stderr.flush()
    worker = os.fork()
    if worker == 0:
        return None
    for signum in FORWARDED:
        signal.signal(signum, lambda number, _frame: _forward(worker, number))
    unblock()
    return _reap(worker, on_orphan)


def unblock() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)


def _forward(worker: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just ended: the wait collects it
        os.kill(worker, signum)


def _reap(worker: int, on_orphan: Callable[[int, int], None]) -> int:
    """Collect every child until the worker ends; then the orphans already dead. Those
    still running are left to the kernel (it ends them with PID 1) or the next reaper."""
    code = 1
    flags = 0
    while True:
        try:
            pid, status = os.waitpid(-1, flags)
        except ChildProcessError:
            break  # no child at all
        if pid == 0:
            break  # WNOHANG, and no more have ended
        if pid == worker:
            code = shell_code(status)
            flags = os.WNOHANG
        else:
            on_orphan(pid, shell_code(status))
    return code


def shell_code(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + the signal."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class StackWatch:
    """Reads a running stack's events: notes failures, and sets `stop` (then calls `wake`)
    when `up` must end: at the first failure with `exit_on_failure`, or once nothing runs
    nor will run again."""

    def __init__(
        self,
        service: Service,
        stop: threading.Event,
        wake: Callable[[], None],
        exit_on_failure: bool = False,
    ) -> None:
        self.service = service
        self.stop = stop
        self.wake = wake
        self.exit_on_failure = exit_on_failure
        self.log = FailureLog(service.project.config)
        self.reason = ""  # why the stack ended by itself ("" : a signal, or still running)

    def failed_start(self, failure: PartialFailure | None) -> None:
        """A start that partly failed counts as a failure of `up --exit-on-failure`."""
        if failure is None:
            return
        error = failure.error
        self.log.failures.append(Failure("", error.exit_code or 1, error.message))
        if self.exit_on_failure:
            self._end(f"the start failed: {error.message}")

    def handle(self, record: dict[str, Any]) -> None:
        failure = self.log.note(record)
        if failure is not None and self.exit_on_failure:
            self._end(f"{failure.task}: {failure.reason}")
            return
        if record.get("event") in ("exited", "gave_up", "stopped", "killed"):
            self.check_over()

    def check_over(self) -> None:
        if is_over(self.service.project.config, self.service.observe().tasks):
            self._end("every task has ended")

    def follow(
        self, records: Iterable[dict[str, Any]], show: Callable[[dict[str, Any]], None]
    ) -> None:
        """Show and handle each event until the stream ends (at `stop`)."""
        for record in records:
            show(record)
            self.handle(record)

    def _end(self, reason: str) -> None:
        if not self.stop.is_set():
            self.reason = reason
            self.stop.set()
            self.wake()

    def shut_down(self) -> tuple[StopReport, list[Failure]]:
        """Stop every task in reverse dependency order, each within its grace period
        (the session ends with them); the failures, the run's first, then the stop's."""
        try:
            report = self.service.stop(None)
        except PartialFailure as caught:
            report = caught.result
        config = self.service.project.config
        return report, [*self.log.failures, *unclean_stops(config, report.stopped, report.failed)]
