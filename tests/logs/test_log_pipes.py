"""Every pane's log pipe stays attached: after the state folder is deleted under running
tasks, and after a pipe's `cat` dies (issue 23, items 1 and 3). Real private tmux."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import psutil
from conftest import fill_disk
from harness import Project, project, wait_until

from taskmux.statedir.claim import supervisor_running
from taskmux.statedir.wakesock import poke

__all__ = ["project"]

TICKER = """
[tasks.ticker]
command = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"
"""


def _ticks(project: Project) -> list[int]:
    result = project.run("logs", "ticker", "-n", "5")
    return [int(line.split()[-1]) for line in result.stdout.splitlines() if "tick" in line]


def _grows(project: Project) -> bool:
    """Whether the log shows newer ticks from one read to the next."""
    first = _ticks(project)
    return bool(first) and bool(wait_until(lambda: max(_ticks(project) or [0]) > max(first), 3))


def test_a_restart_after_the_state_folder_was_deleted_logs_again(project: Project) -> None:
    project.write(TICKER)
    assert project.run("start").returncode == 0
    assert wait_until(lambda: _ticks(project))
    shutil.rmtree(project.paths.root)
    assert project.run("restart", "ticker").returncode == 0
    assert wait_until(lambda: _ticks(project), timeout=10)  # not "no logs yet"
    assert _grows(project)


def test_a_supervisor_reattaches_the_pipes_when_the_state_folder_is_deleted(
    project: Project,
) -> None:
    project.write(TICKER)
    project.spawn("start", "-m")
    assert wait_until(lambda: _ticks(project), timeout=15)
    assert wait_until(lambda: supervisor_running(project.paths.supervisor_lock), timeout=10)
    shutil.rmtree(project.paths.root)
    # No launch: the supervisor notices (the collector's end wakes it) and pipes again.
    assert wait_until(lambda: _ticks(project), timeout=10)
    assert _grows(project)
    events = [e for e in project.events() if e["event"] == "log_reattached"]
    assert [(e["task"], e["reason"]) for e in events] == [("ticker", "spool removed")]
    assert wait_until(lambda: poke(project.paths.root), timeout=5)  # its wake socket too


def test_a_read_after_the_state_folder_was_deleted_brings_the_logs_back(
    project: Project,
) -> None:
    project.write(TICKER)
    assert project.run("start").returncode == 0  # no supervisor
    assert wait_until(lambda: _ticks(project))
    shutil.rmtree(project.paths.root)
    assert wait_until(lambda: _ticks(project), timeout=10)  # the first read pipes again
    assert _grows(project)


def _pipe_writers(spool: str) -> list[psutil.Process]:
    """The pane's `cat`s appending to `spool`."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "cat":
            continue
        with contextlib.suppress(psutil.Error):
            if any(f.path == spool for f in proc.open_files()):
                found.append(proc)
    return found


def test_a_pipe_whose_cat_died_is_attached_again_with_a_mark_where_output_was_lost(
    project: Project,
) -> None:
    """As on a full disk (the `cat` dies on ENOSPC; simulated here by killing it: tmux
    shows `pane_pipe` 0 either way), the next read pipes again and says what happened."""
    project.write(TICKER)
    assert project.run("start").returncode == 0  # no supervisor: reads must see to it
    assert wait_until(lambda: _ticks(project))
    spool = str(project.paths.root / "spool" / "ticker")
    writers = wait_until(lambda: _pipe_writers(spool))
    for proc in writers:
        proc.kill()
    assert _grows(project)  # the read attached a new pipe
    text = project.run("logs", "ticker", "-n", "100000").stdout
    assert "[taskmux] output lost here: the log pipe had stopped (disk full?)" in text
    names = [(e["event"], e.get("reason")) for e in project.events() if e["task"] == "ticker"]
    assert ("log_lost", "the log pipe had stopped (disk full?)") in names
    assert ("log_reattached", "pipe closed") in names


LOUD_TICKER = """
[tasks.ticker]
command = "i=0; while true; do i=$((i+1)); echo $(seq 1000) tick $i; sleep 0.05; done"
"""


def test_a_full_disk_loses_output_once_and_logging_comes_back_with_the_space(
    project: Project, small_disk: Path
) -> None:
    project.write(LOUD_TICKER)  # a 4 KB line each time: every write needs a new page
    assert project.run("start").returncode == 0  # no supervisor: reads must see to it
    assert wait_until(lambda: _ticks(project))
    spool = str(project.paths.root / "spool" / "ticker")
    filler = fill_disk(small_disk)
    assert wait_until(lambda: fill_disk(small_disk) and not _pipe_writers(spool), timeout=15)
    project.run("logs", "ticker", "-n", "5")  # still full: nothing to do yet
    assert not [e for e in project.events() if e["event"] == "log_lost"]
    filler.unlink()
    assert _grows(project)  # with space back, the next read piped again
    text = project.run("logs", "ticker", "-n", "100000").stdout
    assert "[taskmux] output lost here: the log pipe had stopped (disk full?)" in text
    assert [e["task"] for e in project.events() if e["event"] == "log_lost"] == ["ticker"]
