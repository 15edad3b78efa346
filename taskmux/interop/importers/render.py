"""An import plan as the text of a fresh `taskmux.toml` (tomlkit: the comments that
say what had no equivalent are kept in the file)."""

from __future__ import annotations

from typing import Any

from taskmux.interop.importers.plan import ImportPlan

# The order of a task's keys in the file: what it runs, where, what it waits for, how it
# is checked, restarted and stopped.
_KEY_ORDER = (
    "command",
    "cwd",
    "port",
    "replicas",
    "auto_start",
    "env_file",
    "depends_on",
    "ready_log",
    "health_check",
    "health_url",
    "health_expect_status",
    "health_start_period",
    "health_interval",
    "health_timeout",
    "health_retries",
    "restart_policy",
    "restart_delay",
    "restart_backoff",
    "max_restarts",
    "success_exit_codes",
    "stop_signal",
    "stop_grace_period",
    "watch",
)


def render(plan: ImportPlan, tool: str) -> str:
    """The plan as a fresh `taskmux.toml`: keys in order, comments for what has no
    equivalent (at the top for the project, in each task's table for the task)."""
    import tomlkit

    document = tomlkit.document()
    document.add(tomlkit.comment(f"taskmux.toml: imported from {plan.source_name} by {tool}."))
    document.add(
        tomlkit.comment("Comments marked 'no equivalent' are settings taskmux could not carry.")
    )
    for line in plan.top_comments:
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    for key, value in plan.top.items():
        if key != "env":
            document.add(key, value)
    if "env" in plan.top:
        document.add(tomlkit.nl())
        document.add("env", _table(plan.top["env"]))
    tasks = tomlkit.table(is_super_table=True)
    for name, task in plan.tasks.items():
        table = tomlkit.table()
        for line in task.comments:
            table.add(tomlkit.comment(line))
        for key, value in sorted(task.keys.items(), key=_key_rank):
            if key in ("env", "hooks"):
                continue
            item = _depends(value) if key == "depends_on" else tomlkit.item(value)
            if key in task.key_comments:
                item.comment(task.key_comments[key])
            table.add(key, item)
        for key in ("env", "hooks"):
            if key in task.keys:
                table.add(key, _table(task.keys[key]))
        tasks.add(name, table)
    document.add(tomlkit.nl())
    document.add("tasks", tasks)
    return tomlkit.dumps(document)


def _key_rank(item: tuple[str, Any]) -> int:
    key = item[0]
    return _KEY_ORDER.index(key) if key in _KEY_ORDER else len(_KEY_ORDER)


def _table(values: dict[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for key, value in values.items():
        table.add(key, value)
    return table


def _depends(entries: list[Any]) -> Any:
    import tomlkit

    array = tomlkit.array()
    for entry in entries:
        if isinstance(entry, dict):
            inline = tomlkit.inline_table()
            inline.update(entry)
            array.append(inline)
        else:
            array.append(entry)
    return array
