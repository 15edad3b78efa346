"""Whose is a process on the port of a task that exited 0 (`daemonized.launched_by`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskmux.lifecycle.daemonized import launched_by
from taskmux.runtime.port_guard import Holder
from taskmux.runtime.state import TaskState

LAUNCH = 1_000_000.0
UID = 1000
MARKER = "app-0123456789/cache"
EXITED = TaskState(
    task="cache",
    window_id="@1",
    pane_id="%1",
    pid=None,
    dead=True,
    exit_status=0,
    exit_signal=None,
    dead_time=LAUNCH + 1,
    current_command="",
    current_path="/",
    piped=True,
    manually_stopped=False,
    restarts=0,
    started_at=LAUNCH,
    gave_up=False,
    next_restart_at=None,
    health=None,
)
# redis after `--daemonize yes`: this user's, no environment, started as the pane ran
CLEARED = Holder(4242, UID, "dev", "redis-server *:6379", "/", None, None, LAUNCH + 0.2)


def test_the_tasks_marker_is_enough() -> None:
    marked = replace(CLEARED, marker=MARKER, started=LAUNCH - 3600)
    assert launched_by(marked, MARKER, EXITED, UID)


def test_another_tasks_marker_is_not_it() -> None:
    other = replace(CLEARED, marker="app-0123456789/web")
    assert not launched_by(other, MARKER, EXITED, UID)


def test_an_unmarked_process_started_while_the_pane_ran_is_it() -> None:
    assert launched_by(CLEARED, MARKER, EXITED, UID)


@pytest.mark.parametrize(
    "holder",
    [
        replace(CLEARED, started=LAUNCH - 60),  # already there before the launch
        replace(CLEARED, started=LAUNCH + 30),  # started well after the pane exited
        replace(CLEARED, uid=UID + 1),  # another user's
        replace(CLEARED, project="blog"),  # says it is another project's
        replace(CLEARED, started=None),  # start unknown
    ],
    ids=["before", "after", "other-user", "other-project", "unknown-start"],
)
def test_other_unmarked_processes_are_not_it(holder: Holder) -> None:
    assert not launched_by(holder, MARKER, EXITED, UID)


def test_without_a_launch_time_only_the_marker_counts() -> None:
    assert not launched_by(CLEARED, MARKER, replace(EXITED, started_at=None), UID)
