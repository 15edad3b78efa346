"""Moving out to systemd: one user unit per task and a target that wants every
`auto_start` one; what systemd cannot express is said as a note in the unit. Pure."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
    num,
    probe_command,
    resolve_ports,
    secret_names,
    signal_name,
    task_env,
    with_ports,
)

if TYPE_CHECKING:
    from taskmux.config.schema import ProjectConfig, TaskConfig


def unit_name(session: str, task: str) -> str:
    return f"taskmux-{session}-{task}.service"


@dataclass(frozen=True)
class SystemdTarget:
    """Where the units run: user units (`user` None) or system units run as `user`;
    `path` is the PATH export ran with, `exporter` the account that ran it."""

    user: str | None = None
    path: str = ""
    exporter: str = ""

    @property
    def system(self) -> bool:
        return self.user is not None

    @property
    def login_shell(self) -> bool:
        """System units for another account read that account's login profile for PATH
        (the exporter's PATH names folders of the exporter's home)."""
        return self.user is not None and self.user != self.exporter


def instance_units(config: ProjectConfig) -> dict[str, tuple[str, int]]:
    """Each instance of a replicated task: (its declared task, its number)."""
    found: dict[str, tuple[str, int]] = {}
    for declared, names in getattr(config, "instances", {}).items():
        for number, name in enumerate(names, start=1):
            found[name] = (declared, number)
    return found


def unit_for(config: ProjectConfig, task: str) -> str:
    """A task's unit; an instance's is its template's instance (`…-web@2.service`)."""
    instance = instance_units(config).get(task)
    if instance is None:
        return unit_name(config.name, task)
    return f"taskmux-{config.name}-{instance[0]}@{instance[1]}.service"


def target_name(session: str) -> str:
    return f"taskmux-{session}.target"


def systemd_quote(text: str, variables: bool = True) -> str:
    """One word for a systemd command line or `Environment=`: double-quoted with C escapes,
    `%` doubled (specifiers) and, where systemd expands variables (command lines), `$`."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif char == "%":
            out.append("%%")
        elif char == "$" and variables:
            out.append("$$")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def shell_line(command: str, login: bool = False) -> str:
    return ("/bin/sh -lc " if login else "/bin/sh -c ") + systemd_quote(command)


def _path_value(path: Path) -> str:
    return str(path).replace("%", "%%")


def one_shots(config: ProjectConfig) -> set[str]:
    """Tasks some other task waits to finish (a `completed` condition): one-shots."""
    return {
        dep.task
        for task in config.tasks.values()
        for dep in task.depends_on
        if dep.condition in ("completed", "completed_successfully")
    }


def systemd_units(
    config: ProjectConfig, root: Path, source: Path, target: SystemdTarget | None = None
) -> Export:
    """One unit per task (a template unit per replicated task) and a target that wants
    every `auto_start` one: user units, or system units run as `target.user`."""
    where = target or SystemdTarget()
    session = config.name
    ports = resolve_ports(config)
    shots = one_shots(config)
    instances = instance_units(config)
    notes = Notes()
    files: dict[str, str] = {}
    private: set[str] = set()
    header = f"{MARK} systemd from {source}: edit that file and export again."
    if any(getattr(config.hooks, hook) for hook in HOOKS):
        notes.add(None, "[hooks] (global): not exported; a target runs no commands")
    _path_note(notes, where)
    for name, task in config.tasks.items():
        instance = instances.get(name)
        if instance is not None and instance[1] > 1:
            _instance_port(files, config, name, ports)
            continue  # the template, written for the first instance, serves them all
        env = task_env(config, name, root, ports, session)
        common_notes(
            notes, config, name, env, "systemd", "is written as is: systemd does not expand it"
        )
        if is_auto_port(task):
            notes.add(name, f'port = "auto": PORT={ports[name]} here ({AUTO_RULE})')
        body = _unit(config, name, task, root, env, ports, name in shots, notes, where)
        unit = unit_for(config, name)
        if instance is not None:
            body = _as_template(body, instance[0], name)
            unit = f"taskmux-{session}-{instance[0]}@.service"
            _instance_port(files, config, name, ports)
            notes.add(
                instance[0],
                f"replicas: the template unit {unit} runs each instance "
                f"({unit_for(config, name)} …), PORT from a drop-in per instance",
            )
        if env_table(config) or env_table(task):
            private.add(unit)
            notes.add(
                name,
                "env: its values are in the unit file (written 0600); keep secrets in env_file",
            )
        comments = "".join(f"# note: {line}\n" for line in notes.for_task(name))
        files[unit] = f"{header}\n{comments}\n{body}"
    wanted = [unit_for(config, n) for n, t in config.tasks.items() if t.auto_start]
    lines = [
        header,
        "",
        "[Unit]",
        f"Description=taskmux project {session}".replace("%", "%%"),
    ]
    if wanted:
        lines.append("Wants=" + " ".join(wanted))
    install = "multi-user.target" if where.system else "default.target"
    lines += ["", "[Install]", f"WantedBy={install}", ""]
    files[target_name(session)] = "\n".join(lines)
    return Export(files, notes.lines(), frozenset(private))


def _path_note(notes: Notes, where: SystemdTarget) -> None:
    if where.login_shell:
        notes.add(
            None,
            f"commands run in a login shell (sh -l) of {where.user}: PATH comes from its "
            "~/.profile, where rbenv, nvm or asdf must be set up",
        )
    elif where.path:
        notes.add(
            None,
            "PATH is the one export ran with (rbenv, nvm and asdf folders on it are found): "
            "export again after changing it",
        )


def _as_template(body: str, declared: str, first: str) -> str:
    """The first instance's unit as the template of all: its name and number from `%i`."""
    number = re.escape(first.rsplit("-", 1)[-1])
    body = body.replace(f'"TASKMUX_TASK={first}"', f'"TASKMUX_TASK={declared}-%i"')
    body = re.sub(rf'"TASKMUX_REPLICA={number}"', '"TASKMUX_REPLICA=%i"', body)
    body = body.replace(f": {first}\n", f": {declared}-%i\n", 1)  # the Description
    return "\n".join(line for line in body.split("\n") if not line.startswith('Environment="PORT='))


