"""The supervisor's sleep: pidfds of real processes and pokes over the wake socket."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from taskmux.runtime.wakeup import Listener, poke
from taskmux.supervision.exitwatch import ExitWatch

pytestmark = pytest.mark.skipif(not ExitWatch().available, reason="no pidfd_open here")


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "30"])


def test_a_watched_process_that_ends_wakes_the_wait_at_once() -> None:
    watch = ExitWatch()
    proc = _sleeper()
    try:
        watch.follow({proc.pid})
        assert not watch.wait(0.05)  # alive: the wait runs out
        threading.Timer(0.1, proc.kill).start()
        began = time.monotonic()
        woken = watch.wait(5.0)
        assert woken.ended == {proc.pid}
        assert time.monotonic() - began < 1.0
        assert watch.pidfds == {}  # an ended process is not watched again
    finally:
        proc.kill()
        proc.wait()
        watch.close()


def test_a_pid_already_gone_is_reported_by_the_next_wait() -> None:
    proc = _sleeper()
    proc.kill()
    proc.wait()
    watch = ExitWatch()
    try:
        watch.follow({proc.pid})
        assert watch.wait(5.0).ended == {proc.pid}
        watch.follow({proc.pid})  # still listed (tmux had not noticed yet): said once only
        assert not watch.wait(0.05)
    finally:
        watch.close()


def test_follow_drops_pids_no_longer_wanted() -> None:
    watch = ExitWatch()
    proc = _sleeper()
    try:
        watch.follow({proc.pid})
        watch.follow(set())
        proc.kill()
        proc.wait()
        assert not watch.wait(0.1)  # not watched any more: nothing to report
    finally:
        watch.close()


def test_wake_from_another_thread_ends_the_wait() -> None:
    watch = ExitWatch()
    try:
        threading.Timer(0.05, watch.wake).start()
        began = time.monotonic()
        assert watch.wait(5.0).woken
        assert time.monotonic() - began < 1.0
        assert not watch.wait(0.01)  # the wake was consumed
    finally:
        watch.close()


def test_a_poke_to_the_state_folder_reaches_its_listener(tmp_path: Path) -> None:
    listener = Listener.bind(tmp_path)
    assert listener is not None
    assert Listener.bind(tmp_path) is None  # one listener per state folder
    watch = ExitWatch(listener)
    try:
        assert poke(tmp_path)
        assert watch.wait(5.0).poked
        assert not poke(tmp_path / "other")  # nobody listens there: dropped at once
    finally:
        watch.close()
    assert not poke(tmp_path)  # closed: the name is free again
