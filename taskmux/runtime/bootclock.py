"""The boot clock: how long a task has run, whatever happened to the wall clock meanwhile.

A launch is stamped with both clocks (`@taskmux_started`, `@taskmux_boot`). The wall
clock names the run and is what people read; CLOCK_BOOTTIME, one clock every process on
the machine shares, counting suspend and never stepped, measures it: a `min_uptime` or a
start period is time the task really ran, not an NTP correction or a changed date.
Standard library only: the lean read path uses it.
"""

from __future__ import annotations

import time


def boot_clock() -> float:
    """Seconds since boot, suspend included."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def wall_minus_boot() -> float:
    """What turns a boot-clock stamp into this reader's wall-clock time, read now."""
    return time.time() - boot_clock()
