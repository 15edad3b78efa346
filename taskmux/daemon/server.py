"""`taskmux daemon`: supervision, config watching, a WebSocket API and the web dashboard
in one process.

One lifecycle, as uvicorn has it: start up (claim the project's supervisor slot, write
the token and the state file, start supervision, the config watcher, the event tail, the
API and the dashboard), wait for the stop event (set by SIGTERM/SIGINT), shut down in
reverse order.

The dashboard has a listener of its own (127.0.0.1 only), served by the same
`websockets` server as the API: its `process_request` hook answers the plain GETs of
the page's three files and its login (see `dashboard/web.py`), and the page's WebSocket
then talks the API's protocol, limited to what the page offers, with a session cookie
in place of the token. One HTTP stack, one event loop, one shutdown.

Each connection's requests run concurrently (up to `MAX_IN_FLIGHT`), each reply sent as
soon as it is ready with the request's id: a slow log search never holds up a restart.
Tasks keep running in tmux throughout; everything the supervisor must remember lives
there too, so a daemon killed with -9 is replaced without losing anything.

Every blocking call (tmux, files, health checks, stops) runs in a worker thread; the
event loop only moves messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskmux.config.project import Project
from taskmux.daemon.api import Api, Request, error_reply, ok_reply, request_id
from taskmux.daemon.dashboard import web
from taskmux.daemon.dashboard.logins import LOGIN_TTL, SESSION_TTL, Logins
from taskmux.daemon.logfile import close_log, open_log
from taskmux.daemon.push import Subscribers
from taskmux.daemon.searches import Searches
from taskmux.daemon.statefile import HOST, DaemonInfo
from taskmux.errors import NotOffered, PortBusy, SessionEnded, TaskmuxError
from taskmux.lifecycle.core import Progress
from taskmux.runtime import peers
from taskmux.service import ConfigInUse, Service
from taskmux.statedir.files import write_private
from taskmux.supervision.config_watch import ConfigWatcher, Reloader
from taskmux.supervision.supervisor import Claim, Supervisor, claim_supervision

if TYPE_CHECKING:
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request as HttpRequest
    from websockets.http11 import Response

    from taskmux.runtime.tmux_manager import Tmux

DEFAULT_PORT = 28765  # clear of common dev ports (3000, 5173, 8000, 8080, 8765, …)
DEFAULT_UI_PORT = 28766  # the dashboard's: as clear of them, and not the API's
MAX_FRAME = 1024 * 1024
EVENT_POLL = 0.1  # without inotify: an event reaches subscribers within this, plus a push
WORKER_THREADS = 32
SWITCH_INTERVAL = 0.0005  # seconds (see Daemon.run)
MAX_IN_FLIGHT = 8  # requests one connection may have running at once
SESSION_ENDED = 4001  # the close code the page reads as "log in again"

log = logging.getLogger("taskmux.daemon")


@dataclass(frozen=True)
class Settings:
    port: int = DEFAULT_PORT
    ui_port: int = DEFAULT_UI_PORT
    login_ttl: float = LOGIN_TTL
    # SIGTERM/SIGINT end the daemon; off for one run in a thread of a test's process
    # (signal handlers belong to the main thread), which ends it with `request_stop`.
    handle_signals: bool = True
    session_ttl: float = SESSION_TTL


class Daemon:
    """One project's daemon. `run()` blocks until SIGTERM/SIGINT or `request_stop()`."""

    def __init__(
        self,
        project: Project,
        settings: Settings,
        on_ready: Callable[[DaemonInfo], None] | None = None,
    ) -> None:
        self.project = project
        self.settings = settings
        self.on_ready = on_ready
        self.paths = project.paths.ensure()
        self.token = secrets.token_urlsafe(32)
        self.service = Service(ConfigInUse(project), _tmux(), _log_progress)
        self.reloader = Reloader(self.service)
        self.supervisor: Supervisor | None = None
        self.logins = Logins(
            settings.login_ttl, session_ttl=settings.session_ttl, store=self.paths.ui_sessions
        )
        self.quiet = web.QuietLog()
        self.gate = web.Gate(self.logins)
        self._peer_check = peers.checkable()
        self.searches = Searches(project.path)
        self.api = Api(
            lambda: self.service, own={"ui_login": self._ui_login}, searches=self.searches
        )
        self.subscribers = Subscribers()
        self._stop: asyncio.Event | None = None
        self._config_dirty: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        # Worker threads share one GIL: a long log search would make every tmux call of
        # a restart wait up to the switch interval (5 ms) to get it back, again and
        # again. A shorter interval keeps quick requests quick beside a slow one.
        sys.setswitchinterval(SWITCH_INTERVAL)
        asyncio.run(self.main())

    def request_stop(self) -> None:
        """Thread-safe: begin the shutdown."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._config_dirty = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            try:
                info = await self._startup(stack)
            except TaskmuxError as exc:
                log.error("could not start: %s", exc.message)  # if the log is open yet
                raise
            log.info(
                "daemon ready on %s, dashboard on %s (pid %d, config %s)",
                info.url,
                info.ui_url,
                info.pid,
                info.config,
            )
            if self.on_ready is not None:
                self.on_ready(info)
            await self._stop.wait()
            log.info("shutting down; tasks keep running in tmux")

    # Startup: each step registers its own undo, so a failed startup unwinds cleanly ----

    async def _startup(self, stack: contextlib.AsyncExitStack) -> DaemonInfo:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(
            ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="taskmux-api")
        )
        claim = claim_supervision(self.paths.supervisor_lock, "daemon", port=self.settings.port)
        stack.callback(claim.release)
        # The log only after the claim: the daemon that holds it owns (and rotates) the file.
        stack.callback(close_log, open_log(self.paths.daemon_log, self.token))
        stack.callback(log.info, "daemon stopped")  # the last line, whatever stopped it
        if claim.warning:
            log.warning("%s", claim.warning)
        if self.settings.handle_signals:
            self._handle_signals(loop, stack)
        stack.callback(self.searches.close)
        write_private(self.paths.daemon_token, self.token + "\n")
        stack.callback(self.paths.daemon_token.unlink, missing_ok=True)
        server = await self._bind(stack)
        port = int(server.sockets[0].getsockname()[1])
        if self.settings.port == 0:
            _record_port(claim, port)
        dashboard = await self._bind_dashboard(stack)
        self.gate.port = int(dashboard.sockets[0].getsockname()[1])
        self._start_supervision(stack)
        self._start_reloads(loop, stack)
        self._start_event_tail(loop, stack)
        await server.start_serving()
        stack.push_async_callback(self._close_server, server)
        await dashboard.start_serving()
        info = DaemonInfo(
            os.getpid(),
            port,
            str(self.paths.daemon_token),
            str(self.paths.daemon_log),
            str(self.project.path),
            time.time(),
            self.gate.port,
        )
        write_private(self.paths.daemon_state, json.dumps(info.to_dict()))  # last: "ready"
        stack.callback(self.paths.daemon_state.unlink, missing_ok=True)
        return info

    def _handle_signals(
        self, loop: asyncio.AbstractEventLoop, stack: contextlib.AsyncExitStack
    ) -> None:
        assert self._stop is not None
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
            stack.callback(loop.remove_signal_handler, signum)

    async def _bind(self, stack: contextlib.AsyncExitStack) -> Server:
        from websockets.asyncio.server import serve

        try:
            server = await serve(
                self._connection,
                HOST,
                self.settings.port,
                process_request=self._admit,
                max_size=MAX_FRAME,
                compression=None,
                logger=logging.getLogger("taskmux.daemon.websockets"),
                start_serving=False,
                backlog=512,
            )
        except OSError as exc:
            raise PortBusy(
                f"cannot listen on {HOST}:{self.settings.port}: {exc.strerror} "
                "(another project's daemon? choose one with --port, or --port 0)"
            ) from None
        stack.push_async_callback(self._close_server, server)
        return server

    async def _bind_dashboard(self, stack: contextlib.AsyncExitStack) -> Server:
        """The dashboard's listener: its page, its login and its WebSocket (see web.py)."""
        from websockets.asyncio.server import serve

        from taskmux.daemon.dashboard.bodies import BodyAwareConnection

        try:
            server = await serve(
                self._dashboard_connection,
                HOST,
                self.settings.ui_port,
                process_request=self._admit_dashboard,
                create_connection=BodyAwareConnection,
                max_size=MAX_FRAME,
                compression=None,
                logger=logging.getLogger("taskmux.daemon.websockets"),
                start_serving=False,
                server_header=None,
            )
        except OSError as exc:
            raise PortBusy(
                f"cannot listen on {HOST}:{self.settings.ui_port} for the dashboard: "
                f"{exc.strerror} (another project's daemon? choose one with --ui-port, "
                "or --ui-port 0)"
            ) from None
        stack.push_async_callback(self._close_server, server)
        return server

    async def _close_server(self, server: Server) -> None:
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=5)
        except TimeoutError:
            log.warning("some connections did not close in time")

    def _start_supervision(self, stack: contextlib.AsyncExitStack) -> None:
        self.supervisor = supervisor = Supervisor(self.service, notify=log.warning)
        stop = threading.Event()
        thread = threading.Thread(
            target=self._supervise,
            args=(self.supervisor, stop),
            name="taskmux-supervisor",
            daemon=True,
        )
        thread.start()

        async def stop_supervision() -> None:
            stop.set()
            supervisor.wake()
            await asyncio.to_thread(thread.join, 10)

        stack.push_async_callback(stop_supervision)

    def _supervise(self, supervisor: Supervisor, stop: threading.Event) -> None:
        try:
            supervisor.run(stop)
        except Exception:  # a daemon that no longer supervises must not look healthy
            log.exception("supervision failed; stopping the daemon")
            self.request_stop()

    def _start_reloads(
        self, loop: asyncio.AbstractEventLoop, stack: contextlib.AsyncExitStack
    ) -> None:
        assert self._config_dirty is not None
        dirty = self._config_dirty
        watcher = ConfigWatcher(self.project.path, lambda: loop.call_soon_threadsafe(dirty.set))
        watcher.start()
        stack.push_async_callback(asyncio.to_thread, watcher.stop)
        reloads = asyncio.create_task(self._reload_forever(), name="taskmux-reloads")
        stack.push_async_callback(_cancel, reloads)

    def _start_event_tail(
        self, loop: asyncio.AbstractEventLoop, stack: contextlib.AsyncExitStack
    ) -> None:
        from taskmux.logs.stopflag import StopFlag

        stop = StopFlag()  # wakes the follower at once: the shutdown waits for its end
        # Positioned at the end before startup goes on: no event after "ready" is missed.
        events = self.service.follow_events(stop=stop, poll=EVENT_POLL)

        def forward() -> None:
            for record in events:
                loop.call_soon_threadsafe(self.subscribers.publish, record)

        thread = threading.Thread(target=forward, name="taskmux-events", daemon=True)
        thread.start()

        def stop_tail() -> None:
            stop.set()
            thread.join(timeout=5)

        stack.push_async_callback(asyncio.to_thread, stop_tail)

    # Config reloads ----------------------------------------------------------------------

    async def _reload_forever(self) -> None:
        assert self._config_dirty is not None
        while True:
            await self._config_dirty.wait()
            self._config_dirty.clear()
            try:
                outcome = await asyncio.to_thread(self.reloader.reload)
            except Exception:  # a bug in a reload must not end config watching
                log.exception("config reload failed")
                continue
            for line in outcome.errors:
                log.error("%s", line)
            for line in outcome.warnings:
                log.warning("%s", line)
            log.log(logging.INFO if outcome.ok else logging.ERROR, "%s", outcome.describe())

    # The API -----------------------------------------------------------------------------

    def _admit(self, connection: ServerConnection, request: HttpRequest) -> Response | None:
        """Handshake gate: another user's process or a browser (any Origin) gets 403, a
        missing or wrong token 401.

        The user is checked first, as on the dashboard's port: a token that leaked (a
        copied file, a shell history) still opens nothing to another local user. A page
        cannot send the token (a browser sets no Authorization header on a WebSocket),
        so no origin is ever let in: browsers use the dashboard's port."""
        if not self._from_our_user(connection):
            self._refused("refused an API connection from another user's process")
            return connection.respond(
                http.HTTPStatus.FORBIDDEN, "This daemon belongs to another user\n"
            )
        origins = request.headers.get_all("Origin")
        if origins:
            self._refused("refused an API connection from a browser (an Origin header)")
            return connection.respond(
                http.HTTPStatus.FORBIDDEN, "Browsers are refused; use the dashboard\n"
            )
        if not self._has_token(request.headers.get_all("Authorization")):
            self._refused("refused an API connection without a valid token")
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Bearer token required\n")
        return None

    def _has_token(self, values: list[str]) -> bool:
        if len(values) != 1:
            return False
        scheme, _, presented = values[0].partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self.token.encode())

    def _refused(self, note: str) -> None:
        """Log a refusal, summarised (see web.QuietLog): a flood costs a line a minute."""
        line = self.quiet.note(note, time.monotonic())
        if line is not None:
            log.info("%s", line)

    async def _connection(
        self,
        websocket: ServerConnection,
        offered: frozenset[str] | None = None,
        session: str | None = None,
    ) -> None:
        """Serve one client: each request runs as it comes (up to MAX_IN_FLIGHT at once)
        and is answered when done; events are pushed alongside.

        `offered`: the only commands this connection may use (the dashboard's), if limited;
        `session`: the page's session, checked before each request (the dashboard's).
        """
        from websockets.exceptions import ConnectionClosed

        running: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        try:
            async for message in websocket:
                if session is not None:
                    refusal = self._page_refusal(message, session)
                    if refusal is not None:
                        reply, close = refusal
                        await websocket.send(json.dumps(reply))
                        if close:
                            await websocket.close(SESSION_ENDED, close)
                            break
                        continue
                await slots.acquire()
                task = asyncio.create_task(self._reply(websocket, message, offered, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        except ConnectionClosed:
            pass
        finally:
            for task in running:
                task.cancel()
            self.subscribers.unsubscribe(websocket)

    async def _reply(
        self,
        websocket: ServerConnection,
        message: str | bytes,
        offered: frozenset[str] | None,
        slots: asyncio.Semaphore,
    ) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            reply, request = await self.api.answer(message, offered)
            with contextlib.suppress(ConnectionClosed):
                await websocket.send(json.dumps(reply, default=str))
            if request is not None and reply["ok"]:
                self._after(websocket, request)
        finally:
            slots.release()

    def _page_refusal(
        self, message: str | bytes, session: str
    ) -> tuple[dict[str, Any], str | None] | None:
        """What the page's socket answers itself: (the reply, a close reason or None),
        or None to answer the request as the API does. An ended session closes the
        socket; `logout` ends it; `kill_port` is refused."""
        ident = request_id(message)
        if not self.logins.valid(session):
            ended = SessionEnded("this dashboard session has ended: run `taskmux ui` again")
            return error_reply(ident, ended), "session ended"
        try:
            data = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return None  # the API's parser gives the error reply
        if not isinstance(data, dict):
            return None
        if data.get("command") == web.LOGOUT:
            self.logins.end(session)
            log.info("dashboard logout: a browser session ended")
            return ok_reply(ident, {"logged_out": True}), "logged out"
        params = data.get("params")
        refused = web.refused_param(params) if isinstance(params, dict) else None
        if refused is not None:
            error = NotOffered(
                f"'{refused}' is not offered on the dashboard (it ends processes that are "
                "not the project's); use the CLI or the token-guarded API"
            )
            return error_reply(ident, error), None
        return None

    def _after(self, websocket: ServerConnection, request: Request) -> None:
        """Effects that follow the reply: start or end pushing events to this client."""
        if request.command == "subscribe":
            self.subscribers.subscribe(websocket, request.params.get("task"))
        elif request.command == "unsubscribe":
            self.subscribers.unsubscribe(websocket)

    # The dashboard ----------------------------------------------------------------------

    def _admit_dashboard(
        self, connection: ServerConnection, request: HttpRequest
    ) -> Response | None:
        """Every request to the dashboard's port: a plain answer, or on to the WebSocket."""
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        method = getattr(request, "method", "GET")  # websockets < 14 parses GET alone
        answer: web.Answer | None = web.OTHER_USER
        if self._from_our_user(connection):
            answer = self.gate.decide(method, request.path, request.headers)
        if answer is None:
            return None
        if answer.note:
            if answer.status >= 400:
                self._refused(answer.note)
            else:
                log.info("%s", answer.note)
        phrase = http.HTTPStatus(answer.status).phrase
        return Response(answer.status, phrase, Headers(answer.all_headers()), answer.body)

    def _from_our_user(self, connection: ServerConnection) -> bool:
        """The client's socket is our user's (see peers.py; skipped where unknowable)."""
        if not self._peer_check:
            return True
        client, server = connection.remote_address, connection.local_address
        return peers.peer_uid(client[:2], server[:2]) == os.geteuid()

    async def _dashboard_connection(self, websocket: ServerConnection) -> None:
        session = self.gate.session(websocket.request.headers) if websocket.request else None
        await self._connection(websocket, web.COMMANDS, session or "")

    def _ui_login(self, _params: dict[str, Any]) -> dict[str, Any]:
        """`ui_login` (token-guarded API only): a one-time login URL for the dashboard."""
        code = self.logins.mint()
        log.info("minted a dashboard login code (valid %gs, single use)", self.logins.ttl)
        return {
            "url": self.gate.login_url(code),
            "expires_in": self.logins.ttl,
            "ui_port": self.gate.port,
        }


def _tmux() -> Tmux:
    from taskmux.runtime.tmux_manager import Tmux

    return Tmux.from_env()


def _log_progress(progress: Progress) -> None:
    detail = f": {progress.detail}" if progress.detail else ""
    log.info("%s %s%s", progress.task, progress.phase, detail)


def _record_port(claim: Claim, port: int) -> None:
    """With --port 0, tell the supervisor record which port was picked."""
    from taskmux.statedir.claim import read_holder

    holder = read_holder(claim.info_path) or {"pid": os.getpid(), "kind": "daemon"}
    write_private(claim.info_path, json.dumps({**holder, "port": port}))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
