"""Which task a Host name asks for: `TASK.SESSION.localhost[:PORT]` (pure).

Only names under `.localhost` are served (browsers and curl resolve them to the loopback
by themselves); anything else is refused, so the proxy can never be an open proxy nor be
reached through DNS rebinding.
"""

from __future__ import annotations

from dataclasses import dataclass

SUFFIX = ".localhost"


@dataclass(frozen=True)
class Wanted:
    """What a Host header names: `local` (a `.localhost` name at all), and its task and
    session when it has both (lower case: host names are case-insensitive)."""

    local: bool
    task: str = ""
    session: str = ""


def read_host(header: str | None) -> Wanted:
    """`web.shop.localhost:28780` -> task web, session shop; `example.com` -> not local."""
    if not header:
        return Wanted(False)
    name = header.strip().lower()
    if name.startswith("["):  # an IPv6 literal: never a name of ours
        return Wanted(False)
    name = name.rpartition(":")[0] if ":" in name else name
    name = name.rstrip(".")
    if not name.endswith(SUFFIX):
        return Wanted(False)
    label = name[: -len(SUFFIX)]
    task, _, session = label.partition(".")
    if not task or not session or "." in session:
        return Wanted(True)
    return Wanted(True, task, session)
