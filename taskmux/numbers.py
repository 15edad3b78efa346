"""Numbers from tmux's text answers (an empty or odd field is None, never an error).

Standard library only and nothing else: the lean `status --json` path reads with it too.
"""

from __future__ import annotations


def as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
