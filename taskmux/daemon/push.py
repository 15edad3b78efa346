"""Event push: the connections that subscribed, each with a bounded queue and a pusher.

Everything here runs on the daemon's event loop. The event tail hands each record to
`publish`, which queues it for every subscriber whose filter it passes; a subscriber that
falls `SUBSCRIBER_QUEUE` events behind is disconnected rather than let the daemon's
memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

SUBSCRIBER_QUEUE = 1000

log = logging.getLogger("taskmux.daemon")


@dataclass
class Subscription:
    queue: asyncio.Queue[dict[str, Any]]
    task: str | None
    pusher: asyncio.Task[None] | None = None


class Subscribers:
    """Who gets events pushed, and the tasks that push them (on the loop only)."""

    def __init__(self) -> None:
        self.by_connection: dict[ServerConnection, Subscription] = {}
        self._background: set[asyncio.Task[None]] = set()

    def subscribe(self, websocket: ServerConnection, task: str | None) -> None:
        """Push events (only `task`'s, when given) to this connection from now on."""
        self.unsubscribe(websocket)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        subscription = Subscription(queue, task)
        subscription.pusher = asyncio.create_task(_push(websocket, queue))
        self.by_connection[websocket] = subscription

    def unsubscribe(self, websocket: ServerConnection) -> None:
        subscription = self.by_connection.pop(websocket, None)
        if subscription is not None and subscription.pusher is not None:
            subscription.pusher.cancel()

    def publish(self, record: dict[str, Any]) -> None:
        """Queue an event for every subscriber that wants it."""
        for websocket, subscription in list(self.by_connection.items()):
            if subscription.task is not None and record.get("task") != subscription.task:
                continue
            try:
                subscription.queue.put_nowait(record)
            except asyncio.QueueFull:
                log.warning(
                    "a subscriber fell %d events behind; disconnecting it", SUBSCRIBER_QUEUE
                )
                self.unsubscribe(websocket)
                closing = asyncio.create_task(websocket.close(1008, "too slow to read events"))
                self._background.add(closing)
                closing.add_done_callback(self._background.discard)


async def _push(websocket: ServerConnection, queue: asyncio.Queue[dict[str, Any]]) -> None:
    from websockets.exceptions import ConnectionClosed

    with contextlib.suppress(ConnectionClosed):
        while True:
            record = await queue.get()
            await websocket.send(json.dumps({"event": record}, default=str))
