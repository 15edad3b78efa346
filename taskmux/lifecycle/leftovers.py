"""What a lost tmux session left running, ended before a start launches it again (issue 23).

When the tmux server dies with no supervisor, a task that outlives the hang-up (a
database run through `runuser`, a server that ignores SIGHUP) keeps running and keeps
its port. A start would put a second copy beside it, or refuse its port (E304). So a
start ends them first, through the usual stop escalation, and says so. Only processes
that carry this project's marker for that very task (and their children) are ended;
one run as another user is ended too when this user may signal it (root).
"""

from __future__ import annotations

import contextlib

from taskmux.lifecycle import readmodel
from taskmux.lifecycle.context import Context
from taskmux.lifecycle.results import Progress
from taskmux.lifecycle.stop import Stopper
from taskmux.runtime import procs
from taskmux.runtime.tmux_manager import Observation


def end_leftovers(
    ctx: Context, stopper: Stopper, names: list[str], observation: Observation
) -> dict[str, list[int]]:
    """End what a lost session left running of the tasks `names` (those without a window);
    returns task -> the pids found. Nothing is looked for while the session runs, or
    after a `stop` ended it."""
    if not readmodel.may_have_leftovers(str(ctx.paths.root), observation.session_exists):
        return {}
    wanted = [n for n in names if n not in observation.tasks]
    if not wanted:
        return {}
    everything = procs.marked(ctx.marker(""))
    found = {n: everything[n] for n in wanted if n in everything}
    if not found:
        return {}
    for name, left in found.items():
        what = procs.describe(left)
        ctx.report(Progress(name, "stopping", f"{what}, left running by a lost session"))
    ended = stopper.end_all_processes(dict.fromkeys(found))
    for name, left in found.items():
        with contextlib.suppress(OSError):  # best effort: a full disk must not block a start
            ctx.events.append(
                "leftovers_ended",
                name,
                pids=[p.pid for p in left],
                signal=ended.get(name),
                reason="left running by a lost session",
            )
        ctx.report(Progress(name, "stopped", f"{ended.get(name)}: ended {procs.describe(left)}"))
    return {name: [p.pid for p in left] for name, left in found.items()}
