"""The proxy's engine: aiohttp, one server and one client session on one event loop.

Why a library: HTTP/1.1 keep-alive, chunked and streamed bodies (server-sent events must
pass through unbuffered), `Upgrade` to WebSocket with its subprotocols and close codes,
and the hop-by-hop header rules are where a hand-written proxy breaks. aiohttp does each
of these on both sides (server and client), is well kept, and is loaded only here.

Each request: read the Host (`hosts.py`; anything not `*.localhost` is refused), look the
name up (`routes.py`), then pass the request on to `127.0.0.1:PORT` with its method,
path, headers (less the hop-by-hop ones) and streamed body, and stream the answer back
chunk by chunk. A WebSocket upgrade is met by opening one to the task and pumping
messages both ways until either side closes. A task that does not accept the connection
answers 503 with its state and last lines (`pages.py`); an unknown name 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import aiohttp
import yarl
from aiohttp import web

from taskmux.supervision.proxy import pages
from taskmux.supervision.proxy.hosts import read_host
from taskmux.supervision.proxy.routes import Liveness, Route, RouteTable

# RFC 9110 §7.6.1: meant for one connection only, never passed on.
HOP_BY_HOP = frozenset(
    {
        # What a client says of the path it came by is not passed on: ours replaces it
        # (a framework that trusts the first X-Forwarded-For would believe the client).
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The answer's length and encoding are the upstream's: aiohttp must not add its own.
_ANSWER_SKIP = HOP_BY_HOP | {"content-length"}


def _passed(headers: Any, skip: frozenset[str]) -> list[tuple[str, str]]:
    named = {
        token.strip().lower()
        for value in headers.getall("Connection", [])
        for token in value.split(",")
    }
    return [(k, v) for k, v in headers.items() if k.lower() not in skip and k.lower() not in named]


class Proxy:
    """The request handler and the client session it forwards with."""

    def __init__(self, table: RouteTable | None = None) -> None:
        self.table = table or RouteTable()
        self.liveness = Liveness()
        self.client: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, force_close=False)
        self.client = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # the bytes pass through as the task sent them
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        wanted = read_host(host)
        as_json = pages.wants_json(request.headers.get("Accept"))
        if not wanted.local:
            return _page(pages.refused_document(host), as_json, 421)
        route = self.table.lookup(wanted.task, wanted.session) if wanted.task else None
        if route is None and wanted.task:
            route = self.table.lookup(wanted.task, wanted.session, fresh=True)
        if route is None:
            return _page(pages.unknown_document(host, self.table.urls()), as_json, 404)
        if not await self._runs(route):
            return await self._down(request, route, as_json)
        try:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await self._websocket(request, route)
            return await self._forward(request, route)
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError):
            return await self._down(request, route, as_json)
        except aiohttp.WSServerHandshakeError as refused:  # the task said no to the upgrade
            status = refused.status if refused.status >= 400 else 502  # or speaks no WebSocket
            return web.Response(status=status, text=f"WebSocket refused: {refused.message}\n")
        except (aiohttp.ClientError, TimeoutError) as broken:  # cut mid-way, or it hung
            return _page(
                pages.broken_document(route.task, route.session, str(broken)), as_json, 502
            )

    async def _down(
        self, request: web.BaseRequest, route: Route, as_json: bool
    ) -> web.StreamResponse:
        """503 with the task's state and last exit; its last lines only for a request
        from this user's own process (the proxy's port is open to every local user)."""
        own = _from_this_user(request)
        facts = await asyncio.to_thread(pages.down_facts, route.config, route.task, own)
        document = pages.down_document(route.task, route.session, route.url, facts)
        return _page(document, as_json, 503)

    async def _runs(self, route: Route) -> bool:
        """Whether the route's task runs (read at most every second per checkout)."""
        if self.liveness.fresh(route.config):
            return route.task in self.liveness.running(route.config)
        running = await asyncio.to_thread(self.liveness.running, route.config)
        return route.task in running

    async def _forward(self, request: web.BaseRequest, route: Route) -> web.StreamResponse:
        assert self.client is not None
        headers = _passed(request.headers, HOP_BY_HOP)
        headers += _forwarded(request)
        body = request.content if request.body_exists else None
        target = yarl.URL(f"http://127.0.0.1:{route.port}{request.raw_path}", encoded=True)
        async with self.client.request(
            request.method, target, headers=headers, data=body, allow_redirects=False
        ) as upstream:
            _ack_now(upstream)
            answer = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in _passed(upstream.headers, _ANSWER_SKIP):
                answer.headers.add(key, value)
            if upstream.content_length is not None and "Content-Encoding" not in upstream.headers:
                answer.content_length = upstream.content_length
            elif upstream.content_length is not None:
                answer.headers["Content-Length"] = str(upstream.content_length)
            await answer.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await answer.write(chunk)  # as it comes: a stream is never held back
                    _ack_now(upstream)
            except (aiohttp.ClientError, TimeoutError):
                return answer  # cut off mid-answer: the client sees it cut off too
            await answer.write_eof()
            return answer

    async def _websocket(self, request: web.BaseRequest, route: Route) -> web.StreamResponse:
        assert self.client is not None
        offered = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p
        ]
        skip = HOP_BY_HOP | {
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-extensions",
            "sec-websocket-protocol",
            "host",
        }
        headers = _passed(request.headers, frozenset(skip)) + _forwarded(request)
        headers.append(("Host", request.headers.get("Host", "")))
        target = yarl.URL(f"ws://127.0.0.1:{route.port}{request.raw_path}", encoded=True)
        async with self.client.ws_connect(
            target, protocols=offered, headers=headers, autoping=True, max_msg_size=0
        ) as upstream:
            chosen = [upstream.protocol] if upstream.protocol else []
            downstream = web.WebSocketResponse(protocols=chosen, max_msg_size=0)
            await downstream.prepare(request)
            await _pump_both(downstream, upstream)
            return downstream


