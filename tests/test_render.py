"""Human renderings that must survive whatever text a task prints."""

from __future__ import annotations

import pytest

from taskmux.cli.render import ProgressPrinter
from taskmux.lifecycle import Progress


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
