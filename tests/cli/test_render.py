"""The `status` table fits the terminal: facts whole, the command shortened, notes wrapped
(written without rich: `cli/statustable.py`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from typing import Any

import pytest
from conftest import TASKMUX
from harness import Project, project

from taskmux.cli.render import ProgressPrinter
from taskmux.cli.statustable import render
from taskmux.lifecycle.core import Progress

__all__ = ["project"]

LONG = "uvicorn app.main:app --reload --host 0.0.0.0 --port 8000 --workers 4 --log-level debug"
ROWS: list[dict[str, Any]] = [
    {"name": "database", "state": "running", "running": True, "pid": 123456, "port": 15432,
     "uptime": 3725.0, "command": "postgres -D /var/lib/postgresql/data -c shared_buffers=256MB"},
    {"name": "api-server", "state": "running", "running": True, "pid": 123470, "port": 8000,
     "uptime": 61.0, "command": LONG, "cwd": "services/api", "restart_policy": "always",
     "depends_on": ["database"], "restart_count": 2},
    {"name": "frontend", "state": "killed by SIGKILL", "running": False, "pid": None,
     "port": 5173, "uptime": None, "command": "npm run dev -- --host",
     "depends_on": ["api-server", "database"], "auto_start": False},
    {"name": "migrate", "state": "exited 3", "running": False, "command": "[red]alembic upgrade"},
]  # fmt: skip
# A long name and a long state together: the facts alone take 85 columns.
EXTREME = {"name": "api-server-with-a-long-name", "state": "restarting (killed by SIGKILL)",
           "running": False, "pid": 123470, "port": 8000, "command": LONG,
           "depends_on": ["database"]}  # fmt: skip


def _render(width: int, rows: list[dict[str, Any]] = ROWS) -> list[str]:
    return render("shop", True, rows, width, color=False).splitlines()


def _facts(row: dict[str, Any]) -> str:
    """The row's facts as they read on one line of the table (a regex)."""
    words = [row["name"], row["state"], str(row.get("pid") or "-"), str(row.get("port") or "-")]
    return r"\s+".join(map(re.escape, words))


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_every_line_fits_and_the_facts_stay_whole(width: int) -> None:
    lines = _render(width)
    assert lines[0] == "session shop: running"
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    for row in ROWS:
        (line,) = [line for line in lines if re.match(rf"\S\s+{row['name']} ", line)]
        assert re.search(_facts(row), line), line
    assert "1h02m" in "\n".join(lines) and "1m01s" in "\n".join(lines)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_command_is_shortened_with_an_ellipsis(width: int) -> None:
    lines = _render(width)
    (api,) = [line for line in lines if re.match(r"\S\s+api-server ", line)]
    command = re.search(r"  (uvicorn[^…]*…)", api)
    assert command is not None and LONG.startswith(command.group(1)[:-1]), api
    assert "needs" in "\n".join(lines)  # the notes are still there, wrapped


def test_a_wide_terminal_shows_everything_on_one_line_each() -> None:
    lines = _render(220)
    assert len(lines) == 2 + len(ROWS)
    assert any(
        LONG in line and "restart=always needs database restarts=2" in line for line in lines
    )
    assert any("[red]alembic upgrade" in line for line in lines)  # shown as written


def test_a_multi_line_command_is_one_row_its_first_line_marked() -> None:
    rows = [{"name": "build", "state": "running", "running": True,
             "command": "set -e\nmake all\nmake test"}]  # fmt: skip
    lines = _render(120, rows)
    assert len(lines) == 3, lines
    assert re.search(r"build\s+running.*  set -e …$", lines[2]), lines
    assert "make" not in "\n".join(lines)


