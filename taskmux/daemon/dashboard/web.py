"""The dashboard's HTTP gate: what each request to the dashboard's port gets.

The daemon serves the dashboard on a second listener (127.0.0.1 only) with the same
`websockets` server it uses for the API; this module decides, for every request, between
a plain HTTP answer (the page's files, the login redirect, a refusal) and letting
the page's WebSocket handshake through. Pure apart from reading the shipped files once:
it neither logs nor imports `websockets`, so every rule can be tested with a dict.

The rules, in order:
- only GET (nothing on this port changes state on a request alone; actions travel as
  commands over the page's WebSocket); a request with a body gets 405 too (`bodies.py`);
- the Host must be `127.0.0.1:PORT` (a DNS-rebinding page has another host name);
- `/login?code=...` trades a live one-time code for a session cookie (HttpOnly,
  SameSite=Strict, Path=/) and redirects (303) to `/`, so the code leaves the address
  bar and history; a used, expired or unknown code is refused;
- the WebSocket (`/ws`) needs the page's own Origin exactly, as the API refuses foreign
  ones, and the session cookie;
- everything else needs the session cookie, else 401 with a line saying to run
  `taskmux ui`.

The cookie is named after the port: cookies are not isolated by port, so two projects'
dashboards on one machine would otherwise log each other out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Protocol
from urllib.parse import parse_qs

from taskmux.daemon.dashboard.logins import MAX_SESSIONS, Logins

HOST = "127.0.0.1"
SOCKET_PATH = "/ws"
LOGIN_PATH = "/login"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/pictures.js": ("pictures.js", "text/javascript; charset=utf-8"),
    "/logview.js": ("logview.js", "text/javascript; charset=utf-8"),
}
# What the page may ask over its WebSocket: look, follow, start, stop, restart, and end
# its session (`logout`, the page's own). A browser session is a weaker credential than
# the token (a cookie, sent by the browser on its own), so commands the page has no
# button for (kill, wait, health, ui_login) stay on the token-guarded API, and so does
# `kill_port` (ending a process that is not the project's).
COMMANDS = frozenset(
    {
        "status",
        "inspect",
        "logs",
        "events",
        "usage",
        "config_view",
        "start",
        "stop",
        "restart",
        "subscribe",
        "unsubscribe",
        "logout",
    }
)
LOGOUT = "logout"
REFUSED_PARAMS = ("kill_port",)
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
NOT_LOGGED_IN = (
    "taskmux dashboard: not logged in.\n"
    "Run `taskmux ui` in the project's folder: it prints a one-time login link.\n"
)
BAD_CODE = (
    "taskmux dashboard: this login link was already used or has expired "
    "(a link works once, within 60 seconds).\n"
    "Run `taskmux ui` again for a new one.\n"
)


class Headers(Protocol):
    def get_all(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class Answer:
    """A plain HTTP response, and a line for the daemon's log (never a code or cookie)."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    note: str = ""

    def all_headers(self) -> list[tuple[str, str]]:
        return [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            ("Connection", "close"),
            *SECURITY_HEADERS,
            *self.headers,
        ]


def _refusal(status: int, text: str, note: str = "") -> Answer:
    return Answer(status, text.encode(), note=note)


OTHER_USER = _refusal(
    403,
    "this dashboard belongs to another user\n",
    "refused a dashboard request from another user's process",
)


def load_files() -> dict[str, bytes]:
    """The shipped page, read once: nothing is fetched or built at run time."""
    static = resources.files("taskmux.daemon.dashboard") / "static"
    return {name: (static / name).read_bytes() for name, _ in FILES.values()}


@dataclass
class Gate:
    """Decides every request to the dashboard's port (`port` is set once it is bound)."""

    logins: Logins
    port: int = 0
    files: dict[str, bytes] = field(default_factory=load_files)

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def cookie(self) -> str:
        return f"taskmux_{self.port}"

    def login_url(self, code: str) -> str:
        return f"{self.origin}{LOGIN_PATH}?code={code}"

    def decide(self, method: str, target: str, headers: Headers) -> Answer | None:
        """The answer to one request, or None to let the WebSocket handshake go on."""
        if method != "GET":
            return _refusal(405, "only GET here: actions go over the page's WebSocket\n")
        if headers.get_all("Host") != [f"{HOST}:{self.port}"]:
            text = f"open the dashboard at {self.origin}/ (the address `taskmux ui` prints)\n"
            return _refusal(403, text, "refused a dashboard request for another host")
        path, _, query = target.partition("?")
        if path == LOGIN_PATH:
            return self._login(query)
        if path == SOCKET_PATH and headers.get_all("Origin") != [self.origin]:
            return _refusal(
                403, "Origin not allowed\n", "refused a dashboard WebSocket from another origin"
            )
        if self.session(headers) is None:
            note = "refused a dashboard request without a session"
            return _refusal(401, NOT_LOGGED_IN, note)
        if path == SOCKET_PATH:
            return None
        if path not in FILES:
            return _refusal(404, "not found\n")
        name, content_type = FILES[path]
        return Answer(200, self.files[name], content_type)

    def _login(self, query: str) -> Answer:
        codes = parse_qs(query).get("code", [])
        session = self.logins.redeem(codes[0]) if len(codes) == 1 else None
        if session is None:
            note = "refused a dashboard login: unknown, used or expired code"
            return _refusal(401, BAD_CODE, note)
        ended = self.logins.ended_oldest
        self.logins.ended_oldest = 0
        max_age = int(self.logins.session_ttl)
        cookie = f"{self.cookie}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}"
        note = "dashboard login: a new browser session"
        if ended:
            note += f" (the oldest session was ended: {MAX_SESSIONS} are kept at most)"
        return Answer(
            303,
            b"logged in: on to /\n",
            headers=(("Location", "/"), ("Set-Cookie", cookie)),
            note=note,
        )

    def session(self, headers: Headers) -> str | None:
        """The valid session the request's cookie names, if any."""
        return next((s for s in self._sessions(headers) if self.logins.valid(s)), None)

    def _sessions(self, headers: Headers) -> list[str]:
        """Every value sent under this dashboard's cookie name (a stale one may come first)."""
        found = []
        for header in headers.get_all("Cookie"):
            for pair in header.split(";"):
                name, _, value = pair.strip().partition("=")
                if name == self.cookie:
                    found.append(value)
        return found


def refused_param(params: dict[str, object]) -> str | None:
    """A param the page's socket does not take (when set), for the error reply."""
    return next((name for name in REFUSED_PARAMS if params.get(name)), None)


@dataclass
class QuietLog:
    """Refusals, summarised: the first of a kind is logged, then at most one line per
    `every` seconds saying how many more came. A local page can send requests without
    end; the daemon's log must not grow a line for each."""

    every: float = 60.0
    seen: dict[str, tuple[float, int]] = field(default_factory=dict)  # kind -> (logged at, since)

    def note(self, kind: str, now: float) -> str | None:
        """The line to log for this refusal now, or None (it is counted)."""
        logged_at, since = self.seen.get(kind, (-self.every, 0))
        if now - logged_at < self.every:
            self.seen[kind] = (logged_at, since + 1)
            return None
        self.seen[kind] = (now, 0)
        return f"{kind} (and {since} more like it since the last such line)" if since else kind
