"""Keeping every pane's log pipe attached (issue 23, items 1 and 3).

A pane's output reaches its log through tmux's `pipe-pane` into an appending `cat`
(`logs/spool.py`). Two things end that for good unless someone acts: the `cat` dies (a
full disk: tmux then shows `pane_pipe` 0 and never restarts it), or the state folder is
deleted (the `cat` appends on into a removed file). Launches, log reads and the
supervisor's ticks look (a stat per task on top of the tmux read they make anyway) and
attach a fresh pipe where one is lost.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from taskmux.logs import spool as logspool
from taskmux.logs.events import EventLog

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskmux.config.project import Project
    from taskmux.runtime.tmux_manager import Observation, Tmux
    from taskmux.statedir.paths import ProjectPaths


def reattach(
    project: Project, tmux: Tmux, observation: Observation, events: EventLog | None = None
) -> Observation:
    """Attach a fresh pipe to each live pane whose logging is lost (one tmux call; the
    state folder and spools are made again), recording `log_reattached`. Dead panes
    cannot be piped: they come back marked unpiped, so their next launch pipes them."""
    paths = project.paths
    tasks = observation.tasks
    lost = logspool.lost_pipes(paths.root, {n: s.piped for n, s in tasks.items()})
    if not lost:
        return observation
    live = {name: why for name, why in lost.items() if tasks[name].is_alive}
    events = events if events is not None else EventLog(paths.events)
    if live:
        paths.ensure()  # made again if it was deleted
        config = project.config
        logspool.configure(paths, int(config.log_max_size_mb * 1024 * 1024), config.log_backups)
        for name in live:
            logspool.prepare(paths, name)
        live = _mark_closed(paths, live, events)
    if live:
        tmux.run_script(
            *(
                [
                    "pipe-pane",
                    "-t",
                    tasks[name].pane_id,
                    _escaped(logspool.pipe_command(paths, name)),
                ]
                for name in live
            )
        )
        logspool.ensure_collector(paths.root)
        for name, why in live.items():
            events.append("log_reattached", name, reason=why)
    unpiped = {n: replace(s, piped=False) for n, s in tasks.items() if n in lost and n not in live}
    return replace(observation, tasks=tasks | unpiped) if unpiped else observation


def _mark_closed(paths: ProjectPaths, lost: dict[str, str], events: EventLog) -> dict[str, str]:
    """A pipe tmux closed (its `cat` died: a full disk) lost output: say so in the log
    (`logspool.LOST_MARK`) and the events (`log_lost`). Where even that line cannot be
    written the disk is still full: that pipe is left for a later look."""
    kept: dict[str, str] = {}
    for name, why in lost.items():
        if why != "pipe closed":
            kept[name] = why
        elif logspool.mark_lost(paths, name):
            kept[name] = why
            with contextlib.suppress(OSError):
                events.append("log_lost", name, reason="the log pipe had stopped (disk full?)")
    return kept


def _escaped(command: str) -> str:
    return command.replace("#", "##")  # tmux expands formats in a pipe command


def keep_logging(project: Project, tmux: Tmux, observe: Callable[[], Observation]) -> None:
    """What a read does first: attach a fresh pipe to panes whose logging was lost (one
    tmux read). A read never fails for it: no tmux server, or a session not ours, leaves
    nothing to attach."""
    from taskmux.errors import TaskmuxError

    try:
        reattach(project, tmux, observe())
    except (TaskmuxError, OSError):
        return
