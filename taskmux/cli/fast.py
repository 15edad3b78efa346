"""The hottest read-only call, `status --json`, without the Typer app.

Agents call it many times a minute; importing typer and every command module costs more
than the rest of the call. Exactly `[-c PATH] status|ls|list --json` is answered here,
through the same service call and with the same output as the Typer command; anything
else (other options, `--help`) goes to the full CLI.
"""

from __future__ import annotations

import json
import sys

_STATUS = frozenset({"status", "ls", "list"})


def fast_status(args: list[str]) -> bool:
    """Answer `status --json` and say so; False when `args` are anything else."""
    config: str | None = None
    rest = list(args)
    if rest[:1] in (["-c"], ["--config"]) and len(rest) >= 2:
        config, rest = rest[1], rest[2:]
    if len(rest) != 2 or rest[0] not in _STATUS or rest[1] != "--json":
        return False
    from taskmux.service import Service, open_project

    project = open_project(config, fallback=True)
    data = {"ok": True, **Service.for_project(project).status().to_dict()}
    notes = [(p.code, p.render()) for p in project.warnings]
    if project.fallback is not None:
        data["config_error"] = project.fallback.to_dict()
        notes.insert(0, ("W102", project.fallback.describe(project.path)))
    for code, text in notes:
        sys.stderr.write(f"warning[{code}]: {text}\n")
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()
    return True
