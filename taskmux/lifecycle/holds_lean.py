"""A holder's claims renewed on the lean `ensure` path (every task kept).

`ensure --holder NAME` (or `TASKMUX_HOLDER`) that keeps everything still claims or
renews the kept tasks, as the service path does (`holders.claim`), in one more tmux
client call: the answer stays at about the cost of `status --json`. Standard library
only, as `readmodel.py`.
"""

from __future__ import annotations

from taskmux.lifecycle import holdrules
from taskmux.lifecycle.readmodel import LeanRead, NotHere, tmux_lines


def renew(lean: LeanRead, names: list[str], holder: str, ttl: float) -> None:
    """Write `holder`'s claim on each kept task that no other holder holds."""
    if holdrules.name_problem(holder) is not None:
        raise NotHere  # the service path refuses it (E100)
    commands: list[str] = []
    for name in names:
        pane = lean.panes[name]
        current = pane.live_holder(lean.now)
        if not holdrules.claims(current, holder, False):
            continue
        marks = holdrules.claim_marks(current, pane.held_since, holder, lean.now, ttl)
        for mark, value in marks.items():
            commands += [";", "set-option", "-w", "-t", pane.window_id, f"@taskmux_{mark}", value]
    if commands:
        tmux_lines(commands[1:])
