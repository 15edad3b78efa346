"""How the parsed files become the tasks taskmux runs: pure transforms of plain TOML data.

Three steps, in this order, before validation (SPEC §15):
1. `merge`: `taskmux.local.toml` over `taskmux.toml` (tables deep-merged, other values
   replaced, tasks added);
2. `apply_extends`: a task's `extends = "OTHER"` takes OTHER's keys as defaults;
3. `expand_replicas`: a task with `replicas = N` becomes the tasks `TASK-1`…`TASK-N`, each
   with `TASKMUX_REPLICA` in its `env`; a dependency on TASK becomes one on every instance
   and `${tasks.TASK.port}` names the first instance's port.

After step 3 the rest of taskmux sees ordinary tasks; `Composition.instances` remembers
which declared task each instance came from. Standard library only (the lean read path
rebuilds `env` tables with it), and no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from taskmux.errors import Problem

MAX_REPLICAS = 32
REPLICA_VAR = "TASKMUX_REPLICA"
# As models.TASK_NAME_RE (which imports pydantic): a name tmux can target safely.
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PORT_REF_RE = re.compile(r"\$\{tasks\.([A-Za-z_][A-Za-z0-9_-]*)\.port\}")
_TEXT_KEYS = ("command", "health_check", "health_url", "watch_cmd")

E_TYPE = "E112"
E_UNKNOWN = "E114"
E_CYCLE = "E115"
E_NAME = "E116"


@dataclass(frozen=True)
class Composition:
    """The data to validate (concrete tasks), the instances of each replicated task, and
    the problems found on the way (their `task` is the declared task's name)."""

    raw: dict[str, Any]
    instances: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def declared(self, name: str) -> str:
        """The declared task an instance (or a task) comes from."""
        for declared, names in self.instances.items():
            if name in names:
                return declared
        return name


def compose(main: dict[str, Any], local: dict[str, Any] | None) -> Composition:
    """All three steps; the group checks need the instances, so they run here too."""
    raw = merge(main, local) if local else main
    tasks = raw.get("tasks")
    problems: list[Problem] = []
    if isinstance(tasks, dict):
        tasks, problems = apply_extends(tasks)
        raw = {**raw, "tasks": tasks}
    raw, instances, found = expand_replicas(raw)
    problems += found
    problems += group_problems(raw, instances)
    return Composition(raw, instances, problems)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: tables merged key by key, any other value replaced."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = merge(below, value)
        else:
            merged[key] = value
    return merged


def apply_extends(tasks: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Each task with `extends` as its chain's keys merged, its own last; an unknown
    target or a cycle is a problem (the task is then left as written, without `extends`)."""
    resolved: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, body in tasks.items():
        if not isinstance(body, dict) or "extends" not in body:
            resolved[name] = body
            continue
        chain, problem = _chain(tasks, name)
        if problem is not None:
            problems.append(problem)
        if chain is None:
            resolved[name] = {k: v for k, v in body.items() if k != "extends"}
            continue
        merged: dict[str, Any] = {}
        for link in reversed(chain):
            merged = merge(merged, tasks[link])
        merged.pop("extends", None)
        resolved[name] = merged
    return resolved, [p for i, p in enumerate(problems) if p not in problems[:i]]


def _chain(tasks: dict[str, Any], name: str) -> tuple[list[str] | None, Problem | None]:
    """The tasks `name` extends, itself first; None and the problem when it cannot be
    followed. A cycle is reported once, by the task it starts and ends with."""
    chain = [name]
    while True:
        target = tasks[chain[-1]].get("extends")
        if target is None:
            return chain, None
        if not isinstance(target, str):
            message = f"must be the name of another task (got {target!r})"
            return None, Problem(E_TYPE, message, task=chain[-1], key="extends")
        if target in chain:
            members = chain[chain.index(target) :]
            start = members.index(min(members))  # told the same whichever member finds it
            cycle = [*members[start:], *members[:start], members[start]]
            message = "extends cycle: " + " → ".join(cycle)
            return None, Problem(E_CYCLE, message, task=cycle[0], key="extends")
        if not isinstance(tasks.get(target), dict):
            message = f"extends unknown task '{target}'"
            return None, Problem(E_UNKNOWN, message, task=chain[-1], key="extends")
        chain.append(target)


def replica_count(body: Any) -> int | None:
    """How many instances a task table asks for (None: no usable `replicas`, one task)."""
    count = body.get("replicas") if isinstance(body, dict) else None
    if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= MAX_REPLICAS:
        return count
    return None


def instance_names(task: str, count: int) -> list[str]:
    return [f"{task}-{number}" for number in range(1, count + 1)]


def expand_replicas(
    raw: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, list[str]], list[Problem]]:
    """The data with every replicated task as its instances (a `replicas` value out of
    range or of the wrong type is left for validation to report)."""
    tasks = raw.get("tasks")
    if not isinstance(tasks, dict):
        return raw, {}, []
    instances = {
        name: instance_names(name, count)
        for name, body in tasks.items()
        if (count := replica_count(body)) is not None
    }
    if not instances:
        return raw, {}, []
    problems = [
        Problem(
            "E113",
            f'replicas = {len(names)} needs port = "auto" (instances cannot share port '
            f"{tasks[name]['port']})",
            task=name,
            key="port",
        )
        for name, names in instances.items()
        if len(names) > 1 and isinstance(tasks[name].get("port"), int)
    ]
    problems += [
        Problem(
            E_NAME,
            f"its instance '{instance}' has the name of another task (rename one)",
            task=name,
            key="replicas",
        )
        for name, names in instances.items()
        for instance in names
        if instance in tasks
    ]
    expanded: dict[str, Any] = {}
    for name, body in tasks.items():
        body = retarget(body, instances) if isinstance(body, dict) else body
        if name not in instances:
            expanded.setdefault(name, body)
            continue
        for number, instance in enumerate(instances[name], start=1):
            copy = {key: value for key, value in body.items() if key != "replicas"}
            env = copy.get("env", {})
            if isinstance(env, dict):
                copy["env"] = {**env, REPLICA_VAR: str(number)}
            expanded[instance] = copy
    top = retarget({k: v for k, v in raw.items() if k != "tasks"}, instances)
    return {**top, "tasks": expanded}, instances, problems


def retarget(body: dict[str, Any], instances: dict[str, list[str]]) -> dict[str, Any]:
    """A task's (or the top level's) table with replicated tasks named by their instances:
    `depends_on` lists each one, `${tasks.TASK.port}` names the first's port."""

    def first(match: re.Match[str]) -> str:
        names = instances.get(match.group(1))
        return f"${{tasks.{names[0]}.port}}" if names else match.group(0)

    def text(value: Any) -> Any:
        return _PORT_REF_RE.sub(first, value) if isinstance(value, str) else value

    def table(value: Any) -> Any:
        return {k: text(v) for k, v in value.items()} if isinstance(value, dict) else value

    out = {key: text(body[key]) if key in _TEXT_KEYS else body[key] for key in body}
    for key in ("env", "hooks"):
        if key in out:
            out[key] = table(out[key])
    deps = out.get("depends_on")
    if isinstance(deps, list):
        out["depends_on"] = [entry for dep in deps for entry in _dependency(dep, instances)]
    return out


def _dependency(entry: Any, instances: dict[str, list[str]]) -> list[Any]:
    if isinstance(entry, str) and entry in instances:
        return list(instances[entry])
    target = entry.get("task") if isinstance(entry, dict) else None
    if isinstance(target, str) and target in instances:
        return [{**entry, "task": name} for name in instances[target]]
    return [entry]


def group_problems(raw: dict[str, Any], instances: dict[str, list[str]]) -> list[Problem]:
    """A group must not share a name with a task (or an instance), and must name tasks
    (declared ones, or single instances) that exist; the types are validation's."""
    groups, tasks = raw.get("groups"), raw.get("tasks")
    if not isinstance(groups, dict) or not isinstance(tasks, dict):
        return []
    known = set(tasks) | set(instances)
    problems: list[Problem] = []
    for group, members in groups.items():
        key = f"groups.{group}"
        if not _NAME_RE.match(group):
            message = "group names may only hold letters, digits, '-' and '_'"
            problems.append(Problem(E_NAME, message, key=key))
        elif group in known:
            message = f"group '{group}' has the name of a task (a name means one or the other)"
            problems.append(Problem(E_NAME, message, key=key))
        if isinstance(members, list):
            problems += [
                Problem(E_UNKNOWN, f"group '{group}' names unknown task '{member}'", key=key)
                for member in members
                if isinstance(member, str) and member not in known
            ]
    return problems


def holds(raw: dict[str, Any] | None, task: str | None, key: str | None) -> bool:
    """Whether a file's data sets this task's key (a top-level key without a task; the
    task's table itself without a key): where a problem with them is to be found."""
    if raw is None:
        return False
    table: Any = raw
    if task is not None:
        tasks = raw.get("tasks")
        table = tasks.get(task) if isinstance(tasks, dict) else None
        if table is None:
            return False
    for part in key.split(".") if key else ():
        if not isinstance(table, dict) or part not in table:
            return False
        table = table[part]
    return True


def declared_problems(composition: Composition, problems: list[Problem]) -> list[Problem]:
    """Validation's problems of instances as problems of their declared task, each once."""
    out: list[Problem] = []
    for problem in problems:
        if problem.task is not None:
            problem = replace(problem, task=composition.declared(problem.task))
        if problem not in out:
            out.append(problem)
    return out
