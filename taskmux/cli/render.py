"""Human renderings shared by commands: status tables, progress lines, durations."""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from taskmux.cli.app import console

if TYPE_CHECKING:
    from rich.live import Live

    from taskmux.lifecycle import Progress

_PHASE_STYLE = {
    "started": "green",
    "running": "cyan",
    "healthy": "green",
    "waiting": "yellow",
    "skipped": "red",
    "failed": "red",
    "stopping": "yellow",
    "stopped": "dim",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def mark(row: dict[str, Any]) -> str:
    state = str(row.get("state", ""))
    if row.get("running"):
        return "[red]✗[/]" if row.get("healthy") is False else "[green]●[/]"
    if state.startswith(("exited", "killed by", "gave up")):
        return "[red]✗[/]"
    if state.startswith("restarting"):
        return "[yellow]◐[/]"
    return "[dim]○[/]"


def notes(row: dict[str, Any]) -> str:
    parts = []
    if not row.get("in_config", True):
        parts.append("not in config")
    if row.get("cwd"):
        parts.append(f"cwd={row['cwd']}")
    if row.get("restart_policy") not in (None, "on-failure"):
        parts.append(f"restart={row['restart_policy']}")
    if row.get("depends_on"):
        parts.append("needs " + ",".join(row["depends_on"]))
    if row.get("restart_count"):
        parts.append(f"restarts={row['restart_count']}")
    if row.get("next_restart_at"):
        parts.append(f"next restart in {max(0.0, row['next_restart_at'] - time.time()):.0f}s")
    if row.get("auto_start") is False:
        parts.append("manual start")
    return " ".join(parts)


def status_table(session: str, session_running: bool, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    out = console()
    title = f"session [bold]{session}[/]: " + (
        "running" if session_running else "[dim]not running[/]"
    )
    table = Table(box=None, pad_edge=False, header_style="bold", title=title, title_justify="left")
    cells = [
        [
            mark(row),
            row["name"],
            row["state"],
            str(row.get("pid") or "-"),
            str(row.get("port") or ("auto" if row.get("port_auto") else "-")),
            duration(row.get("uptime")),
            row.get("command", "-"),
            notes(row),
        ]
        for row in rows
    ]
    # The facts keep their full width; only the command is shortened to fit.
    used = 0
    for index, column in enumerate(("", "TASK", "STATE", "PID", "PORT", "UPTIME")):
        widest = max([len(column), *(len(_plain(c[index])) for c in cells)])
        table.add_column(column, no_wrap=True, min_width=widest)
        used += widest + 1
    notes_width = min(max([len("NOTES"), *(len(c[7]) for c in cells)]), 28)
    command_width = max(12, min(48, out.width - used - notes_width - 2))
    table.add_column("COMMAND", no_wrap=True, overflow="ellipsis", width=command_width)
    table.add_column("NOTES", overflow="fold", min_width=notes_width)
    for row_cells in cells:
        table.add_row(*row_cells)
    out.print(table)


def _plain(text: str) -> str:
    """Text without rich markup, for measuring."""
    from rich.text import Text

    return Text.from_markup(text).plain


class ProgressPrinter:
    """Shows lifecycle progress: a live table on a terminal, plain lines otherwise.

    Called from worker threads; `close()` ends the live table. Silent with --json.
    """

    def __init__(self, json_mode: bool) -> None:
        self.quiet = json_mode
        self.tty = sys.stdout.isatty() and not json_mode
        self._last: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __call__(self, progress: Progress) -> None:
        if self.quiet:
            return
        with self._lock:
            step = (progress.phase, progress.detail)
            if self._last.get(progress.task) == step:
                return
            self._last[progress.task] = step
            if self.tty:
                self._refresh()
            else:
                detail = f": {progress.detail}" if progress.detail else ""
                sys.stdout.write(f"{progress.task}: {progress.phase}{detail}\n")
                sys.stdout.flush()

    def _refresh(self) -> None:
        from rich.live import Live
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        for task, (phase, detail) in self._last.items():
            style = _PHASE_STYLE.get(phase, "")
            table.add_row(f"[{style}]{phase:>8}[/]", task, f"[dim]{detail}[/]")
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
