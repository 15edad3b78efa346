"""Who serves the proxy: one process per user and port, the others wait to take over.

Every process that may serve (a supervisor, `taskmux proxy`) runs a `ProxyKeeper`: a
thread with its own event loop that takes the port's lock (`proxyreg.serve_lock`,
flock) without waiting; the holder binds `127.0.0.1:PORT` and serves every registered
project; the others look again every `poll` seconds, so when the serving process ends
(the kernel frees its lock), one of them takes over. A port held by something else
(E139) is reported once and tried again at the next look. aiohttp is imported in the
thread, only once this process is to serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading

from taskmux.statedir import proxyreg
from taskmux.statedir.filelock import try_lock
from taskmux.statedir.files import ensure_private_dir

POLL = 1.0


class ProxyKeeper:
    """Serve on `port` whenever this process may; `stop()` ends it (and frees the lock)."""

    def __init__(self, port: int, poll: float = POLL) -> None:
        self.port = port
        self.poll = poll
        self.serving = threading.Event()  # set while this process serves
        self.problem: str | None = None  # why it could not bind, the last time it tried
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="taskmux-proxy", daemon=True)

    def start(self) -> ProxyKeeper:
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def _main(self) -> None:
        asyncio.run(self.run())

    async def run(self) -> None:
        """Take the lock and serve, or wait and look again, until stopped."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        ensure_private_dir(proxyreg.registry_dir(), levels=2)
        while not self._stop.is_set():
            fd = try_lock(proxyreg.serve_lock(self.port))
            if fd is not None:
                try:
                    await self._serve()
                finally:
                    self.serving.clear()
                    os.close(fd)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll)

    async def _serve(self) -> None:
        from taskmux.supervision.proxy.server import serve

        assert self._stop is not None
        try:
            await serve(self.port, self._stop, _Flag(self.serving))
            self.problem = None
        except OSError as exc:
            self.problem = (
                f"E139: cannot serve the URL proxy on 127.0.0.1:{self.port}: {exc.strerror or exc}"
            )


class _Flag(asyncio.Event):
    """An asyncio event that also sets a thread event (others wait on `serving`)."""

    def __init__(self, mirror: threading.Event) -> None:
        super().__init__()
        self._mirror = mirror

    def set(self) -> None:
        super().set()
        self._mirror.set()


def keep_proxy(configured: int) -> ProxyKeeper | None:
    """What a supervisor runs beside its loop: a keeper on the port in effect (None when
    the proxy is off). Stop it when supervision ends."""
    from taskmux.lifecycle.named_urls import proxy_port

    port = proxy_port(configured)
    return ProxyKeeper(port).start() if port else None
