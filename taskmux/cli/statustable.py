"""The `status` table, written with the standard library alone (no rich on this path).

Every line fits the terminal: the task, state, pid, port and uptime are shown whole, the
command is cut with an ellipsis and the notes wrap within what is left; too narrow for
the facts on one line, the name and the state wrap instead. On a terminal the marks
and the title are coloured.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # `typing` costs the lean path an import; mypy reads this
if TYPE_CHECKING:
    from typing import Any

_GAP = 2  # spaces between two columns (none at the table's outer edges)
_MIN_COMMAND = 8
_MIN_NOTES = 10
_RESET = "\x1b[0m"
_STYLE = {"green": "\x1b[32m", "red": "\x1b[31m", "yellow": "\x1b[33m", "dim": "\x1b[2m"}
_BOLD = "\x1b[1m"
HEADERS = ("", "TASK", "STATE", "PID", "PORT", "UPTIME")


def port_cell(row: dict[str, Any]) -> str:
    """The PORT cell: the task's named URL when the proxy is on (SPEC §14), else its port."""
    if row.get("url"):
        return str(row["url"])
    return str(row.get("port") or ("auto" if row.get("port_auto") else "-"))


def _headers(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """The PORT column is headed URL when it shows URLs."""
    if any(row.get("url") for row in rows):
        return tuple("URL" if h == "PORT" else h for h in HEADERS)
    return HEADERS


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


def first_line(command: str) -> str:
    """A command on one row: its first line, and `…` when lines follow (a multi-line
    command would otherwise print a row per line)."""
    lines = command.strip().splitlines() or [""]
    return lines[0].rstrip() + (" …" if len(lines) > 1 else "")


def mark(row: dict[str, Any]) -> tuple[str, str]:
    """The row's sign and its colour."""
    state = str(row.get("state", ""))
    if row.get("running"):
        if row.get("healthy") is False:
            return "✗", "red"
        return ("◐", "yellow") if row.get("stale") else ("●", "green")
    if state.startswith(("exited", "killed by", "gave up")):
        return "✗", "red"
    if state.startswith(("restarting", "daemonized", "left over")):
        return "◐", "yellow"
    return "○", "dim"


def notes(row: dict[str, Any]) -> str:
    parts = []
    if row.get("stale"):
        moved = ", ".join(f"{t}'s port {a} is now {b}" for t, (a, b) in row["stale"].items())
        parts.append(f"stale ({moved}): restart it")
    if row.get("leftover_pids"):
        pids = ",".join(str(pid) for pid in row["leftover_pids"])
        parts.append(f"pid {pids} still runs, its session gone (start ends it)")
    if row.get("holder"):
        parts.append(f"held by {row['holder']}")
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
    if row.get("restart_waits"):
        parts.append("restart waits for a supervisor")
    elif row.get("next_restart_at"):
        parts.append(f"next restart in {max(0.0, row['next_restart_at'] - time.time()):.0f}s")
    if row.get("schedule"):
        parts.append(_schedule_note(row))
    elif row.get("auto_start") is False:
        parts.append("manual start")
    if row.get("daemonized"):
        pids = ",".join(str(pid) for pid in row["daemonized"]["pids"])
        parts.append(f"in background, pid {pids}: run it in the foreground (see inspect)")
    return " ".join(parts)


def _schedule_note(row: dict[str, Any]) -> str:
    """`every 2s, next run in 1s`, or without a supervisor `... (no supervisor runs it)`."""
    due = row.get("next_run")
    if due is None:
        return f"{row['schedule']} (runs under start -m or the daemon)"
    wait = max(0.0, due - time.time())
    when = f"in {wait:.0f}s" if wait < 3600 else time.strftime("at %H:%M", time.localtime(due))
    return f"{row['schedule']}, next run {when}"


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


def state_text(row: dict[str, Any]) -> str:
    """The STATE cell: the state, and whether the task runs with a port that moved."""
    return f"{row['state']} (stale)" if row.get("stale") else str(row["state"])


def render(
    session: str,
    running: bool,
    rows: list[dict[str, Any]],
    width: int,
    color: bool,
    said: list[str] | None = None,
) -> str:
    """The table as text, every line at most `width` columns; then `said`: what status
    says about the session (`session_notes`), each wrapped to the width."""
    paint = _Painter(color)
    cells = [
        [
            row["name"],
            state_text(row),
            str(row.get("pid") or "-"),
            port_cell(row),
            duration(row.get("uptime")),
            first_line(str(row.get("command", "-"))),
            notes(row),
        ]
        for row in rows
    ]
    heads = _headers(rows)
    fixed = [1] + [max([len(h), *(len(c[i - 1]) for c in cells)]) for i, h in enumerate(heads) if i]
    command, notes_width = flexible_widths(
        width - sum(fixed) - _GAP * len(fixed),
        max([len("COMMAND"), *(len(c[5]) for c in cells)]),
        max([0, *(len(c[6]) for c in cells)]),
        max([0, *(len(word) for c in cells for word in c[6].split())]),
    )
    if sum(fixed) + _GAP * (len(fixed) - 1) > width:  # the name and the state wrap
        fixed[1], fixed[2] = _squeezed(width, fixed, cells)
    widths = fixed[1:] + [w for w in (command, notes_width) if w]
    headers = [*heads[1:], *(["COMMAND"] if command else []), *(["NOTES"] if notes_width else [])]
    title = "running" if running else paint("not running", _STYLE["dim"])
    lines = [f"session {paint(session, _BOLD)}: {title}"]
    lines.append(
        _line(
            paint(" ", ""),
            [paint(_cut(h, w), _BOLD) for h, w in zip(headers, widths, strict=True)],
            widths,
        )
    )
    for row, row_cells in zip(rows, cells, strict=True):
        sign, style = mark(row)
        columns = [_wrap(row_cells[0], fixed[1]), _wrap(row_cells[1], fixed[2])]
        columns += [[text] for text in row_cells[2:5]]
        if command:
            columns.append([_cut(row_cells[5], command)])
        if notes_width:
            columns.append(_wrap(row_cells[6], notes_width))
        for index in range(max(len(column) for column in columns)):
            first = paint(sign, _STYLE[style]) if index == 0 else " "
            texts = [column[index] if index < len(column) else "" for column in columns]
            lines.append(_line(first, texts, widths))
    for note in said or []:
        lines += [paint(line, _STYLE["yellow"]) for line in _wrap("note: " + note, width)]
    return "\n".join(lines) + "\n"


def _line(first: str, texts: list[str], widths: list[int]) -> str:
    """One line of the table: the mark, then each column padded to its width."""
    padded = [
        text + " " * (width - _plain_len(text)) for text, width in zip(texts, widths, strict=True)
    ]
    return (first + " " * _GAP + (" " * _GAP).join(padded)).rstrip()


def _plain_len(text: str) -> int:
    """Length without colour codes."""
    if "\x1b" not in text:
        return len(text)
    plain, inside = 0, False
    for char in text:
        if char == "\x1b":
            inside = True
        elif inside:
            inside = char != "m"
        else:
            plain += 1
    return plain


class _Painter:
    """Wraps text in a colour code and its reset, when colour is on."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self.color and style else text


def _squeezed(width: int, fixed: list[int], cells: list[list[str]]) -> tuple[int, int]:
    """The name's and the state's widths when the facts do not fit on one line: what is
    left after the other facts, shared in proportion, each at least its header."""
    others = fixed[0] + sum(fixed[3:]) + _GAP * (len(fixed) - 1)
    space = max(len("TASK") + len("STATE"), width - others)
    task, state = fixed[1], fixed[2]
    task_width = max(len("TASK"), space * task // (task + state))
    words = max([len("STATE"), *(len(w) for c in cells for w in c[1].split())])
    state_width = space - task_width
    if state_width < words:  # a state word whole, if the name can give way
        task_width = max(len("TASK"), space - words)
        state_width = space - task_width
    return task_width, state_width


def _cut(text: str, width: int) -> str:
    """`text` in `width` columns: cut with an ellipsis if longer."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _wrap(text: str, width: int) -> list[str]:
    """Word-wrapped in `width` columns; a word longer than that is folded."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current or not lines:
        lines.append(current)
    return lines


def flexible_widths(space: int, command: int, notes: int, word: int) -> tuple[int, int]:
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


def terminal() -> tuple[int, bool]:
    """The width to fit (COLUMNS, else the terminal's, else 80) and whether to colour."""
    width = 0
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        width = int(columns)
    else:
        for fd in (0, 1, 2):
            try:
                width = os.get_terminal_size(fd).columns
                break
            except OSError:
                continue
    env = os.environ
    tty = bool(env.get("FORCE_COLOR")) or sys.stdout.isatty()
    color = tty and "NO_COLOR" not in env and env.get("TERM") not in ("dumb", "unknown")
    return width or 80, color


def write(
    session: str, running: bool, rows: list[dict[str, Any]], said: list[str] | None = None
) -> None:
    """Print the table for this terminal (`said`: the document's `session_notes`)."""
    width, color = terminal()
    sys.stdout.write(render(session, running, rows, width, color, said))
    sys.stdout.flush()
