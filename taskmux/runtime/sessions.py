"""Which tmux session a checkout of a project uses: the pure decision (SPEC §8).

Parallel checkouts (git worktrees, copies) of one project share its `name`. The first to
start owns the session `name`; another gets `name-XXXX`, its 4 hex characters fixed by the
checkout's config path. A session that taskmux did not create (untagged: a person's own)
is never used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SessionChoice:
    """The session to use, or why none can be (`conflict` names the session in the way)."""

    session: str
    conflict: str | None = None  # the blocking session's owner ("": not made by taskmux)


def alternate_name(name: str, checkout_id: str) -> str:
    return f"{name}-{checkout_id}"


def choose_session(
    name: str, alternate: str, owner: str, owners: Mapping[str, str]
) -> SessionChoice:
    """Decide from the sessions that exist (`owners`: session -> its `@taskmux_project`).

    Ours already (`name`, else `alternate`) wins; then a free `name`; then, when `name`
    is another project's, `alternate`. A session without a tag is a person's: a conflict.
    """
    for candidate in (name, alternate):
        if owners.get(candidate) == owner:
            return SessionChoice(candidate)
    if name not in owners:
        return SessionChoice(name)
    if owners[name] == "":
        return SessionChoice(name, conflict="")
    if alternate not in owners:
        return SessionChoice(alternate)
    return SessionChoice(alternate, conflict=owners[alternate])
