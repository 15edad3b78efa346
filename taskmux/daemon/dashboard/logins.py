"""One-time login codes and the browser sessions they open, kept in the daemon's memory.

`taskmux ui` asks the daemon (over its token-guarded API) to mint a code; the browser
trades it, once and within the code's lifetime, for a session id set as a cookie. Nothing
is written to disk: a restarted daemon has forgotten every code and session, so a
stolen cookie dies with it. Pure apart from the clock, which a test can replace.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LOGIN_TTL = 60.0  # seconds a login code stays valid
MAX_CODES = 32  # live codes at once (the oldest goes first)
MAX_SESSIONS = 64  # open browser sessions at once (the oldest goes first)


def _find(secret: str, known: dict[str, float]) -> str | None:
    """The entry equal to `secret`, compared in constant time against every one."""
    found = None
    for candidate in known:
        if hmac.compare_digest(candidate.encode(), secret.encode()):
            found = candidate
    return found


@dataclass
class Logins:
    """Live login codes (code -> expiry) and open sessions (id -> opened at)."""

    ttl: float = LOGIN_TTL
    clock: Callable[[], float] = time.monotonic
    codes: dict[str, float] = field(default_factory=dict)
    sessions: dict[str, float] = field(default_factory=dict)

    def mint(self) -> str:
        """A new random login code, valid for `ttl` seconds or until used."""
        self._forget_expired()
        code = secrets.token_urlsafe(24)
        self.codes[code] = self.clock() + self.ttl
        while len(self.codes) > MAX_CODES:
            del self.codes[next(iter(self.codes))]
        return code

    def redeem(self, code: str) -> str | None:
        """A new session id for a live code, which is used up; None for any other code."""
        self._forget_expired()
        found = _find(code, self.codes) if code else None
        if found is None:
            return None
        del self.codes[found]
        session = secrets.token_urlsafe(32)
        self.sessions[session] = self.clock()
        while len(self.sessions) > MAX_SESSIONS:
            del self.sessions[next(iter(self.sessions))]
        return session

    def valid(self, session: str | None) -> bool:
        return bool(session) and _find(session or "", self.sessions) is not None

    def _forget_expired(self) -> None:
        now = self.clock()
        for code, expiry in list(self.codes.items()):
            if now >= expiry:
                del self.codes[code]