def _instance_port(
    files: dict[str, str], config: ProjectConfig, name: str, ports: dict[str, int]
) -> None:
    """An instance's own PORT, as a drop-in beside the template."""
    if name in ports:
        unit = unit_for(config, name)
        files[f"{unit}.d/port.conf"] = (
            f"{MARK}: the port of {name}.\n[Service]\nEnvironment=PORT={ports[name]}\n"
        )


def _unit(
    config: ProjectConfig,
    name: str,
    task: TaskConfig,
    root: Path,
    env: TaskEnv,
    ports: dict[str, int],
    one_shot: bool,
    notes: Notes,
    where: SystemdTarget,
) -> str:
    unit, policy = _unit_section(config, name, task, one_shot, notes)
    service = ["[Service]"]
    service += ["Type=oneshot", "RemainAfterExit=yes"] if one_shot else ["Type=simple"]
    if where.user is not None:
        service.append(f"User={where.user}")
    cwd = (root / task.cwd).resolve() if task.cwd else root.resolve()
    service.append(f"WorkingDirectory={_path_value(cwd)}")
    if where.path and not where.login_shell:
        service.append("Environment=" + systemd_quote(f"PATH={where.path}", variables=False))
    service += _environment(config, name, task, env, notes)
    service += _commands(name, task, ports, one_shot, notes, where.login_shell)
    service += _restart_and_stop(name, task, policy, notes)
    install = ["[Install]", f"WantedBy={target_name(config.name)}"] if task.auto_start else []
    if instance_units(config).get(name) is not None:
        install = []  # the target wants each instance by name
    sections = [unit, service] + ([install] if install else [])
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def _unit_section(
    config: ProjectConfig, name: str, task: TaskConfig, one_shot: bool, notes: Notes
) -> tuple[list[str], str]:
    """`[Unit]`: the ordering and strength of each dependency, the start limit; and the
    restart policy systemd will apply."""
    session = config.name
    unit = [
        "[Unit]",
        f"Description=taskmux {session}: {name}".replace("%", "%%"),
        f"PartOf={target_name(session)}",
    ]
    after = [unit_for(config, dep.task) for dep in task.depends_on]
    requires = [
        unit_for(config, d.task)
        for d in task.depends_on
        if d.condition in ("healthy", "completed_successfully")
    ]
    wants = [
        unit_for(config, d.task) for d in task.depends_on if d.condition in ("started", "completed")
    ]
    for dep in task.depends_on:
        if dep.condition == "healthy" and config.tasks[dep.task].ready_log is not None:
            notes.add(
                name, f"depends on {dep.task} being healthy: systemd cannot wait for its ready_log"
            )
    for key, units in (("After", after), ("Requires", requires), ("Wants", wants)):
        if units:
            unit.append(f"{key}=" + " ".join(units))
    policy = task.restart_policy
    if one_shot and policy == "always":
        policy = "on-failure"
        notes.add(
            name, 'restart_policy = "always": a one-shot restarts only on failure under systemd'
        )
    if policy != "no":
        window = math.ceil(task.max_restarts * max(task.restart_delay, 0.1) + 60)
        unit += [f"StartLimitIntervalSec={window}", f"StartLimitBurst={task.max_restarts + 1}"]
        if task.restart_backoff != 1:
            notes.add(
                name,
                "restart_backoff: systemd waits RestartSec (restart_delay) before every restart",
            )
    return unit, policy


