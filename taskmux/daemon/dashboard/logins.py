"""One-time login codes and the browser sessions they open.

`taskmux ui` asks the daemon (over its token-guarded API) to mint a code; the browser
trades it, once and within the code's lifetime, for a session id set as a cookie. Codes
live in memory only. Sessions expire (`SESSION_TTL`), can be ended (logout), and are
kept in a private (0600) file of the state folder so a restarted daemon still knows
them: a daemon restart does not log every tab out. The file holds only a hash of each
id with its expiry, so reading it gives no cookie. Pure apart from the clock (replaceable
in tests) and that one file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from taskmux.statedir.files import read_trusted, write_private

LOGIN_TTL = 60.0  # seconds a login code stays valid
SESSION_TTL = 12 * 3600.0  # seconds a browser session stays valid after its login
MAX_CODES = 32  # live codes at once (the oldest goes first)
MAX_SESSIONS = 64  # open browser sessions at once (the oldest is ended, and the log says so)


def _find(secret: str, known: dict[str, float]) -> str | None:
    """The entry equal to `secret`, compared in constant time against every one."""
    found = None
    for candidate in known:
        if hmac.compare_digest(candidate.encode(), secret.encode()):
            found = candidate
    return found


def _digest(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


@dataclass
class Logins:
    """Live login codes (code -> expiry) and sessions (hash of the id -> expiry).

    `store`: the file sessions are kept in (None: memory only). `ended_oldest` counts
    the sessions ended to make room for a new one, for the daemon's log."""

    ttl: float = LOGIN_TTL
    clock: Callable[[], float] = time.time
    session_ttl: float = SESSION_TTL
    store: Path | None = None
    codes: dict[str, float] = field(default_factory=dict)
    sessions: dict[str, float] = field(default_factory=dict)
    ended_oldest: int = 0

    def __post_init__(self) -> None:
        self.sessions.update(self._load())
        self._forget_expired()

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
        self.sessions[_digest(session)] = self.clock() + self.session_ttl
        while len(self.sessions) > MAX_SESSIONS:
            oldest = min(self.sessions, key=self.sessions.__getitem__)
            del self.sessions[oldest]
            self.ended_oldest += 1
        self._save()
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        expiry = self.sessions.get(_digest(session))
        return expiry is not None and self.clock() < expiry

    def end(self, session: str | None) -> bool:
        """Log a session out; whether it was open."""
        if not session or self.sessions.pop(_digest(session), None) is None:
            return False
        self._save()
        return True

    def expires_at(self, session: str) -> float | None:
        return self.sessions.get(_digest(session))

    def _forget_expired(self) -> None:
        now = self.clock()
        for code, expiry in list(self.codes.items()):
            if now >= expiry:
                del self.codes[code]
        stale = [key for key, expiry in self.sessions.items() if now >= expiry]
        for key in stale:
            del self.sessions[key]
        if stale:
            self._save()

    def _load(self) -> dict[str, float]:
        """The sessions a previous daemon kept (an unsafe or broken file counts as none)."""
        raw = read_trusted(self.store) if self.store is not None else None
        if raw is None:
            return {}
        try:
            data = json.loads(raw)
            return {str(k): float(v) for k, v in data.get("sessions", {}).items()}
        except (ValueError, TypeError, AttributeError):
            return {}

    def _save(self) -> None:
        if self.store is not None:
            write_private(self.store, json.dumps({"sessions": self.sessions}))
