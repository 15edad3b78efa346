"""Which tmux is new enough: taskmux needs 3.2 (`list-panes -f`, `display -p` formats).

No imports at all (not even `re`): the lean status path reads it too.
"""

from __future__ import annotations

MINIMUM = (3, 2)


def too_old(reported: str) -> str | None:
    """`tmux -V`'s answer ("tmux 3.3a", "tmux next-3.6", "tmux master"): the version
    found when it is older than `MINIMUM`, else None (a build without a number is a
    development one, newer than any release)."""
    number = _first_number(reported)
    if number is None or number >= MINIMUM:
        return None
    return reported.strip().removeprefix("tmux ").strip() or reported.strip()


def refusal(version: str, binary: str) -> str:
    """The one line that says so."""
    need = ".".join(map(str, MINIMUM))
    return f"tmux {version} ({binary}) is too old: taskmux needs tmux {need} or newer"


def _first_number(text: str) -> tuple[int, int] | None:
    """The first `MAJOR.MINOR` in `text` (a letter after it, "3.3a", is a patch)."""
    for start, char in enumerate(text):
        if not char.isdigit() or (start and text[start - 1].isdigit()):
            continue
        major, _, rest = text[start:].partition(".")
        if not major.isdigit():
            continue
        minor = ""
        for digit in rest:
            if not digit.isdigit():
                break
            minor += digit
        if minor:
            return int(major), int(minor)
    return None
