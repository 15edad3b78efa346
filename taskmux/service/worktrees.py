"""`taskmux worktree add|list|remove|prune` (SPEC §14): a checkout's whole life in git.

Each checkout of a repository is its own taskmux project: its own config path, so its
own state folder, session (`name` or `name-XXXX`, section 8) and ports. `add` makes the
checkout (`git worktree add`), copies `[worktree] copy`, runs `init`; `remove` stops that
checkout's own session and supervisor, runs `teardown`, removes its state, then the
checkout; `prune` does the same without teardown for checkouts whose folder is gone.
Nothing here looks at another checkout's session: a session is found by its owner tag
(the state folder's name), processes by their marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskmux.config.project import Project
from taskmux.config.schema import ProjectConfig
from taskmux.errors import TaskmuxError, WorktreeFailed
from taskmux.interop import gitworktree
from taskmux.lifecycle.named_urls import proxy_port, task_url
from taskmux.runtime.sessions import alternate_name
from taskmux.runtime.shell import run_shell
from taskmux.runtime.timing import wait_until
from taskmux.runtime.tmux_manager import Tmux
from taskmux.statedir import proxyreg
from taskmux.statedir.claim import (
    ABSTRACT_NAMES,
    claim_name,
    name_holder,
    read_holder,
    supervisor_running,
)
from taskmux.statedir.paths import ProjectPaths

LAST_LINES = 10
STEP_TIMEOUT = 1800.0  # an `npm ci` may take minutes; a hung one still ends


@dataclass(frozen=True)
class Added:
    path: str
    branch: str | None
    session: str
    copied: list[str]
    ran: list[str]
    urls: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, **self.__dict__}


@dataclass(frozen=True)
class Removed:
    """What `remove`/`prune` took away, checkout by checkout."""

    checkouts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "removed": self.checkouts}


def _relative_config(project: Project) -> tuple[Path, Path]:
    """The checkout the project is in, and its config's path inside it."""
    top = gitworktree.toplevel(project.root)
    return top, project.path.resolve().relative_to(top)


def _config_in(checkout: Path, relative: Path) -> Path:
    return checkout / relative


def planned_session(config: ProjectConfig, config_path: Path) -> str:
    """The session a new checkout gets beside the main one: `name-XXXX` (section 8)."""
    return alternate_name(config.name, ProjectPaths.for_config(config_path).checkout_id)


def urls_of(config: ProjectConfig, session: str) -> dict[str, str]:
    port = proxy_port(config.proxy_port)
    if not port:
        return {}
    return {name: task_url(name, session, port) for name, t in config.tasks.items() if t.port}


def add(project: Project, path: Path, branch: str | None) -> Added:
    top, relative = _relative_config(project)
    target = path.expanduser().resolve()
    gitworktree.add(top, target, branch)
    config_path = _config_in(target, relative)
    settings = project.config.worktree
    copied = []
    for entry in settings.copy:
        source, dest = top / entry, target / entry
        if source.is_dir():
            shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
        elif source.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
        else:
            continue
        copied.append(entry)
    label = ProjectPaths.for_config(config_path).checkout_id
    env = {**os.environ, "TASKMUX_WORKTREE": label}
    for index, step in enumerate(settings.init, 1):
        result = run_shell(step, config_path.parent, STEP_TIMEOUT, env)
        if result.exit_code != 0 or result.timed_out:
            raise WorktreeFailed(
                _step_failure("init", index, step, result.exit_code, result.output, target),
                code="E135",
            )
    session = planned_session(project.config, config_path)
    return Added(
        str(target), branch, session, copied, list(settings.init), urls_of(project.config, session)
    )


def _step_failure(
    stage: str, index: int, step: str, code: int | None, output: str, where: Path
) -> str:
    lines = output.splitlines()[-LAST_LINES:]
    status = "timed out" if code is None else f"exit {code}"
    tail = f"; last lines: {' | '.join(lines)}" if lines else ""
    kept = f"; the checkout stays at {where}" if stage == "init" else ""
    return f"worktree {stage} step {index} ({step}) failed ({status}){tail}{kept}"


def listing(project: Project) -> list[dict[str, Any]]:
    """Every checkout of the repository: path, branch, session, running tasks, ports, URLs."""
    from taskmux.service import Service, open_project

    top, relative = _relative_config(project)
    rows = []
    for tree in gitworktree.worktrees(top):
        row: dict[str, Any] = {
            "path": str(tree.path),
            "branch": tree.branch,
            "main": tree.main,
            "prunable": tree.prunable,
            "session": None,
            "session_running": False,
            "tasks": [],
        }
        config_path = _config_in(tree.path, relative)
        if config_path.is_file():
            with contextlib.suppress(TaskmuxError):
                status = Service.for_project(open_project(config_path, fallback=True)).status()
                document = status.to_dict()
                row["session"] = document["session"]
                row["session_running"] = document["session_running"]
                row["tasks"] = [
                    {k: t.get(k) for k in ("name", "state", "running", "port", "url")}
                    for t in document["tasks"]
                ]
        rows.append(row)
    return rows


