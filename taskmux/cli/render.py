"""Human renderings shared by commands: status tables, progress lines, durations."""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from taskmux.cli.app import console

if TYPE_CHECKING:
    from rich.console import Console
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
    if state.startswith(("restarting", "daemonized")):
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
    parts += _readiness_notes(row)
    if row.get("restart_count"):
        parts.append(f"restarts={row['restart_count']}")
    if row.get("next_restart_at"):
        parts.append(f"next restart in {max(0.0, row['next_restart_at'] - time.time()):.0f}s")
    if row.get("auto_start") is False:
        parts.append("manual start")
    if row.get("daemonized"):
        pids = ",".join(str(pid) for pid in row["daemonized"]["pids"])
        parts.append(f"in background, pid {pids}: run it in the foreground (see inspect)")
    return " ".join(parts)


def _readiness_notes(row: dict[str, Any]) -> list[str]:
    """The probe's kind, the last check's reason while it does not pass, a missing ready line."""
    probe = row.get("probe")
    parts = [f"{probe} probe"] if probe else []
    if not row.get("running"):
        return parts
    if row.get("ready") is False:
        return [*parts, "ready line not seen yet"]
    reason = row.get("probe_reason")
    if parts and reason and row.get("healthy") is not True:
        parts[0] += f": {reason}"
    return parts


_GAP = 2  # rich's padding between two columns (none at the table's outer edges)
_MIN_COMMAND = 8
_MIN_NOTES = 10


def status_table(
    session: str, session_running: bool, rows: list[dict[str, Any]], out: Console | None = None
) -> None:
    """Every line fits the terminal: the task, state, pid, port and uptime are shown whole,
    the command is cut with an ellipsis and the notes wrap within what is left."""
    from rich.table import Table
    from rich.text import Text

    out = out or console()
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
    headers = ("", "TASK", "STATE", "PID", "PORT", "UPTIME")
    fixed = [len(_plain(c[0])) for c in cells[:1]] or [1]
    fixed += [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers) if i]
    command, notes_width = _flexible_widths(
        out.width - sum(fixed) - _GAP * len(fixed),
        max([len("COMMAND"), *(len(c[6]) for c in cells)]),
        max([0, *(len(c[7]) for c in cells)]),
        max([0, *(len(word) for c in cells for word in c[7].split())]),
    )
    # Too narrow for the facts on one line (a long name and a long state in 80 columns):
    # the name and the state wrap, so that they are still shown whole.
    squeezed = sum(fixed) + _GAP * (len(fixed) - 1) > out.width
    for header, width in zip(headers, fixed, strict=True):
        if squeezed and header in ("TASK", "STATE"):
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, no_wrap=True, width=width)
    shown = [0, 1, 2, 3, 4, 5]
    if command:
        table.add_column("COMMAND", no_wrap=True, overflow="ellipsis", width=command)
        shown.append(6)
    if notes_width:
        table.add_column("NOTES", overflow="fold", width=notes_width)
        shown.append(7)
    for row_cells in cells:  # as plain text: a command's `[red]` is not markup
        table.add_row(row_cells[0], *(Text(row_cells[i]) for i in shown[1:]))
    out.print(table)


def _flexible_widths(space: int, command: int, notes: int, word: int) -> tuple[int, int]:
    """Widths of the command and notes columns in `space` columns (0: not shown).

    The notes (short facts; `word` is their longest word) wrap in up to half the space, or
    more if a word needs it and the command keeps its minimum; the command takes the rest
    and is cut. Too narrow for both: the notes alone (restarts and the next restart are
    news; the command is in the file), else the command; too narrow for any: neither.
    """
    if notes and space >= _MIN_COMMAND + _GAP + _MIN_NOTES:
        fair = max(_MIN_NOTES, (space - _GAP) // 2, min(word, space - _GAP - _MIN_COMMAND))
        notes_width = min(notes, fair)
        command_width = min(command, space - _GAP - notes_width)
        return command_width, min(notes, space - _GAP - command_width)
    if notes and space >= _MIN_NOTES:
        return 0, min(notes, space)
    return (min(command, space), 0) if space >= 4 else (0, 0)


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
            if self._last.get(progress.task) == step:
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
