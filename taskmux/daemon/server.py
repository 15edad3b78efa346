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
import logging.handlers
import os
import secrets
import signal
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.config.project import Project
from taskmux.daemon.api import Api, Request, error_reply, ok_reply, parse_request, request_id
from taskmux.daemon.dashboard import peers, web
from taskmux.daemon.dashboard.logins import LOGIN_TTL, Logins
from taskmux.errors import DaemonNotRunning, PortBusy, TaskmuxError, UnsafeStateFolder
from taskmux.lifecycle.core import Progress
from taskmux.service import ConfigInUse, Service
from taskmux.statedir.files import (
    file_problem,
    open_private,
    open_read,
    read_trusted,
    write_private,
)
from taskmux.statedir.paths import ProjectPaths
from taskmux.supervision.config_watch import ConfigWatcher, Reloader
from taskmux.supervision.supervisor import Claim, Supervisor, claim_supervision

if TYPE_CHECKING:
    import psutil
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request as HttpRequest
    from websockets.http11 import Response

    from taskmux.runtime.tmux_manager import Tmux

HOST = "127.0.0.1"
DEFAULT_PORT = 28765  # clear of common dev ports (3000, 5173, 8000, 8080, 8765, …)
DEFAULT_UI_PORT = 28766  # the dashboard's: as clear of them, and not the API's
MAX_FRAME = 1024 * 1024
LOG_MAX_BYTES = 1024 * 1024
LOG_BACKUPS = 2
EVENT_POLL = 0.1  # without inotify: an event reaches subscribers within this, plus a push
SUBSCRIBER_QUEUE = 1000
WORKER_THREADS = 32
STOP_TIMEOUT = 10.0

log = logging.getLogger("taskmux.daemon")


@dataclass(frozen=True)
class Settings:
    port: int = DEFAULT_PORT
    allow_origins: tuple[str, ...] = ()
    ui_port: int = DEFAULT_UI_PORT
    login_ttl: float = LOGIN_TTL


@dataclass(frozen=True)
class DaemonInfo:
    """What the state file says about a running daemon: enough for a script to connect."""

    pid: int
    port: int
    token_file: str
    log_file: str
    config: str
    started: float
    ui_port: int | None = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{HOST}:{self.ui_port}/" if self.ui_port else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "ui_port": self.ui_port,
            "ui_url": self.ui_url,
            "token_file": self.token_file,
            "log_file": self.log_file,
            "config": self.config,
            "started": self.started,
        }


# Files ---------------------------------------------------------------------------------


def read_state(paths: ProjectPaths) -> DaemonInfo | None:
    """The state file's record, whether or not its daemon still runs.

    `daemon stop` signals the pid it names, so a file that is not ours alone (a symlink,
    another user's, group/other-writable) is ignored, as if absent.
    """
    raw = read_trusted(paths.daemon_state)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return DaemonInfo(
            int(data["pid"]),
            int(data["port"]),
            str(data["token_file"]),
            str(data.get("log_file", "")),
            str(data.get("config", "")),
            float(data["started"]),
            int(data["ui_port"]) if data.get("ui_port") else None,
        )
    except (ValueError, KeyError, TypeError):
        return None


def is_alive(info: DaemonInfo) -> bool:
    """The recorded pid runs, is ours, and is the same process (not a later one given the
    same pid)."""
    import psutil

    try:
        process = psutil.Process(info.pid)
        same = process.create_time() <= info.started + 1.0
        ours = process.uids().effective == os.geteuid()
        return same and ours and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def running_daemon(paths: ProjectPaths, check_token: bool = True) -> DaemonInfo:
    """The project's live daemon, or DaemonNotRunning (also for a stale state file).

    With `check_token`, a token file that is not ours alone (0600, a regular file, no
    symlink) is refused (E801): a client must not send, or trust, a token others can
    read or write. Stopping the daemon does not need the token.
    """
    info = read_state(paths)
    if info is None:
        raise DaemonNotRunning("no daemon is running for this project")
    if not is_alive(info):
        raise DaemonNotRunning(
            f"no daemon is running for this project (stale state file of pid {info.pid})"
        )
    if check_token:
        check_token_file(paths.daemon_token)
    return info


