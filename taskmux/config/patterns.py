"""Whether a `watch` or `watch_ignore` pattern can be used: checked when the config loads."""

from __future__ import annotations


def pattern_problem(pattern: str, anchored_slash: bool = False) -> str | None:
    """Why a `watch` (or, with `anchored_slash`, a `watch_ignore`) pattern cannot be used."""
    if not pattern.strip():
        return "holds a blank pattern"
    if pattern.startswith("/") and not anchored_slash:
        return f"pattern {pattern!r} is absolute; patterns are relative to the task's cwd"
    if "\x00" in pattern:
        return f"pattern {pattern!r} holds a NUL byte"
    return None
