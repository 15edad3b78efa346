"""Whose is the process on a task's port, and may taskmux end it? Pure decisions.

Port cleanup exists for orphans of this project (a crashed session's server still bound
to its port). Anything else on the port (another user's server, a system service,
another project's task, a server this user started elsewhere) is left alone unless the
user asks with `--kill-port`. `procs.py` gathers the facts; this module only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

COMMAND_SHOWN = 80


@dataclass(frozen=True)
class Holder:
    """One process listening on a port, as far as this user can see it.

    `pid` is None when the socket is visible but its process is not (another user's,
    seen without root); `cwd`, `marker` and `project` are None when unreadable or absent.
    """

    pid: int | None
    uid: int | None
    user: str | None  # None when not even the owner is known
    command: str = ""
    cwd: str | None = None
    marker: str | None = None  # its TASKMUX_MARKER, "<state folder>/<task>"
    project: str | None = None  # its taskmux session (TASKMUX_PROJECT / TASKMUX_SESSION)
    started: float | None = None  # when it started (epoch seconds), None when unknown

    def describe(self) -> str:
        """`pid 812 (user postgres: postgres -D /var/lib/pg)`, or the unknown-pid form."""
        if self.pid is None:
            whose = f"another user, {self.user}" if self.user else "another user"
            return f"a process of {whose} (pid unknown)"
        command = self.command or "?"
        if len(command) > COMMAND_SHOWN:
            command = command[: COMMAND_SHOWN - 1] + "…"
        return f"pid {self.pid} (user {self.user}: {command})"


@dataclass(frozen=True)
class Scope:
    """Who is asking: this user, this project, the task whose port it is."""

    uid: int
    root: str  # the project folder, resolved
    marker_prefix: str  # "<state folder>/": every marker of this project starts with it
    task: str
    running_tasks: frozenset[str] = frozenset()  # this project's tasks alive right now
    protected: frozenset[int] = frozenset()  # taskmux itself and its ancestors


@dataclass(frozen=True)
class Verdict:
    holder: Holder
    may_free: bool
    why: str  # why it may be freed, or why not (completes "pid … ")


def judge(holder: Holder, scope: Scope, force: bool = False) -> Verdict:
    """May taskmux signal this holder to free the port? (`force`: `--kill-port`)."""

    def no(why: str) -> Verdict:
        return Verdict(holder, False, why)

    if holder.pid is None:
        return no("cannot be seen or signalled by this user")
    if holder.pid == 1:
        return no("is the init process (a socket-activated service)")
    if holder.pid in scope.protected:
        return no("is taskmux itself or the process that runs it")
    mine = holder.uid == scope.uid
    other = f"another user ({holder.user})" if holder.user else "another user"
    if force:
        if mine or scope.uid == 0:
            return Verdict(holder, True, "freed on request (--kill-port)")
        return no(f"belongs to {other} and cannot be signalled")
    ours = holder.marker is not None and holder.marker.startswith(scope.marker_prefix)
    if ours and (mine or scope.uid == 0):  # root may end one run through `runuser` too
        task = holder.marker[len(scope.marker_prefix) :] if holder.marker else ""
        if task != scope.task and task in scope.running_tasks:
            return no(f"is this project's task '{task}', which is running")
        return Verdict(holder, True, f"left over from this project's task '{task}'")
    if not mine:
        return no(f"belongs to {other}")
    if holder.marker is not None:
        other_task = holder.marker.rpartition("/")[2]
        other = holder.project or holder.marker.rpartition("/")[0]
        where = f", in {holder.cwd}" if holder.cwd else ""
        return no(f"is task '{other_task}' of another taskmux project (session '{other}'{where})")
    if holder.cwd is None:
        return no("is not known to be this project's (its working directory is unreadable)")
    if _inside(holder.cwd, scope.root):
        return Verdict(holder, True, "runs from inside the project folder")
    return no(f"is not this project's (it runs from {holder.cwd})")


def judge_all(holders: list[Holder], scope: Scope, force: bool = False) -> list[Verdict]:
    return [judge(h, scope, force) for h in holders]


def may_free_all(verdicts: list[Verdict]) -> bool:
    """All or nothing: one holder we must not touch keeps the port held, so touch none."""
    return bool(verdicts) and all(v.may_free for v in verdicts)


def refusal(task: str, port: int, verdicts: list[Verdict], forced_would_work: bool) -> str:
    """The one-line PortBusy message: who holds the port, why it stays, what to do."""
    refused = [v for v in verdicts if not v.may_free]
    held = "; ".join(f"{v.holder.describe()}, which {v.why}" for v in refused)
    advice = (
        f"stop it yourself, use another port, or run `taskmux start {task} --kill-port`"
        " to free it anyway"
        if forced_would_work
        else "stop it yourself (as its user or root) or use another port"
    )
    return f"task '{task}': port {port} is held by {held}; left alone: {advice}"


def _inside(path: str, folder: str) -> bool:
    return PurePath(path).is_relative_to(PurePath(folder))


# A few well-known programs that daemonize on request, and how to keep them in the
# foreground (checked against the words of the command that is left running).
_FOREGROUND = (
    ("redis-server", "run it with `--daemonize no`"),
    ("redis-sentinel", "run it with `--daemonize no`"),
    ("memcached", "drop `-d`"),
    ("mongod", "drop `--fork`"),
    ("nginx", "run it with `-g 'daemon off;'`"),
    ("postgres", "run `postgres -D DIR` itself, not `pg_ctl start`"),
    ("php-fpm", "run it with `--nodaemonize`"),
)


def foreground_hint(command: str) -> str:
    """How to keep a self-daemonizing program in the foreground, so taskmux can watch it."""
    words = command.split()
    program = PurePath(words[0]).name if words else ""
    for name, hint in _FOREGROUND:
        if program.startswith(name):
            return f"run it in the foreground ({name}: {hint})"
    return "run it in the foreground (most servers have a flag for it, e.g. --daemonize no)"