def check_token_file(path: Path) -> None:
    """Refuse (E801) a token file that is not a private (0600) regular file of ours."""
    try:
        fd = open_read(path)
    except OSError as exc:
        raise UnsafeStateFolder(
            f"the daemon's token file {path} cannot be opened safely ({exc.strerror}): "
            "stop the daemon and start it again (it writes a new token)"
        ) from None
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    problem = file_problem(info)
    if problem is None and stat.S_IMODE(info.st_mode) & 0o077:
        problem = f"is readable by others (mode {stat.S_IMODE(info.st_mode):04o})"
    if problem is not None:
        raise UnsafeStateFolder(
            f"the daemon's token file {path} {problem}: stop the daemon, remove the "
            "file and start the daemon again (it writes a new token)"
        )


def stop_daemon(paths: ProjectPaths, timeout: float = STOP_TIMEOUT) -> tuple[DaemonInfo, bool]:
    """SIGTERM the daemon, wait up to `timeout`, then SIGKILL; return (info, was forced)."""
    import psutil

    info = running_daemon(paths, check_token=False)
    try:
        process = psutil.Process(info.pid)
        process.terminate()
        if _wait_gone(process, timeout):
            return info, False
        process.kill()
        _wait_gone(process, 5.0)
    except psutil.NoSuchProcess:
        return info, False
    for leftover in (paths.daemon_state, paths.daemon_token):  # it could not clean up
        leftover.unlink(missing_ok=True)
    return info, True


def _wait_gone(process: psutil.Process, timeout: float) -> bool:
    """Whether the process ended within `timeout` (a zombie has ended: only its parent
    can reap it, and that parent need not be us)."""
    import psutil

    deadline = time.monotonic() + timeout
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


# Logging -------------------------------------------------------------------------------


