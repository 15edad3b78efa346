"""When a scheduled one-shot runs next, and what to do when its time comes. Pure: the
clock is an argument (seconds since the epoch), so a scripted history with a fake clock
tests it; cron times are local time (croniter, from the local zone of `now`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from taskmux.config.schedules import every_seconds
from taskmux.config.schema import TaskConfig


@dataclass(frozen=True)
class Timetable:
    """A task's times: a cron expression, or a period in seconds."""

    cron: str | None = None
    every: float | None = None

    @classmethod
    def of(cls, task: TaskConfig) -> Timetable | None:
        """The task's timetable (None: not a scheduled task, or one `check` refuses)."""
        if task.schedule is not None:
            return cls(cron=task.schedule)
        if task.every is not None:
            seconds = every_seconds(task.every)
            return cls(every=seconds) if seconds else None
        return None

    def after(self, moment: float) -> float:
        """The first time strictly after `moment`."""
        if self.every is not None:
            return moment + self.every
        from croniter import croniter

        local = datetime.fromtimestamp(moment).astimezone()  # aware: DST is croniter's
        return float(croniter(self.cron or "", local).get_next(float))


class Verdict(Enum):
    WAIT = "wait"  # not yet due
    RUN = "run"  # due, and the last run is over: start it
    SKIP = "skip"  # due, but the last run still goes: `schedule_skipped`


@dataclass(frozen=True)
class Plan:
    verdict: Verdict
    next_run: float  # when to look again (after a run or a skip: the following time)
    due: float | None = None  # the time that came (RUN, SKIP)


def plan(table: Timetable, due: float | None, now: float, running: bool) -> Plan:
    """What to do at `now` for a task due at `due` (None: not planned yet, the first
    look: its first time is after `now`). Times missed while nobody supervised (or while
    the machine slept) are one run, not a burst: the next time is found from `now`."""
    if due is None:
        return Plan(Verdict.WAIT, table.after(now))
    if now < due:
        return Plan(Verdict.WAIT, due)
    following = table.after(due)
    if following <= now:  # late by more than a period: count on from now
        following = table.after(now)
    return Plan(Verdict.SKIP if running else Verdict.RUN, following, due)
