"""Secret redaction: which variables hold secrets, and their values taken out of output.

A variable is a secret when its name looks like one (`KEY`, `SECRET`, `TOKEN`,
`PASSWORD`, `PASSWD`, `CREDENTIAL`, `PRIVATE`, ending in `_DSN`, or ending in `_URL`
with a password in it) or is listed in `secrets = [...]`; values shorter than
`MIN_LENGTH` are left alone (too common to hide without hiding ordinary text). For a URL
both the whole value and its password are hidden, so a task that prints only the
password is covered too. Every shown line is rewritten with `[redacted:NAME]`; the log
files on disk keep what the task printed. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol, TypeVar
from urllib.parse import unquote


class Shown(Protocol):
    """A line as read (`lines.LogLine`): its task, and the text and bytes shown of it."""

    task: str
    text: str
    raw: bytes


class Source(Protocol):
    """A task's log as read (`lines.TaskLog`), with the Redactor for its task."""

    task: str
    redactor: Redactor | None


_Shown = TypeVar("_Shown", bound=Shown)
_Line = TypeVar("_Line", bound="Shown | None")  # a line, or grep's None between groups

MIN_LENGTH = 6
_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE")
# scheme://user:password@host… (the password is everything between the first `:` after
# the scheme's `//` and the last `@` before the path).
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:([^/?#]*)@")


def url_password(value: str) -> str | None:
    """The password of a URL (`scheme://user:password@host/...`), or None."""
    match = _URL_PASSWORD.match(value)
    return match.group(1) if match and match.group(1) else None


def looks_secret(name: str, value: str) -> bool:
    """Whether the variable's name says it holds a secret (a `_URL` only with a password)."""
    upper = name.upper()
    if any(word in upper for word in _WORDS) or upper.endswith("_DSN"):
        return True
    return upper.endswith("_URL") and url_password(value) is not None


def secret_values(env: Mapping[str, str], listed: Iterable[str] = ()) -> dict[str, str]:
    """{value: NAME} of every text to hide: the values of the secret variables (and of
    the listed names), and the passwords in their URLs, each at least MIN_LENGTH long."""
    named = set(listed)
    found: dict[str, str] = {}
    for name, value in env.items():
        if name not in named and not looks_secret(name, value):
            continue
        password = url_password(value)
        for text in (value, password, unquote(password) if password else None):
            if text is not None and len(text) >= MIN_LENGTH:
                found.setdefault(text, name)
    return found


class Redactor:
    """Replaces every secret value in a text (str or the raw bytes) by `[redacted:NAME]`.

    One compiled alternation, longest values first, so a value that contains another is
    hidden whole; an empty Redactor is falsy and changes nothing.
    """

    __slots__ = ("_bytes", "_names", "_raw_names", "_text")

    def __init__(self, secrets: Mapping[str, str]) -> None:
        ordered = sorted(secrets, key=len, reverse=True)
        self._names = dict(secrets)
        self._raw_names = {value.encode(): name.encode() for value, name in secrets.items()}
        self._text = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        raw = [re.escape(value.encode()) for value in ordered]
        self._bytes = re.compile(b"|".join(raw)) if ordered else None

    def __bool__(self) -> bool:
        return self._text is not None

    def text(self, text: str) -> str:
        if self._text is None:
            return text
        return self._text.sub(lambda m: f"[redacted:{self._names[m.group()]}]", text)

    def raw(self, raw: bytes) -> bytes:
        if self._bytes is None:
            return raw
        return self._bytes.sub(lambda m: b"[redacted:%s]" % self._raw_names[m.group()], raw)

    def line(self, line: _Shown) -> _Shown:
        """The line with its text and raw bytes redacted (in place: it keeps its place)."""
        if self._text is not None:
            line.text = self.text(line.text)
            line.raw = self.raw(line.raw)
        return line


def redact_lines(lines: Iterable[_Line], logs: Iterable[Source]) -> Iterator[_Line]:
    """The lines (and grep's None separators), each redacted with its task's Redactor."""
    by_task = {log.task: log.redactor for log in logs if log.redactor}
    if not by_task:
        yield from lines
        return
    for line in lines:
        if line is not None and (redactor := by_task.get(line.task)) is not None:
            redactor.line(line)
        yield line
