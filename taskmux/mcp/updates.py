"""`notifications/resources/updated`: the MCP resources a subscribed client should read again.

Two ways in, one watcher. A client on a 2025 protocol sends `resources/subscribe` (and
`resources/unsubscribe`) and is notified on its own session; a client on 2026-07-28
opens a `subscriptions/listen` stream naming the resources and is notified through the
SDK's subscription bus, which `Updates.bus` counts the listeners of. While anyone is
subscribed, one thread follows the event log (the follower `events -f` and the daemon's
push read through) and hands what each event touches to the event loop; a burst of
events becomes one notification per resource. When the last subscription ends (an
unsubscribe, a listen stream closed, the server shutting down) the thread is told to
stop and nothing is watched.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.lowlevel
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated, ServerEvent
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from taskmux.errors import TaskmuxError

if TYPE_CHECKING:
    from mcp.server.connection import Connection
    from mcp.server.context import ServerRequestContext
    from mcp.server.mcpserver import MCPServer

STATUS_URI = "taskmux://status"
EVENTS_URI = "taskmux://events"
LOGS_URI = "taskmux://logs/{task}"

# Events appended from now on, until the event is set (`Service.follow_events`).
Follow = Callable[[threading.Event], Iterator[dict[str, Any]]]


def touched(record: dict[str, Any]) -> set[str]:
    """The resources one event changes: status and events always (a reload or a session
    ending changes the status too); a task's log when the event is that task's."""
    uris = {STATUS_URI, EVENTS_URI}
    task = record.get("task")
    if isinstance(task, str) and task:
        uris.add(LOGS_URI.format(task=task))
    return uris


def _connection_of(ctx: ServerRequestContext[Any]) -> Connection:
    """The client's connection: the SDK builds a new `ctx.session` for every request, so
    it cannot say which subscriptions are whose; the connection it wraps can."""
    connection: Connection = ctx.session._connection
    return connection


class CountingBus(InMemorySubscriptionBus):
    """The SDK's in-process bus, telling `Updates` when listen streams come and go."""

    def __init__(self, changed: Callable[[int], None]) -> None:
        super().__init__()
        self.listeners = 0
        self._changed = changed

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        unsubscribe = super().subscribe(listener)
        self.listeners += 1
        done = False

        def once() -> None:
            nonlocal done
            if not done:
                done = True
                unsubscribe()
                self.listeners -= 1
                self._changed(-1)

        try:
            self._changed(1)
        except BaseException:
            once()  # refused: not counted
            raise
        return once


class Updates:
    """Who is subscribed to which resource, and the watcher that runs while anyone is.

    Everything but `_forward` runs on the event loop.
    """

    def __init__(self, follow: Follow) -> None:
        self.follow = follow
        self.sessions: dict[Connection, set[str]] = {}  # 2025 clients: what each wants
        self.bus = CountingBus(lambda _delta: self._demand_changed())
        self.watching: threading.Event | None = None  # the running watcher's stop, if any
        self._pending: set[str] = set()
        self._wake = anyio.Event()

    # Subscriptions -----------------------------------------------------------------------

    def install(self, server: MCPServer[Any]) -> None:
        """Serve `resources/subscribe` and `resources/unsubscribe` (2025 protocols).

        MCPServer has no public way to add these: they go on its low-level server.
        """
        lowlevel = server._lowlevel_server  # no public accessor in the SDK
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        lowlevel.add_request_handler(
            "resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe
        )

    async def _subscribe(
        self, ctx: ServerRequestContext[Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        connection = _connection_of(ctx)
        if connection not in self.sessions:  # forgotten when the client goes
            connection.exit_stack.callback(self._forget, connection)
        wanted = self.sessions.setdefault(connection, set())
        wanted.add(str(params.uri))
        try:
            self._demand_changed()
        except MCPError:
            wanted.discard(str(params.uri))
            raise
        return EmptyResult()

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        self.sessions.get(_connection_of(ctx), set()).discard(str(params.uri))
        self._demand_changed()
        return EmptyResult()

    def _forget(self, connection: Connection) -> None:
        self.sessions.pop(connection, None)
        self._demand_changed()

    @property
    def wanted(self) -> bool:
        return self.bus.listeners > 0 or any(self.sessions.values())

    # The watcher ---------------------------------------------------------------------------

    def _demand_changed(self) -> None:
        """Start the watcher for the first subscription, stop it after the last.

        The follower is opened here, before the subscription is answered, so an event
        that comes right after it is not missed.
        """
        if self.wanted and self.watching is None:
            stop = threading.Event()
            try:
                records = self.follow(stop)
            except TaskmuxError as error:
                raise MCPError(INTERNAL_ERROR, f"{error.code}: {error.message}") from error
            token = anyio.lowlevel.current_token()
            threading.Thread(
                target=self._forward, args=(records, token), name="taskmux-mcp-events", daemon=True
            ).start()
            self.watching = stop
        elif not self.wanted and self.watching is not None:
            self.watching.set()
            self.watching = None

    def _forward(self, records: Iterator[dict[str, Any]], token: Any) -> None:
        """In the watcher's thread: what each event touches, handed to the loop."""
        for record in records:
            try:
                anyio.from_thread.run_sync(self._mark, touched(record), token=token)
            except RuntimeError:  # the loop has ended: so has the server
                return

    def _mark(self, uris: set[str]) -> None:
        self._pending |= uris
        self._wake.set()

    async def _notify_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            uris, self._pending = self._pending, set()
            await self.notify(uris)

    async def notify(self, uris: set[str]) -> None:
        """Tell every subscriber of these resources that they changed."""
        if self.bus.listeners:  # each listen stream gets only the URIs it asked for
            for uri in sorted(uris):
                await self.bus.publish(ResourceUpdated(uri=uri))
        for connection, wanted in list(self.sessions.items()):
            for uri in sorted(uris & wanted):
                try:
                    await connection.send_resource_updated(uri)
                except Exception:  # noqa: BLE001 (a client that has gone: forget it)
                    self._forget(connection)
                    break

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Deliver updates while the server runs; stop watching when it ends."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._notify_forever)
            try:
                yield
            finally:
                if self.watching is not None:
                    self.watching.set()
                    self.watching = None
                self.sessions.clear()
                group.cancel_scope.cancel()