async def _pump_both(downstream: web.WebSocketResponse, upstream: Any) -> None:
    """Messages both ways until one side closes; the close is passed on."""

    async def pump(source: Any, sink: Any) -> None:
        async for message in source:
            if message.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
        if not sink.closed:
            code = source.close_code or aiohttp.WSCloseCode.OK
            await sink.close(code=code)

    tasks = [
        asyncio.ensure_future(pump(downstream, upstream)),
        asyncio.ensure_future(pump(upstream, downstream)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, ConnectionError):
                await task


def _forwarded(request: web.BaseRequest) -> list[tuple[str, str]]:
    peer = request.remote or "127.0.0.1"
    return [
        ("X-Forwarded-For", peer),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", request.headers.get("Host", "")),
    ]


def _page(document: dict[str, Any], as_json: bool, status: int) -> web.Response:
    body, kind = pages.render(document, as_json)
    return web.Response(text=body, content_type=kind, status=status)


async def serve(port: int, stop: asyncio.Event, started: asyncio.Event | None = None) -> None:
    """Serve on 127.0.0.1:`port` until `stop` is set (OSError when it cannot bind)."""
    proxy = Proxy()
    await proxy.open()
    server = web.Server(proxy.handle, access_log=None)
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=0.25)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        if started is not None:
            started.set()
        await stop.wait()
    finally:
        await runner.cleanup()
        await proxy.close()


def _ack_now(upstream: aiohttp.ClientResponse) -> None:
    """Acknowledge what the task sent at once instead of up to 40 ms later (Linux's
    delayed ACK). A server that writes its headers and its body in two small writes with
    Nagle on (Python's `http.server`, many frameworks' dev servers) holds the body back
    until that ACK: through a proxy reading on a kept-alive connection, every response
    would wait for it. TCP_QUICKACK set now sends the pending ACK (Linux only)."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    connection = upstream.connection
    if quickack is None or connection is None or connection.transport is None:
        return
    sock = connection.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def _from_this_user(request: web.BaseRequest) -> bool:
    """Whether the request's connection comes from a process of this user (Linux's
    /proc/net/tcp; where that cannot be told, no)."""
    from taskmux.runtime import peers

    transport = request.transport
    if transport is None:
        return False
    client, server = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
    if not client or not server:
        return False
    return peers.peer_uid(client[:2], server[:2]) == os.getuid()
