"""The MCP resources and their update notifications (mcp/resources.py, mcp/updates.py)
against a fake service whose event log the test writes: no tmux, no subprocess. The
same against real tmux is test_mcp.py's."""

from __future__ import annotations

import json
import queue
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fake_service import FakeService
from mcp_client import EVENTS_URI, STATUS_URI, with_service

from taskmux.errors import TaskNotFound
from taskmux.logs.digest import DigestPage, Line, digest
from taskmux.runtime.timing import wait_until
from taskmux.service.results import EventsResult, StatusResult

pytestmark = pytest.mark.xdist_group("mcp")  # one worker pays for importing the SDK

LOGS_WEB = "taskmux://logs/web"


class Followed(FakeService):
    """A fake service with an event log: `append` is seen by every follower opened."""

    def __init__(self, **answers: Any) -> None:
        super().__init__(answers=answers)
        self.followers: list[tuple[threading.Event, queue.Queue[dict[str, Any]]]] = []

    def follow_events(self, stop: threading.Event, **_: Any) -> Iterator[dict[str, Any]]:
        records: queue.Queue[dict[str, Any]] = queue.Queue()
        self.followers.append((stop, records))

        def follow() -> Iterator[dict[str, Any]]:
            while not stop.is_set():
                try:
                    yield records.get(timeout=0.01)
                except queue.Empty:
                    continue

        return follow()

    def append(self, **record: Any) -> None:
        for _stop, records in self.followers:
            records.put(record)

    @property
    def watching(self) -> bool:
        return any(not stop.is_set() for stop, _ in self.followers)


async def _stops_watching(service: Followed) -> bool:
    return bool(await anyio.to_thread.run_sync(wait_until, lambda: not service.watching, 5))


def test_touched_resources() -> None:
    from taskmux.mcp import updates

    assert (updates.STATUS_URI, updates.EVENTS_URI) == (STATUS_URI, EVENTS_URI)  # as spelt
    assert updates.touched({"event": "stopped", "task": "web"}) == {
        STATUS_URI,
        EVENTS_URI,
        LOGS_WEB,
    }
    assert updates.touched({"event": "reloaded"}) == {STATUS_URI, EVENTS_URI}
    assert updates.touched({"event": "odd", "task": None}) == {STATUS_URI, EVENTS_URI}


def test_each_resource_is_its_tools_call() -> None:
    from mcp_types import TextResourceContents

    from taskmux.mcp.resources import RESOURCE_EVENTS

    lines = [Line("web", "", "booting"), Line("web", "", "booting")]
    page = DigestPage(digest(lines, 300), "CURSOR")
    service = Followed(status=StatusResult("p", True, ()), events=EventsResult(()), logs=page)
    read: dict[str, Any] = {}

    async def main() -> None:
        async with with_service(service) as client:
            for uri in (STATUS_URI, EVENTS_URI, LOGS_WEB):
                contents = (await client.read_resource(uri)).contents[0]
                assert isinstance(contents, TextResourceContents)
                assert contents.mime_type == "application/json"
                read[uri] = json.loads(contents.text)

    anyio.run(main)
    calls = [(call.name, call.params) for call in service.calls]
    assert calls == [
        ("status", {}),
        ("events", {"lines": RESOURCE_EVENTS}),
        ("logs", {"task": "web", "digest": True}),  # the digest, as the logs tool gives
    ]
    assert read[STATUS_URI]["tasks"] == [] and read[EVENTS_URI] == {"events": []}
    assert read[LOGS_WEB]["digest"][-1] == "booting  [x2]" and read[LOGS_WEB]["task"] == "web"


def test_a_taskmux_error_is_an_mcp_error_with_its_code() -> None:
    from mcp.shared.exceptions import MCPError
    from mcp_types import INVALID_PARAMS

    service = Followed(logs=TaskNotFound("task 'nope' not found in taskmux.toml"))

    async def main() -> None:
        async with with_service(service) as client:
            with pytest.raises(MCPError) as raised:
                await client.read_resource("taskmux://logs/nope")
            assert raised.value.error.code == INVALID_PARAMS
            assert raised.value.error.message == "E201: task 'nope' not found in taskmux.toml"

    anyio.run(main)


def test_a_listen_stream_gets_only_its_resources_and_the_watch_ends_with_it() -> None:
    from mcp.client.subscriptions import ResourceUpdated

    service = Followed()
    got: list[str] = []

    async def main() -> None:
        async with with_service(service) as client:
            assert not service.followers  # nobody subscribed: nothing followed
            async with client.listen(resource_subscriptions=[LOGS_WEB]) as sub:
                assert service.watching
                service.append(event="stopped", task="worker")  # not this stream's log
                service.append(event="stopped", task="web")
                with anyio.fail_after(5):
                    event = await sub.__anext__()
                assert isinstance(event, ResourceUpdated)
                got.append(event.uri)
            assert await _stops_watching(service)

    anyio.run(main)
    assert got == [LOGS_WEB]
    assert len(service.followers) == 1


def test_resources_subscribe_on_a_2025_session_and_unsubscribe_ends_the_watch() -> None:
    from mcp.shared.exceptions import MCPDeprecationWarning
    from mcp_types import ResourceUpdatedNotification

    service = Followed()
    updated: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updated.append(message.params.uri)
            arrived.set()

    async def main() -> None:
        async with with_service(service, mode="legacy", message_handler=on_message) as client:
            with warnings.catch_warnings():  # deprecated on 2026-07-28, the 2025 way
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.subscribe_resource(STATUS_URI)
                assert service.watching
                service.append(event="stopped", task="web")
                service.append(event="started", task="web")  # one burst, one notification
                with anyio.fail_after(5):
                    await arrived.wait()
                await client.unsubscribe_resource(STATUS_URI)
            assert await _stops_watching(service)

    anyio.run(main)
    assert updated[0] == STATUS_URI and set(updated) == {STATUS_URI}


def test_a_2025_client_that_leaves_without_unsubscribing_ends_the_watch() -> None:
    from mcp.shared.exceptions import MCPDeprecationWarning

    service = Followed()

    async def main() -> None:
        async with with_service(service, mode="legacy") as client:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.subscribe_resource(EVENTS_URI)
                await client.subscribe_resource(LOGS_WEB)
            assert service.watching
        assert await _stops_watching(service)

    anyio.run(main)
    assert len(service.followers) == 1  # one watcher, however many subscriptions
