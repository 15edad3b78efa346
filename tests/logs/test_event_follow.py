"""The event log's follower ends as soon as its `StopFlag` is set, however long it sleeps."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from taskmux.logs import events
from taskmux.logs.events import EventLog
from taskmux.logs.stopflag import StopFlag


def test_a_stop_flag_wakes_a_follower_asleep_on_inotify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "IDLE_LOOK", 60.0)  # a follower that is not woken sleeps on
    log = EventLog(tmp_path / "events.jsonl")
    log.append("started", "api")
    stop = StopFlag()
    seen: list[dict[str, Any]] = []
    first = threading.Event()

    records = log.follow(poll=60.0, stop=stop)  # positioned now, before the append

    def follow() -> None:
        for record in records:
            seen.append(record)
            first.set()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        log.append("exited", "api", exit_code=1)
        assert first.wait(10), "the appended event was not followed"
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive(), "the follower slept through its stop flag"
    assert [(r["event"], r["task"]) for r in seen] == [("exited", "api")]


def test_setting_a_stop_flag_twice_is_harmless_and_it_reads_as_an_event() -> None:
    stop = StopFlag()
    assert not stop.is_set() and not stop.wait(0)
    stop.set()
    stop.set()
    assert stop.is_set() and stop.wait(0)
