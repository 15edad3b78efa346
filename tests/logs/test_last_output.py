"""A failed start's last output: reported as soon as the log holds all the dead run
printed, not after the whole `log_wait` (which stays the bound for a run whose end is
not known)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from harness import Project, project

from taskmux.runtime import timing
from taskmux.runtime.timing import Timing

__all__ = ["project"]

PATIENT = 30.0  # a log_wait no start below may wait out


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch, project: Project) -> Project:
    """The project, with a `log_wait` far longer than any of these starts may take."""
    monkeypatch.setattr(timing, "DEFAULT", replace(Timing.fast(), log_wait=PATIENT))
    return project


def test_a_silent_task_that_dies_at_once_fails_its_start_without_waiting(
    patient: Project,
) -> None:
    patient.write(
        """
        [tasks.quiet]
        command = "exit 3"
        [tasks.crash]
        command = "kill -USR1 $$"
        """
    )
    began = time.monotonic()
    data = patient.json("start")
    took = time.monotonic() - began
    assert data["ok"] is False and data["error"]["code"] == "E402", data
    assert data["died"]["quiet"]["exit_code"] == 3 and data["died"]["quiet"]["logs"] == []
    assert data["died"]["crash"]["signal"] == "SIGUSR1" and data["died"]["crash"]["logs"] == []
    assert took < PATIENT / 3, f"the start waited {took:.1f} s for output never printed"


def test_the_last_lines_are_all_there_when_the_wait_ends_early(patient: Project) -> None:
    patient.write(
        """
        [tasks.migrate]
        command = "seq 1 200; printf 'no newline at the end'; exit 4"
        """
    )
    began = time.monotonic()
    data = patient.json("start")
    took = time.monotonic() - began
    died = data["died"]["migrate"]
    assert died["exit_code"] == 4, data
    assert died["logs"] == ["197", "198", "199", "200", "no newline at the end"]
    assert took < PATIENT / 3