def remove(project: Project, path: Path, force: bool) -> Removed:
    from taskmux.service import Service, open_project

    top, relative = _relative_config(project)
    target = path.expanduser().resolve()
    trees = {tree.path.resolve(): tree for tree in gitworktree.worktrees(top)}
    tree = trees.get(target)
    if tree is None:
        raise WorktreeFailed(f"{target} is not a checkout of this repository", code="E137")
    if tree.main:
        raise WorktreeFailed("the repository's main checkout is not removed", code="E137")
    if not force and gitworktree.has_changes(target):
        raise WorktreeFailed(
            f"{target} has uncommitted changes (git would refuse): commit them, or --force",
            code="E138",
        )
    config_path = _config_in(target, relative)
    paths = ProjectPaths.for_config(config_path)
    stopped: list[str] = []
    teardown: list[dict[str, Any]] = []  # each step run, and how it ended
    if config_path.is_file():
        checkout = open_project(config_path, fallback=True)
        _end_supervisor(paths)
        stopped = _stop(Service.for_project(checkout))
        for index, step in enumerate(checkout.config.worktree.teardown, 1):
            result = run_shell(step, config_path.parent, STEP_TIMEOUT, dict(os.environ))
            ran = {"step": step, "exit_code": result.exit_code, "timed_out": result.timed_out}
            teardown.append(ran)
            if (result.exit_code != 0 or result.timed_out) and not force:
                raise WorktreeFailed(
                    _step_failure("teardown", index, step, result.exit_code, result.output, target)
                    + " (the checkout stays; --force removes it anyway)",
                    code="E136",
                )
    sessions = _end_sessions(paths)
    _forget_state(paths)
    gitworktree.remove(top, target, force)
    return Removed([{**_record(target, paths, stopped, sessions), "teardown": teardown}])


def prune(project: Project) -> Removed:
    """Checkouts whose folder is gone: their sessions ended, their state removed."""
    top, relative = _relative_config(project)
    removed = []
    for tree in gitworktree.worktrees(top):
        if not tree.prunable:
            continue
        paths = ProjectPaths.for_config(_config_in(tree.path, relative))
        _end_supervisor(paths)
        sessions = _end_sessions(paths)
        _forget_state(paths)
        removed.append(_record(tree.path, paths, [], sessions))
    gitworktree.prune(top)
    for config, paths in _forgotten_checkouts(project):  # `git worktree prune` ran first
        _end_supervisor(paths)
        sessions = _end_sessions(paths)
        _forget_state(paths)
        removed.append(_record(config.parent, paths, [], sessions))
    return Removed(removed)


def _forgotten_checkouts(project: Project) -> list[tuple[Path, ProjectPaths]]:
    """State folders of this project's other checkouts whose folder is gone and which
    git already forgot (so it lists nothing to prune): those whose cached config bears
    this project's name, sits at the same place in its checkout, and no longer exists."""
    from taskmux.config.cache import CACHE_NAME, read_trusted
    from taskmux.statedir.paths import state_root

    _top, relative = _relative_config(project)
    found = []
    try:
        folders = [entry for entry in state_root().iterdir() if entry.is_dir()]
    except OSError:
        return []
    for folder in folders:
        raw = read_trusted(str(folder / CACHE_NAME))
        try:
            data = json.loads(raw) if raw is not None else None
            config = Path(str(data["key"][0])) if isinstance(data, dict) else None
            name = data["config"]["name"] if isinstance(data, dict) else None
        except (ValueError, KeyError, IndexError, TypeError):
            continue
        if config is None or name != project.config.name or config.exists():
            continue
        if tuple(config.parts[-len(relative.parts) :]) != relative.parts:
            continue
        paths = ProjectPaths(folder)
        if paths.root != project.paths.root and ProjectPaths.for_config(config) == paths:
            found.append((config, paths))
    return found


def _record(
    path: Path, paths: ProjectPaths, stopped: list[str], sessions: list[str]
) -> dict[str, Any]:
    return {"path": str(path), "state": str(paths.root), "stopped": stopped, "sessions": sessions}


def _stop(service: Any) -> list[str]:
    """Stop the checkout's tasks (its own session only); the names that ran."""
    status = service.status().to_dict()
    if not status["session_running"]:
        return []
    running = [t["name"] for t in status["tasks"] if t.get("running")]
    service.stop()
    return running


def _end_supervisor(paths: ProjectPaths) -> None:
    """A `start -m` or daemon of that checkout ends first: it would start the tasks again."""
    if not paths.root.is_dir() or not supervisor_running(paths.supervisor_lock):
        return
    # The kernel's word for who holds the claim (our own uid, checked), else its record.
    found = name_holder(claim_name(paths.root)) if ABSTRACT_NAMES else None
    if found is not None and found.uid == os.geteuid():
        pid: object = found.pid
    else:
        pid = (read_holder(paths.supervisor_info) or {}).get("pid")
    if not isinstance(pid, int) or pid <= 1 or pid == os.getpid():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not supervisor_running(paths.supervisor_lock), 10.0)


def _end_sessions(paths: ProjectPaths) -> list[str]:
    """End the sessions tagged as that checkout's, and any process still marked as one of
    its tasks (a task that left its session)."""
    from taskmux.runtime.procs import kill_tree, marked

    tmux = Tmux.from_env()
    owner = paths.root.name
    sessions = tmux.sessions_owned_by(owner)
    for session in sessions:
        tmux.end_session(session)
    for task, procs in marked(paths.marker_prefix).items():
        for proc in procs:
            kill_tree(proc.pid, paths.marker(task))
    return sessions


def _forget_state(paths: ProjectPaths) -> None:
    from taskmux.logs.spool import collector_pid

    pid = collector_pid(paths.root) if paths.root.is_dir() else None
    if pid is not None and pid > 0:  # its log collector: nothing is left for it to collect
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    proxyreg.unregister(paths.root)
    shutil.rmtree(paths.root, ignore_errors=True)
