"""Live progress of the lifecycle (start, stop, restart) as commands show it (the status
table is `statustable.py`, without rich)."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from taskmux.cli.app import console

if TYPE_CHECKING:
    from rich.live import Live

    from taskmux.lifecycle.core import Progress

_PHASE_STYLE = {
    "starting": "yellow",
    "started": "green",
    "completed": "green",
    "running": "cyan",
    "healthy": "green",
    "waiting": "yellow",
    "skipped": "red",
    "failed": "red",
    "stopping": "yellow",
    "stopped": "dim",
    "hook": "yellow",
    "daemonized": "red",
}


class ProgressPrinter:
    """Shows lifecycle progress: a live table on a terminal, plain lines otherwise.

    Called from worker threads; `close()` ends the live table. Silent with --json.
    """

    def __init__(self, json_mode: bool) -> None:
        self.quiet = json_mode
        self.tty = sys.stdout.isatty() and not json_mode
        self._last: dict[str, tuple[str, str]] = {}
        self._before_hook: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __call__(self, progress: Progress) -> None:
        if self.quiet:
            return
        with self._lock:
            if progress.phase in ("hook", "hook done"):
                self._hook(progress)
                return
            step = (progress.phase, progress.detail)
            last = self._last.get(progress.task)
            if last == step or (progress.phase == "started" and last == ("healthy", "")):
                # A dependency found healthy while its settle window still ran: "started"
                # (it lived through that window) says less, and would read as a step back.
                return
            self._last[progress.task] = step
            if self.tty:
                self._refresh()
            else:
                detail = f": {progress.detail}" if progress.detail else ""
                sys.stdout.write(f"{progress.task}: {progress.phase}{detail}\n")
                sys.stdout.flush()

    def _hook(self, progress: Progress) -> None:
        """A running hook shows on its task's line (or a "global" one) until it is over."""
        task = progress.task
        if progress.phase == "hook":
            if task in self._last:
                self._before_hook[task] = self._last[task]
            self._last[task] = ("hook", progress.detail)
            if not self.tty:
                sys.stdout.write(f"{task or 'global'}: {progress.detail}\n")
                sys.stdout.flush()
        else:  # over: the line shows what it showed before
            previous = self._before_hook.pop(task, None)
            if previous is not None:
                self._last[task] = previous
            else:
                self._last.pop(task, None)
        if self.tty:
            self._refresh()

    def _refresh(self) -> None:
        from rich.live import Live
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        for task, (phase, detail) in self._last.items():
            style = _PHASE_STYLE.get(phase, "default")
            # The detail may quote a task's output, whose brackets are not markup.
            table.add_row(f"[{style}]{phase:>8}[/]", task or "global", f"[dim]{escape(detail)}[/]")
        if self._live is None:
            self._live = Live(table, console=console(), refresh_per_second=10, transient=False)
            self._live.start()
        else:
            self._live.update(table, refresh=True)

    def close(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None
