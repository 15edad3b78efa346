"""Event push (push.py) on a real event loop with stand-in connections: each subscriber
gets the events its filter passes, in order; one that falls behind is disconnected."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from taskmux.daemon.push import SUBSCRIBER_QUEUE, Subscribers


class FakeConnection:
    """Records what is sent; `stuck` never finishes a send (a client that stopped reading)."""

    def __init__(self, stuck: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.stuck = stuck

    async def send(self, text: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_each_subscriber_gets_what_its_filter_passes_in_order() -> None:
    async def main() -> tuple[FakeConnection, FakeConnection]:
        subscribers = Subscribers()
        everything, web_only = FakeConnection(), FakeConnection()
        subscribers.subscribe(everything, None)
        subscribers.subscribe(web_only, "web")
        for n, task in enumerate(["web", "worker", "web"]):
            subscribers.publish({"event": "started", "task": task, "n": n})
        await _settle()
        subscribers.unsubscribe(web_only)
        subscribers.publish({"event": "stopped", "task": "web", "n": 3})
        await _settle()
        subscribers.unsubscribe(everything)
        return everything, web_only

    everything, web_only = asyncio.run(main())
    assert [m["event"]["n"] for m in everything.sent] == [0, 1, 2, 3]
    assert [m["event"]["n"] for m in web_only.sent] == [0, 2]


def test_subscribing_again_replaces_the_filter() -> None:
    async def main() -> FakeConnection:
        subscribers = Subscribers()
        connection = FakeConnection()
        subscribers.subscribe(connection, "web")
        subscribers.subscribe(connection, "worker")
        subscribers.publish({"task": "web"})
        subscribers.publish({"task": "worker"})
        await _settle()
        assert len(subscribers.by_connection) == 1
        subscribers.unsubscribe(connection)
        return connection

    assert asyncio.run(main()).sent == [{"event": {"task": "worker"}}]


def test_a_subscriber_that_falls_behind_is_disconnected() -> None:
    async def main() -> tuple[FakeConnection, FakeConnection, Subscribers]:
        subscribers = Subscribers()
        stuck, reading = FakeConnection(stuck=True), FakeConnection()
        subscribers.subscribe(stuck, None)
        subscribers.subscribe(reading, None)
        for n in range(SUBSCRIBER_QUEUE + 2):
            subscribers.publish({"task": "web", "n": n})
            if n % 100 == 0:
                await _settle()
        await _settle()
        return stuck, reading, subscribers

    stuck, reading, subscribers = asyncio.run(main())
    assert stuck.closed == (1008, "too slow to read events")
    assert list(subscribers.by_connection) == [reading]
    assert len(reading.sent) == SUBSCRIBER_QUEUE + 2
