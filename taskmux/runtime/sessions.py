"""Which tmux session a checkout of a project uses: the pure decision (SPEC §8).

Parallel checkouts (git worktrees, copies) of one project share its `name`. The first to
start owns the session `name`; another gets `name-XXXX`, its 4 hex characters fixed by the
checkout's config path. A session that taskmux did not create (untagged: a person's own)
is never used.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs the lean read path an import; mypy reads this
if TYPE_CHECKING:
    from collections.abc import Mapping


class SessionChoice:
    """The session to use, or why none can be (`conflict` names the session in the way).
    A value (a plain class: the lean read path does without dataclasses)."""

    __slots__ = ("conflict", "session")

    def __init__(self, session: str, conflict: str | None = None) -> None:
        self.session = session
        self.conflict = conflict  # the blocking session's owner ("": not made by taskmux)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SessionChoice) and (self.session, self.conflict) == (
            other.session,
            other.conflict,
        )

    def __hash__(self) -> int:
        return hash((self.session, self.conflict))

    def __repr__(self) -> str:
        return f"SessionChoice(session={self.session!r}, conflict={self.conflict!r})"


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
