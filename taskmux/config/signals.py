"""Signal names as the config and status speak them: `stop_signal` values and deaths."""

from __future__ import annotations

import signal


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# Job-control signals pause or resume a process instead of ending it: as the first signal
# of a stop they would leave it paused through the grace period.
_NOT_STOPPING = frozenset({"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGCONT"})


def parse_signal(name: str) -> signal.Signals:
    """A `stop_signal` value ("SIGTERM", "TERM", "sigquit") as a signal; ValueError if it
    is not one of this system's signals, or one that cannot stop a process."""
    text = name.strip().upper()
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        sig = signal.Signals[text]
    except KeyError:
        raise ValueError(f"{name!r} is not a signal on this system (e.g. SIGTERM)") from None
    if sig.name in _NOT_STOPPING:
        raise ValueError(f"{sig.name} pauses or resumes a process instead of stopping it")
    return sig
