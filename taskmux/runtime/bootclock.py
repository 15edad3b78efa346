"""The boot clock: how long a task has run, whatever happened to the wall clock meanwhile.

A launch is stamped with both clocks (`@taskmux_started`, and `@taskmux_boot`, which
repeats the wall stamp beside the boot one: a window relaunched by a taskmux without the
boot stamp keeps the earlier run's, and it must not count for the new run). The wall
clock names the run and is what people read; CLOCK_BOOTTIME, one clock every process on
the machine shares, counting suspend and never stepped, measures it: a `min_uptime` or a
start period is time the task really ran, not an NTP correction or a changed date.
Standard library only: the lean read path uses it.
"""

from __future__ import annotations

import time

# Linux's; elsewhere (macOS) the monotonic clock, also one for the whole machine.
_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)


def boot_clock() -> float:
    """Seconds since boot, suspend included (where the system has such a clock)."""
    return time.monotonic() if _BOOTTIME is None else time.clock_gettime(_BOOTTIME)


def wall_minus_boot() -> float:
    """What turns a boot-clock stamp into this reader's wall-clock time, read now."""
    return time.time() - boot_clock()
