"""What the task names of a request mean: `@GROUP` and a replicated task's name, expanded.

Every face's names pass through `select` (the service calls it before an operation runs),
so `start @backend` and `stop web` (web with `replicas = 3`) mean the same task list in
the CLI, the daemon's API and MCP. Pure: the config's names in, concrete names out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from taskmux.errors import GroupNotFound, UsageError

GROUP_SIGIL = "@"


def is_plain(names: Collection[str], tasks: Collection[str]) -> bool:
    """Whether every name already is a concrete task (nothing to expand)."""
    return all(name in tasks for name in names)


def select(
    names: list[str],
    tasks: Collection[str],
    groups: Mapping[str, list[str]],
    instances: Mapping[str, list[str]],
) -> list[str]:
    """The concrete tasks `names` stand for, in the order given, each once: `@GROUP` is
    its members, a replicated task its instances; an unknown `@GROUP` is E118, an unknown
    plain name is left for the caller to report (E201)."""
    chosen: list[str] = []
    for name in names:
        members = [name]
        if name.startswith(GROUP_SIGIL) and name not in tasks:
            group = name[len(GROUP_SIGIL) :]
            if group not in groups:
                known = ", ".join(f"@{g}" for g in groups) or "none: add a [groups] table"
                raise GroupNotFound(f"no group '{group}' in [groups] (groups: {known})")
            members = list(groups[group])
        for member in members:
            for concrete in instances.get(member, [member]):
                if concrete not in chosen:
                    chosen.append(concrete)
    if names and not chosen:  # an empty group: never "no names", which means every task
        raise UsageError(f"{' '.join(names)} names no task (its group is empty)")
    return chosen
