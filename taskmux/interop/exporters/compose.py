"""Moving out to Docker Compose: one service per task, the project mounted at /app; what
compose cannot express is said as a note at the top of the file. Pure."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.interop.exporters.shared import (
    AUTO_RULE,
    HOOKS,
    MARK,
    Export,
    Notes,
    TaskEnv,
    common_notes,
    env_table,
    is_auto_port,
    probe_command,
    resolve_ports,
    secret_names,
    signal_name,
    task_env,
    with_ports,
)

if TYPE_CHECKING:
    from taskmux.config.schema import ProjectConfig, TaskConfig

_LOCAL_RE = re.compile(r"(?:127\.0\.0\.1|localhost):(\d{1,5})\b")
_CONDITIONS = {
    "started": "service_started",
    "healthy": "service_healthy",
    "completed": "service_completed_successfully",
    "completed_successfully": "service_completed_successfully",
}


def compose_file(
    config: ProjectConfig, root: Path, compose_path: Path, image: str, source: Path
) -> Export:
    """One service per task, the project mounted at /app, as the text of `compose_path`."""
    import yaml

    compose_dir = compose_path.parent
    session = config.name
    ports = resolve_ports(config)
    notes = Notes()
    services: dict[str, Any] = {}
    mount = os.path.relpath(root.resolve(), compose_dir.resolve())
    mount = mount if mount == "." or mount.startswith(("./", "../", "..")) else f"./{mount}"
    if any(getattr(config.hooks, hook) for hook in HOOKS):
        notes.add(None, "[hooks] (global): not exported; compose runs no project-wide commands")
    carries_env = False
    published: set[int] = set()
    for name, task in config.tasks.items():
        env = task_env(config, name, root, ports, session)
        common_notes(
            notes,
            config,
            name,
            env,
            "compose",
            "is left for compose to fill in from its own environment",
        )
        services[name] = _service(
            config, name, task, compose_dir, image, mount, env, ports, notes, published
        )
        carries_env = carries_env or bool(env_table(config) or env_table(task))
    if carries_env:
        notes.add(
            None, "env values are in the compose file (written 0600); keep secrets in env_file"
        )
    lines = [f"{MARK} compose from {source}: edit that file and export again."]
    lines += [f"# note: {line}" for line in notes.lines()]
    document = {"name": _compose_project(session), "services": services}
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)
    files = {compose_path.name: "\n".join(lines) + "\n" + text}
    private = frozenset({compose_path.name}) if carries_env else frozenset()
    return Export(files, notes.lines(), private)


def _compose_project(session: str) -> str:
    name = re.sub(r"[^a-z0-9_-]", "-", session.lower()).lstrip("-_")
    return name or "taskmux"


def compose_escape(text: str) -> str:
    """Compose interpolates `$` in every string: `$$` keeps one for the container."""
    return text.replace("$", "$$")


def _duration(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def _service(
    config: ProjectConfig,
    name: str,
    task: TaskConfig,
    compose_dir: Path,
    image: str,
    mount: str,
    env: TaskEnv,
    ports: dict[str, int],
    notes: Notes,
    published: set[int],
) -> dict[str, Any]:
    service: dict[str, Any] = {"image": image}
    if not task.auto_start:
        service["profiles"] = ["manual"]
        notes.add(
            name, "auto_start = false: in profile 'manual' (docker compose up NAME starts it)"
        )
    service["command"] = ["/bin/sh", "-c", compose_escape(with_ports(task.command, ports))]
    service["init"] = True  # signals reach the command, which is not PID 1
    # compose fills `$` in every string from where it runs: a literal `$` stays one, as
    # in systemd's WorkingDirectory= and taskmux's cwd.
    service["working_dir"] = compose_escape(_working_dir(name, task, notes))
    service["volumes"] = [f"{mount}:/app"]
    if env.files:
        service["env_file"] = [
            {"path": _relative(path, compose_dir), "required": not optional}
            for path, optional in env.files
        ]
    hidden = secret_names(config, task, env.values)
    if hidden:
        notes.add(
            name,
            f"env: {', '.join(hidden)} look secret: the file names them for compose to fill "
            "from its own environment or .env, and fails to start without them",
        )
    service["environment"] = _environment(env, hidden)
    port = ports.get(name)
    if port is not None:
        service.update(_port(name, task, port, notes, published))
    probe = probe_command(task, port, ports)
    if probe is not None:
        service["healthcheck"] = _healthcheck(task, probe)
    depends = _depends_on(config, name, task, ports, notes)
    if depends:
        service["depends_on"] = depends
    _reaches_others(notes, name, task, env, ports)
    service["restart"] = _restart(name, task, notes)
    if [code for code in task.success_exit_codes if code != 0] or 0 not in task.success_exit_codes:
        notes.add(name, "success_exit_codes: compose counts only exit 0 as success")
    service["stop_signal"] = signal_name(task.stop_signal)
    service["stop_grace_period"] = _duration(task.stop_grace_period)
    service.update(_hooks(name, task, ports, notes))
    return service


def _working_dir(name: str, task: TaskConfig, notes: Notes) -> str:
    """The task's cwd inside the mount; one outside the project is not mounted: /app."""
    if not task.cwd:
        return "/app"
    if posixpath.isabs(task.cwd) or Path(task.cwd).is_absolute():
        notes.add(name, "cwd outside the project: not mounted; working_dir /app")
        return "/app"
    workdir = posixpath.normpath(posixpath.join("/app", Path(task.cwd).as_posix()))
    if not workdir.startswith("/app"):
        notes.add(name, "cwd outside the project: not mounted; working_dir /app")
        return "/app"
    return workdir