class _Redact(logging.Filter):
    """Belt and braces: the token never reaches the log file, whoever logs it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "[token]"), None
        return True


class _PrivateLog(logging.handlers.RotatingFileHandler):
    """A rotating log that never opens its file through a symlink, and makes it 0600."""

    def _open(self) -> Any:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        fd = open_private(Path(self.baseFilename), flags, replace=True)
        return os.fdopen(fd, "a", encoding="utf-8")


def _open_log(path: Path, secret: str) -> logging.Handler:
    handler = _PrivateLog(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(_Redact(secret))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("taskmux.daemon.websockets").setLevel(logging.WARNING)
    return handler


def _close_log(handler: logging.Handler) -> None:
    log.removeHandler(handler)
    handler.close()


# The event tail ------------------------------------------------------------------------


# The daemon ----------------------------------------------------------------------------


@dataclass
class Subscription:
    queue: asyncio.Queue[dict[str, Any]]
    task: str | None
    pusher: asyncio.Task[None] | None = None


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
        self.logins = Logins(settings.login_ttl)
        self.gate = web.Gate(self.logins)
        self._peer_check = peers.checkable()
        self.api = Api(lambda: self.service, own={"ui_login": self._ui_login})
        self.subscribers: dict[ServerConnection, Subscription] = {}
        self._stop: asyncio.Event | None = None
        self._config_dirty: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[None]] = set()

    def run(self) -> None:
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
        stack.callback(_close_log, _open_log(self.paths.daemon_log, self.token))
        stack.callback(log.info, "daemon stopped")  # the last line, whatever stopped it
        if claim.warning:
            log.warning("%s", claim.warning)
        self._handle_signals(loop, stack)
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

        try:
            server = await serve(
                self._dashboard_connection,
                HOST,
                self.settings.ui_port,
                process_request=self._admit_dashboard,
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
        stop = threading.Event()
        # Positioned at the end before startup goes on: no event after "ready" is missed.
        events = self.service.follow_events(stop=stop, poll=EVENT_POLL)

        def forward() -> None:
            for record in events:
                loop.call_soon_threadsafe(self._publish, record)

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
        """Handshake gate: a foreign Origin gets 403, a missing or wrong token 401."""
        origins = request.headers.get_all("Origin")
        if origins and any(o not in self.settings.allow_origins for o in origins):
            log.info("refused a connection from origin %r", origins[0][:200])
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Origin not allowed\n")
        if not self._has_token(request.headers.get_all("Authorization")):
            log.info("refused a connection without a valid token")
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Bearer token required\n")
        return None

    def _has_token(self, values: list[str]) -> bool:
        if len(values) != 1:
            return False
        scheme, _, presented = values[0].partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self.token.encode())

    async def _connection(
        self, websocket: ServerConnection, offered: frozenset[str] | None = None
    ) -> None:
        """Serve one client: requests are answered in order; events are pushed alongside.

        `offered`: the only commands this connection may use (the dashboard's), if limited.
        """
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in websocket:
                reply, request = await self._answer(websocket, message, offered)
                await websocket.send(json.dumps(reply, default=str))
                if request is not None and reply["ok"]:
                    self._after(websocket, request)
        except ConnectionClosed:
            pass
        finally:
            self._unsubscribe(websocket)

    async def _answer(
        self, websocket: ServerConnection, message: str | bytes, offered: frozenset[str] | None
    ) -> tuple[dict[str, Any], Request | None]:
        try:
            request = parse_request(message, offered)
        except TaskmuxError as exc:
            return error_reply(request_id(message), exc), None
        try:
            result = await self.api.call(request)
        except TaskmuxError as exc:
            return error_reply(request.id, exc), request
        except Exception as exc:  # a bug must cost one reply, not the connection or the daemon
            log.exception("command %s failed", request.command)
            internal = TaskmuxError(f"internal error: {type(exc).__name__}: {exc}", code="E000")
            return error_reply(request.id, internal), request
        if request.command in {"subscribe", "unsubscribe"}:
            result = {"subscribed": request.command == "subscribe", **request.params}
        return ok_reply(request.id, result), request

    def _after(self, websocket: ServerConnection, request: Request) -> None:
        """Effects that follow the reply: start or end pushing events to this client."""
        if request.command == "subscribe":
            self._unsubscribe(websocket)
            queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
            subscription = Subscription(queue, request.params.get("task"))
            subscription.pusher = asyncio.create_task(self._push(websocket, queue))
            self.subscribers[websocket] = subscription
        elif request.command == "unsubscribe":
            self._unsubscribe(websocket)

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
        await self._connection(websocket, web.COMMANDS)

    def _ui_login(self, _params: dict[str, Any]) -> dict[str, Any]:
        """`ui_login` (token-guarded API only): a one-time login URL for the dashboard."""
        code = self.logins.mint()
        log.info("minted a dashboard login code (valid %gs, single use)", self.logins.ttl)
        return {
            "url": self.gate.login_url(code),
            "expires_in": self.logins.ttl,
            "ui_port": self.gate.port,
        }

    def _unsubscribe(self, websocket: ServerConnection) -> None:
        subscription = self.subscribers.pop(websocket, None)
        if subscription is not None and subscription.pusher is not None:
            subscription.pusher.cancel()

    async def _push(
        self, websocket: ServerConnection, queue: asyncio.Queue[dict[str, Any]]
    ) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            while True:
                record = await queue.get()
                await websocket.send(json.dumps({"event": record}, default=str))

    def _publish(self, record: dict[str, Any]) -> None:
        """On the loop: queue an event for every subscriber that wants it."""
        for websocket, subscription in list(self.subscribers.items()):
            if subscription.task is not None and record.get("task") != subscription.task:
                continue
            try:
                subscription.queue.put_nowait(record)
            except asyncio.QueueFull:
                log.warning(
                    "a subscriber fell %d events behind; disconnecting it", SUBSCRIBER_QUEUE
                )
                self._unsubscribe(websocket)
                closing = asyncio.create_task(websocket.close(1008, "too slow to read events"))
                self._background.add(closing)
                closing.add_done_callback(self._background.discard)


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
