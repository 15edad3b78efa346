"""The health streak has one writer at a time across processes (a file lock), so a
`taskmux health` never writes back a streak the supervisor raised meanwhile."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from harness import Project, project, wait_until

__all__ = ["project"]


def test_a_manual_check_never_writes_the_streak_back_down(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        """
        [tasks.sick]
        command = "exec sleep 300"
        health_check = "exit 1"
        health_retries = 2
        health_interval = 60
        """
    )
    assert project.run("start").returncode == 0

    supervisor, manual = project.service().lifecycle(), project.service().lifecycle()
    state = wait_until(lambda: supervisor.observe().tasks.get("sick"))
    supervisor.checked("sick", state, count=True)  # the streak: 1 of 2
    state = supervisor.observe().tasks["sick"]
    assert state.health is not None and state.health.failures == 1

    # The manual check reads the window; the supervisor's next check then runs (as on a
    # busy machine) before the manual one writes what it read.
    late: list[threading.Thread] = []
    read = manual.observe

    def read_then_let_the_supervisor_in():  # type: ignore[no-untyped-def]
        seen = read()
        check = threading.Thread(target=supervisor.checked, args=("sick", state, True))
        check.start()
        check.join(timeout=0.5)  # held by the lock: it writes after the manual check
        late.append(check)
        return seen

    monkeypatch.setattr(manual, "observe", read_then_let_the_supervisor_in)
    # A state whose verdict differs from the stored one: the manual check has to write (one
    # that finds its result stored already writes nothing, reads nothing).
    manual.checked("sick", replace(state, health=None))
    for check in late:
        check.join(timeout=10)
    health = supervisor.observe().tasks["sick"].health
    assert health is not None and health.failures == 2 and health.unhealthy