def _environment(env: TaskEnv, hidden: list[str]) -> dict[str, str]:
    environment = {}
    for key, value in env.values.items():
        if key in hidden:  # a secret's value stays out of the file: compose asks for it
            environment[key] = f"${{{key}:?{key} is a secret: set it where compose runs}}"
            continue
        # A `${NAME}` taskmux would fill from its environment is for compose to fill from
        # its own; every other `$` is literal.
        escaped = compose_escape(value)
        for var in env.unresolved:
            escaped = escaped.replace(f"$${{{var}}}", f"${{{var}}}")
        environment[key] = escaped
    return environment


def _port(
    name: str, task: TaskConfig, port: int, notes: Notes, published: set[int]
) -> dict[str, Any]:
    """A fixed port published as itself (once: `check` refuses two tasks on one port, and
    a host port can be published by one service only); an automatic one only exposed."""
    if not is_auto_port(task) and port not in published:
        published.add(port)
        return {"ports": [f"{port}:{port}"]}
    if not is_auto_port(task):
        notes.add(name, f"port {port} is published by another service: only exposed")
        return {"expose": [str(port)]}
    notes.add(
        name,
        f'port = "auto": PORT={port} in the container ({AUTO_RULE}), not published '
        f'(add ports: ["{port}:{port}"] to reach it from the host)',
    )
    return {"expose": [str(port)]}


def _healthcheck(task: TaskConfig, probe: str) -> dict[str, Any]:
    check: dict[str, Any] = {
        "test": ["CMD-SHELL", compose_escape(probe)],
        "interval": _duration(task.health_interval),
        "timeout": _duration(task.health_timeout),
        "retries": task.health_retries,
    }
    if task.health_start_period:
        check["start_period"] = _duration(task.health_start_period)
    return check


def _depends_on(
    config: ProjectConfig, name: str, task: TaskConfig, ports: dict[str, int], notes: Notes
) -> dict[str, Any]:
    depends: dict[str, Any] = {}
    for dep in task.depends_on:
        other = config.tasks[dep.task]
        condition = _CONDITIONS[dep.condition]
        if dep.condition == "healthy" and probe_command(other, ports.get(dep.task), ports) is None:
            condition = "service_started"  # healthy without a probe: running
            if other.ready_log is not None:
                notes.add(
                    name,
                    f"depends on {dep.task} being healthy: compose cannot wait for its ready_log",
                )
        if dep.condition == "completed":
            notes.add(
                name,
                f"depends on {dep.task} completed (any exit code): compose waits for a success",
            )
        depends[dep.task] = {"condition": condition}
    return depends


def _restart(name: str, task: TaskConfig, notes: Notes) -> str:
    if task.restart_policy != "no":
        notes.add(
            name, "restart_delay, restart_backoff: docker restarts with its own growing delay"
        )
    if task.restart_policy == "no" or task.max_restarts == 0:
        return "no"
    if task.restart_policy == "on-failure":
        return f"on-failure:{task.max_restarts}"
    return "always"


def _hooks(name: str, task: TaskConfig, ports: dict[str, int], notes: Notes) -> dict[str, Any]:
    """`after_start` and `before_stop` as compose's lifecycle hooks; the others are noted."""
    hooks = task.hooks
    found: dict[str, Any] = {}
    if hooks.after_start:
        found["post_start"] = [
            {"command": ["/bin/sh", "-c", compose_escape(with_ports(hooks.after_start, ports))]}
        ]
    if hooks.before_stop:
        found["pre_stop"] = [
            {"command": ["/bin/sh", "-c", compose_escape(with_ports(hooks.before_stop, ports))]}
        ]
    for hook in ("before_start", "after_stop"):
        if getattr(hooks, hook):
            notes.add(name, f"hooks.{hook}: compose has no such hook")
    return found


def _reaches_others(
    notes: Notes, name: str, task: TaskConfig, env: TaskEnv, ports: dict[str, int]
) -> None:
    """In compose each service has its own address: 127.0.0.1 is the task's own container."""
    owners = {port: owner for owner, port in ports.items() if owner != name}
    texts: Iterable[str] = [task.command, *env.values.values()]
    found = []
    for text in texts:
        for match in _LOCAL_RE.finditer(with_ports(text, ports)):
            owner = owners.get(int(match.group(1)))
            if owner is not None and owner not in found:
                found.append(owner)
    for owner in found:
        notes.add(
            name,
            f"reaches {owner} on 127.0.0.1/localhost: under compose use the host name {owner}",
        )


def _relative(path: Path, folder: Path) -> str:
    text = os.path.relpath(path, folder.resolve())
    return text if text.startswith(("./", "../")) else f"./{text}"
