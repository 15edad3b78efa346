"""`wait_exits`: a sleep that the kernel ends the moment a watched process exits."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from taskmux.runtime.pidwait import wait_exits

pytestmark = pytest.mark.skipif(
    not hasattr(__import__("os"), "pidfd_open"), reason="no pidfds on this system"
)


def test_it_wakes_when_a_process_exits_long_before_the_deadline() -> None:
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    began = time.monotonic()
    try:
        ended = wait_exits([quick.pid], time.monotonic() + 60)
    finally:
        quick.wait(10)
    assert ended == {quick.pid}
    assert time.monotonic() - began < 30, "it slept towards the deadline"


def test_a_living_process_is_waited_for_until_the_deadline_only() -> None:
    living = subprocess.Popen(["sleep", "60"])
    try:
        began = time.monotonic()
        ended = wait_exits([living.pid], time.monotonic() + 0.3)
        took = time.monotonic() - began
    finally:
        living.kill()
        living.wait(10)
    assert ended == set()
    assert took >= 0.29


def test_a_process_gone_already_counts_as_ended_and_the_others_are_told_apart() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait(10)  # reaped: its pid no longer names a process
    living = subprocess.Popen(["sleep", "60"])
    try:
        ended = wait_exits([gone.pid, living.pid], time.monotonic() + 0.2)
    finally:
        living.kill()
        living.wait(10)
    assert ended == {gone.pid}


def test_with_first_it_wakes_when_any_one_ends() -> None:
    quick = subprocess.Popen(["sleep", "0.1"])
    living = subprocess.Popen(["sleep", "60"])
    try:
        began = time.monotonic()
        ended = wait_exits([quick.pid, living.pid], time.monotonic() + 30, first=True)
        took = time.monotonic() - began
    finally:
        living.kill()
        living.wait(10)
        quick.wait(10)
    assert ended == {quick.pid}
    assert took < 20


def test_a_stop_flag_wakes_it() -> None:
    from taskmux.logs.stopflag import StopFlag

    living = subprocess.Popen(["sleep", "60"])
    stop = StopFlag()
    timer = threading.Timer(0.1, stop.set)
    timer.start()
    try:
        began = time.monotonic()
        ended = wait_exits([living.pid], time.monotonic() + 30, first=True, wake=stop.fileno())
        took = time.monotonic() - began
    finally:
        timer.cancel()
        living.kill()
        living.wait(10)
    assert ended == set()
    assert took < 20
