"""Who may act on a held task, and what a claim becomes: the pure side of holders.

A holder (`--holder NAME`, or `TASKMUX_HOLDER`) is an agent or person that claims the
tasks it starts, restarts or ensures, so another does not stop them under it. The claim
lives on the task's window (`@taskmux_holder`, `@taskmux_held_since`,
`@taskmux_held_until`: every process reads the same truth) and lapses `hold_ttl`
seconds after its holder's last `start`/`ensure`. Time is an argument here; the I/O is
`holders.py`. Standard library only, without dataclasses: the lean `ensure` path renews
claims with these rules too.
"""

from __future__ import annotations

MAX_NAME = 64  # characters of a holder's name
# No space, quote or `;`: a name goes into a tmux command list and an E307 hint as it is.
_NAME_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:@/+"
)


def name_problem(holder: str) -> str | None:
    """Why `holder` cannot name a holder (None when it can)."""
    if not holder.strip():
        return "a holder's name cannot be empty"
    if len(holder) > MAX_NAME:
        return f"a holder's name is at most {MAX_NAME} characters"
    if not set(holder) <= _NAME_CHARACTERS:
        return "a holder's name is letters, digits and . _ - : @ / + only"
    return None


def blocker(current: str | None, caller: str | None, force: bool) -> str | None:
    """The other holder whose live claim (`current`) keeps `caller` from stopping,
    restarting or killing a task; None when it may (no claim, its own, or `force`)."""
    if current is None or force or current == caller:
        return None
    return current


def claims(current: str | None, caller: str | None, force: bool) -> bool:
    """Whether `caller`'s claim is recorded on a task it started, restarted or kept: not
    over another's live claim, unless forced. No holder given: nothing is recorded."""
    return caller is not None and (current is None or current == caller or force)


def claim_marks(
    current: str | None, held_since: float | None, caller: str, now: float, ttl: float
) -> dict[str, str]:
    """The window marks of `caller`'s claim from `now`: a renewal keeps its start."""
    since = held_since if current == caller and held_since is not None else now
    return {"holder": caller, "held_since": f"{since:.3f}", "held_until": f"{now + ttl:.3f}"}


def refusal(operation: str, blocked: dict[str, tuple[str, float]], now: float) -> str:
    """The E307 line: each task held by another (task -> (holder, held_until)) and what
    to do instead."""
    held = "; ".join(
        f"task '{task}' is held by '{holder}' (the claim lapses in {max(0, until - now):.0f} s)"
        for task, (holder, until) in blocked.items()
    )
    holders = sorted({holder for holder, _ in blocked.values()})
    as_holder = f"--holder {holders[0]}" if len(holders) == 1 else "--holder NAME"
    return (
        f"{operation}: {held}; {operation} as that holder ({as_holder}), once the claim "
        "lapses, or with --force"
    )