def test_narrow_terminals_keep_the_notes_over_the_command() -> None:
    no_notes = _render(80, ROWS[:1])  # no row has notes: no NOTES column
    assert "NOTES" not in no_notes[1] and "postgres -D /var/lib/postgresql" in no_notes[2]
    notes_only = _render(72)
    assert "COMMAND" not in notes_only[1] and "NOTES" in notes_only[1]
    assert "restarts=2" in "\n".join(notes_only)
    facts_only = _render(62)
    assert "COMMAND" not in facts_only[1] and "NOTES" not in facts_only[1]
    for rendered, width in ((notes_only, 72), (facts_only, 62)):
        assert all(len(line) <= width for line in rendered)
        for row in ROWS:
            assert any(re.search(_facts(row), line) for line in rendered), (row, rendered)


def _cell(lines: list[str], first: int, start: int, end: int) -> list[str]:
    """The pieces of one cell that wraps: its column on the row's line and the lines
    that continue it (they start blank, under the mark)."""
    pieces = [lines[first][start:end].strip()]
    for line in lines[first + 1 :]:
        if line[:1].strip():
            break
        pieces.append(line[start:end].strip())
    return [piece for piece in pieces if piece]


@pytest.mark.parametrize("width", [60, 80])
def test_facts_too_wide_for_one_line_wrap_rather_than_being_cut(width: int) -> None:
    lines = _render(width, [*ROWS, EXTREME])
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    header = lines[1]
    task, state, pid = header.index("TASK"), header.index("STATE"), header.index("PID")
    first = next(i for i, line in enumerate(lines) if "api-server-with" in line)
    assert "".join(_cell(lines, first, task, state)) == EXTREME["name"]
    assert " ".join(_cell(lines, first, state, pid)) == EXTREME["state"]
    assert "…" not in "\n".join(lines[:2])  # no header is cut either


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a real terminal")
def test_status_in_an_80_column_terminal(project: Project) -> None:
    project.write(
        f"""
        [tasks.api-server]
        command = "sleep 300 # {LONG}"
        port = 18000
        restart_policy = "always"
        min_uptime = 0.2
        [tasks.worker]
        command = "sleep 301"
        depends_on = ["api-server"]
        """
    )
    assert project.run("start").returncode == 0
    result = subprocess.run(
        ["script", "-qec", f"{TASKMUX} status", "/dev/null"],
        cwd=project.root,
        env={**project.env, "COLUMNS": "80", "LINES": "40", "TERM": "xterm-256color"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout).replace("\r", "")
    lines = [line for line in plain.splitlines() if line.strip()]
    assert any("●" in line for line in lines), plain  # a real terminal: the marks and colour
    assert all(len(line) <= 80 for line in lines), plain
    (api,) = [line for line in lines if "api-server " in line]
    pid = project.status()["api-server"]["pid"]
    assert re.search(rf"api-server\s+running\s+{pid}\s+18000\s+\d+s\s+sleep 300 # uv", api)
    assert "…" in api
    started = time.monotonic()
    assert project.run("stop").returncode == 0
    assert time.monotonic() - started < 20


def test_live_progress_shows_output_with_brackets_verbatim(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printer = ProgressPrinter(json_mode=False)
    printer.tty = True  # the live table, as on a terminal
    try:
        for phase in ("waiting", "starting", "started", "completed", "failed", "unknown"):
            printer(Progress(phase, phase, "last output: [ERROR] boom [/x] done"))
    finally:
        printer.close()
    shown = capsys.readouterr().out
    assert "[ERROR] boom [/x] done" in shown and "completed" in shown


def test_started_after_healthy_is_not_shown_as_a_step_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A dependency's wait can find it healthy before its own settle window ends."""
    printer = ProgressPrinter(json_mode=False)
    for phase in ("starting", "healthy", "started"):
        printer(Progress("web", phase))
    printer(Progress("worker", "started"))
    printer(Progress("web", "failed", "exited 1 within 0.4s of its start"))
    printer.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "web: starting",
        "web: healthy",
        "worker: started",
        "web: failed: exited 1 within 0.4s of its start",
    ]
