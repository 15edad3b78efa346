"""`SharedRead`: callers that ask while a read is under way share the next one; none gets a
read that began before it asked."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import wait_until

from taskmux.lifecycle.sharedread import SharedRead


class _Reader:
    """A read that counts itself; the first one blocks until released."""

    def __init__(self) -> None:
        self.count = 0
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> int:
        self.count += 1
        number = self.count
        if number == 1:
            self.first_started.set()
            assert self.release.wait(10), "never released"
        return number


class _Counted(SharedRead[int]):
    """Counts the tickets taken: a caller has asked once it took one."""

    tickets = 0
    lock = threading.Lock()

    def _ticket(self) -> int:
        with self.lock:
            self.tickets += 1
        return super()._ticket()


def test_sequential_calls_each_read_anew() -> None:
    reader = _Reader()
    reader.release.set()
    shared = SharedRead(reader)
    assert [shared(), shared(), shared()] == [1, 2, 3]  # nothing is kept for later callers


def test_callers_that_ask_during_a_read_share_the_next_one() -> None:
    reader = _Reader()
    shared = _Counted(reader)
    with ThreadPoolExecutor(max_workers=9) as pool:
        first = pool.submit(shared)
        assert reader.first_started.wait(10)
        waiting = [pool.submit(shared) for _ in range(8)]  # asked after read 1 began
        wait_until(lambda: shared.tickets == 2 + 8, timeout=10)  # read 1: asked and began
        assert not any(f.done() for f in waiting)
        reader.release.set()
        assert first.result(timeout=10) == 1
        results = [f.result(timeout=10) for f in waiting]
    assert results == [2] * 8  # one read for the eight, none of them given read 1
    assert reader.count == 2


def test_a_failed_read_is_its_callers_and_the_next_caller_reads_again() -> None:
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("tmux went away")
        return len(calls)

    shared = SharedRead(read)
    with pytest.raises(RuntimeError):
        shared()
    assert shared() == 2
