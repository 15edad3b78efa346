"""Human renderings shared by commands: status tables, progress lines, durations."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from taskmux.cli.app import console

if TYPE_CHECKING:
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
    for column in ("", "TASK", "STATE", "PID", "PORT", "UPTIME"):
        table.add_column(column, no_wrap=True)
    table.add_column("COMMAND", no_wrap=True, overflow="ellipsis", max_width=48)
    table.add_column("NOTES", overflow="fold")
    for row in rows:
        table.add_row(
            mark(row),
            row["name"],
            row["state"],
            str(row.get("pid") or "-"),
            str(row.get("port") or "-"),
            duration(row.get("uptime")),
            row.get("command", "-"),
            notes(row),
        )
    out.print(table)


class ProgressPrinter:
    """Prints lifecycle progress: one plain line per step (stderr when --json)."""

    def __init__(self, json_mode: bool) -> None:
        self.quiet = json_mode
        self.tty = sys.stdout.isatty() and not json_mode
        self._last: dict[str, str] = {}

    def __call__(self, progress: Progress) -> None:
        if self.quiet:
            return
        line = f"{progress.phase}{': ' + progress.detail if progress.detail else ''}"
        if self._last.get(progress.task) == line:
            return
        self._last[progress.task] = line
        if self.tty:
            style = _PHASE_STYLE.get(progress.phase, "")
            detail = f" [dim]{progress.detail}[/]" if progress.detail else ""
            console().print(f"  [{style}]{progress.phase:>8}[/] {progress.task}{detail}")
        else:
            sys.stdout.write(f"{progress.task}: {line}\n")
            sys.stdout.flush()
