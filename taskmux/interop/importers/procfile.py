"""Moving in from a Procfile (foreman, honcho, overmind): `name: command` lines as
tasks, each with the PORT foreman gives it, Heroku's release phase as a one-shot. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from taskmux.errors import ImportFailed
from taskmux.interop.importers.plan import ImportPlan, TaskPlan, unique_names
from taskmux.interop.importers.substitution import in_shell, uses_bash

# The port foreman, honcho and overmind give the n-th Procfile line (0-based): 5000 + 100 n.
PROCFILE_BASE_PORT = 5000
PROCFILE_PORT_STEP = 100
RELEASE = "release"  # Heroku's release phase: a one-shot before the others start

_PROCFILE_LINE_RE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*:\s*(.*)$")
_USES_PORT_RE = re.compile(r"\$(?:PORT\b|\{PORT\b)")


@dataclass(frozen=True)
class ProcfileEntry:
    name: str
    command: str
    line: int


def parse_procfile(text: str) -> tuple[list[ProcfileEntry], list[tuple[int, str]]]:
    """`name: command` lines, and the lines that are neither that, blank nor a comment."""
    entries: list[ProcfileEntry] = []
    strange: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PROCFILE_LINE_RE.match(line)
        if match is None or not match.group(2).strip():
            strange.append((number, line))
            continue
        entries.append(ProcfileEntry(match.group(1), match.group(2).strip(), number))
    return entries, strange


def from_procfile(
    entries: list[ProcfileEntry],
    strange: list[tuple[int, str]],
    session: str,
    source_name: str = "Procfile",
) -> ImportPlan:
    """A Procfile's processes as tasks (see the README's "Coming from honcho/overmind/
    process-compose" for each rule)."""
    if not entries:
        raise ImportFailed(f"{source_name} has no 'name: command' line to import")
    plan = ImportPlan("procfile", source_name, top={"name": session})
    plan.top["env_file"] = "?.env"
    plan.mapped(
        ".env",
        "env_file",
        'foreman, honcho and overmind read .env when it exists: env_file = "?.env" (optional)',
    )
    names = unique_names([entry.name for entry in entries], plan, "line")
    by_name: dict[str, ProcfileEntry] = {}
    for entry, name in zip(entries, names, strict=True):
        if name in by_name:
            first = by_name[name].line
            plan.unmapped(
                f"line {entry.line}",
                f"'{entry.name}' is defined again (line {first} is kept): {entry.command}",
            )
            continue
        by_name[name] = entry
    for index, (name, entry) in enumerate(by_name.items()):
        task = plan.tasks.setdefault(name, TaskPlan())
        task.keys["command"] = entry.command
        plan.mapped(f"line {entry.line} ({entry.name})", f"tasks.{name}.command", entry.command)
        # foreman, honcho and overmind give every process PORT = 5000 + 100 * its place:
        # a server that reads PORT from its environment (gunicorn, puma, Node) stays put.
        given = PROCFILE_BASE_PORT + PROCFILE_PORT_STEP * index
        task.keys["port"] = given
        task.key_comments["port"] = "PORT as foreman, honcho and overmind give this line"
        uses = " (its command uses $PORT)" if _USES_PORT_RE.search(entry.command) else ""
        plan.mapped(
            f"line {entry.line} (PORT)",
            f"tasks.{name}.port",
            f"{given}{uses}: foreman, honcho and overmind give the n-th process PORT = "
            '5000 + 100 * n; taskmux sets PORT from port (port = "auto" picks a free one, '
            "for parallel checkouts)",
        )
        if uses_bash(entry.command):
            task.keys["command"] = in_shell(entry.command, "bash")
            plan.mapped(
                f"line {entry.line} ({entry.name})",
                f"tasks.{name}.command",
                "uses bash syntax; taskmux runs /bin/sh -c (dash on Debian and Ubuntu, as "
                "foreman and honcho do): wrapped in bash -c '…'",
            )
    release = _release_name(by_name)
    if release is not None:
        plan.tasks[release].keys["restart_policy"] = "no"
        plan.tasks[release].key_comments["restart_policy"] = "a one-shot: runs once per start"
        for name, task in plan.tasks.items():
            if name != release:
                task.keys["depends_on"] = [{"task": release, "condition": "completed_successfully"}]
        plan.mapped(
            f"line {by_name[release].line} ({RELEASE})",
            f"tasks.{release}",
            'the release phase: a one-shot (restart_policy = "no") every other task waits '
            "for (depends_on, condition completed_successfully)",
        )
    plan.mapped(
        "stopping",
        "tasks.*.stop_signal",
        "foreman and honcho send SIGTERM, then SIGKILL after 5 s; taskmux sends stop_signal "
        "(default SIGINT), SIGTERM after stop_grace_period (5 s), then SIGKILL 3 s later: "
        'set stop_signal = "SIGTERM" for a process that treats SIGINT otherwise',
    )
    for number, line in strange:
        plan.unmapped(f"line {number}", f"not a 'name: command' line: {line}")
    return plan


def _release_name(by_name: dict[str, ProcfileEntry]) -> str | None:
    for name, entry in by_name.items():
        if entry.name == RELEASE:
            return name
    return None
