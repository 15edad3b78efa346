"""What a finished supervisor health check means for the loop (pure): the event it is
worth, and whether the loop must look at tmux again at once or can take it in on its
next tick."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskmux.runtime.state import health_change, same_run

if TYPE_CHECKING:
    from taskmux.runtime.state import Health


def is_quiet(before: Health | None, after: Health | None) -> bool:
    """A pass that follows a pass of the same run, no failure counted on either: nothing
    the loop decides (events, restarts, the status line's tag) can differ, so the check
    need not wake it; the tick at the next check's due time takes the result in."""
    return (
        before is not None
        and after is not None
        and before.healthy
        and after.healthy
        and before.failures == 0
        and after.failures == 0
        and same_run(before.run, after.run)
    )


def health_event(
    before: Health | None, after: Health | None, reason: str, output: str
) -> tuple[str, dict[str, object]] | None:
    """The event a check is worth (name, fields; `reason` and `output` are the check's):
    when the failure streak reaches `health_retries`, and when it ends after that; single
    failures of a task still coming up are only counted on its window."""
    if after is None:
        return None
    change = health_change(before, after)
    if change == "health_failed":
        return change, {"failures": after.failures, "reason": reason, "output": output[-500:]}
    if change == "health_recovered":
        return change, {}
    return None