def _environment(
    config: ProjectConfig, name: str, task: TaskConfig, env: TaskEnv, notes: Notes
) -> list[str]:
    lines = [
        f"EnvironmentFile={'-' if optional else ''}{_path_value(path)}"
        for path, optional in env.files
    ]
    if env.files and (env_table(config) or env_table(task)):
        notes.add(
            name, "env and env_file: a variable in both takes the env file's value under systemd"
        )
    hidden = secret_names(config, task, env.values)
    if hidden:
        notes.add(
            name,
            f"env: {', '.join(hidden)} look secret and are left out of the unit: give them "
            "to it in an env_file (EnvironmentFile=)",
        )
    for key, value in env.values.items():
        if key not in hidden:
            lines.append("Environment=" + systemd_quote(f"{key}={value}", variables=False))
    return lines


def _commands(
    name: str,
    task: TaskConfig,
    ports: dict[str, int],
    one_shot: bool,
    notes: Notes,
    login: bool = False,
) -> list[str]:
    """The command, the hooks around it, and the probe that gates the start."""

    def line(command: str) -> str:
        return shell_line(command, login)

    hooks = task.hooks
    lines = []
    if hooks.before_start:
        lines.append("ExecStartPre=" + line(with_ports(hooks.before_start, ports)))
    lines.append("ExecStart=" + line(with_ports(task.command, ports)))
    if hooks.after_start:
        lines.append("ExecStartPost=" + line(with_ports(hooks.after_start, ports)))
    probe = probe_command(task, ports.get(name), ports)
    if one_shot:
        lines.append("TimeoutStartSec=infinity")
    elif probe is not None:
        wait = f"until {probe}; do sleep {num(task.health_interval)}; done"
        lines.append("ExecStartPost=" + line(wait))
        limit = task.health_start_period + task.health_retries * task.health_interval
        lines.append(f"TimeoutStartSec={math.ceil(limit + task.health_timeout)}")
        notes.add(
            name,
            "the probe gates the start (ExecStartPost); systemd does not run it again later",
        )
    if hooks.before_stop:
        lines.append("ExecStop=" + line(with_ports(hooks.before_stop, ports)))
    if hooks.after_stop:
        lines.append("ExecStopPost=" + line(with_ports(hooks.after_stop, ports)))
    return lines


def _restart_and_stop(name: str, task: TaskConfig, policy: str, notes: Notes) -> list[str]:
    lines = [f"Restart={policy}"]
    if policy != "no":
        lines.append(f"RestartSec={num(task.restart_delay)}")
    lines.append(f"KillSignal={signal_name(task.stop_signal)}")
    lines.append(f"TimeoutStopSec={num(task.stop_grace_period) if task.stop_grace_period else 0}")
    extra = [code for code in task.success_exit_codes if code != 0]
    if extra:
        lines.append("SuccessExitStatus=" + " ".join(map(str, extra)))
    if 0 not in task.success_exit_codes:
        notes.add(name, "success_exit_codes without 0: systemd always counts exit 0 as success")
    return lines
