"""Which tmux session a checkout of a project uses: the pure decision (SPEC §8).

Parallel checkouts (git worktrees, copies) of one project share its `name`. The first to
start owns the session `name`; another gets `name-XXXX`, its 4 hex characters fixed by the
checkout's config path. A session that taskmux did not create (untagged: a person's own)
is never used. A session is the project's by its tag (`@taskmux_project`), not its name:
one a person renamed is still found, and renamed back when its name is free.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs the lean read path an import; mypy reads this
if TYPE_CHECKING:
    from collections.abc import Mapping


class SessionChoice:
    """The session to use, or why none can be (`conflict` names the session in the way).

    `moved`: the session is ours under another name than it was given (renamed by hand);
    `rename_to` is then the name to give it back ("": that name is taken, use it as is).
    A value (a plain class: the lean read path does without dataclasses)."""

    __slots__ = ("conflict", "moved", "rename_to", "session")

    def __init__(
        self, session: str, conflict: str | None = None, moved: bool = False, rename_to: str = ""
    ) -> None:
        self.session = session
        self.conflict = conflict  # the blocking session's owner ("": not made by taskmux)
        self.moved = moved
        self.rename_to = rename_to

    def _key(self) -> tuple[object, ...]:
        return (self.session, self.conflict, self.moved, self.rename_to)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SessionChoice) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"SessionChoice(session={self.session!r}, conflict={self.conflict!r}, "
            f"moved={self.moved!r}, rename_to={self.rename_to!r})"
        )


def alternate_name(name: str, checkout_id: str) -> str:
    return f"{name}-{checkout_id}"


def choose_session(
    name: str, alternate: str, owner: str, owners: Mapping[str, str]
) -> SessionChoice:
    """Decide from the sessions that exist (`owners`: session -> its `@taskmux_project`).

    Ours already (`name`, else `alternate`) wins; then ours under any other name (a
    rename by hand: a second copy of every task must not start beside it); then a free
    `name`; then, when `name` is another project's, `alternate`. A session without a tag
    is a person's: a conflict.
    """
    for candidate in (name, alternate):
        if owners.get(candidate) == owner:
            return SessionChoice(candidate)
    fresh = _fresh_choice(name, alternate, owners)
    moved = sorted(s for s, tag in owners.items() if tag == owner)
    if moved:
        home = fresh.session if fresh.conflict is None else ""
        return SessionChoice(moved[0], moved=True, rename_to=home)
    return fresh


def _fresh_choice(name: str, alternate: str, owners: Mapping[str, str]) -> SessionChoice:
    """Where a session of this checkout would be created, none of them being ours."""
    if name not in owners:
        return SessionChoice(name)
    if owners[name] == "":
        return SessionChoice(name, conflict="")
    if alternate not in owners:
        return SessionChoice(alternate)
    return SessionChoice(alternate, conflict=owners[alternate])
