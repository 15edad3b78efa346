"""The schema of taskmux.toml: every key, every default, every validation rule.

Validation never stops at the first problem: `validate_config` returns all of them, so
`taskmux check` can report everything in one go and loading can name the first.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskmux.deps import find_cycle
from taskmux.errors import Problem

TASK_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")

RestartPolicy = Literal["no", "on-failure", "always"]

# Stable codes for config problems.
E_TOML = "E110"
E_MISSING = "E111"
E_TYPE = "E112"
E_RANGE = "E113"
E_UNKNOWN_DEP = "E114"
E_CYCLE = "E115"
E_TASK_NAME = "E116"
W_UNKNOWN_KEY = "W117"
E_SESSION_NAME = "E118"


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="allow")


class Hooks(_Strict):
    """Shell commands run around starting and stopping (globally or for one task)."""

    before_start: str | None = None
    after_start: str | None = None
    before_stop: str | None = None
    after_stop: str | None = None


class TaskConfig(_Strict):
    """One `[tasks.NAME]` table."""

    command: str = Field(min_length=1)
    auto_start: bool = True
    cwd: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    health_check: str | None = None
    health_interval: float = Field(default=10.0, gt=0)
    health_timeout: float = Field(default=5.0, gt=0)
    health_retries: int = Field(default=3, ge=1)
    stop_grace_period: float = Field(default=5.0, ge=0)
    restart_policy: RestartPolicy = "on-failure"
    max_restarts: int = Field(default=5, ge=0)
    restart_backoff: float = Field(default=2.0, ge=1)
    depends_on: list[str] = Field(default_factory=list)
    hooks: Hooks = Field(default_factory=Hooks)


class ProjectConfig(_Strict):
    """The whole file. `tasks` keeps the file's order."""

    name: str = "taskmux"
    auto_start: bool = True
    log_max_size_mb: float = Field(default=10.0, gt=0)
    log_backups: int = Field(default=3, ge=0)
    hooks: Hooks = Field(default_factory=Hooks)
    tasks: dict[str, TaskConfig] = Field(default_factory=dict)

    def graph(self) -> dict[str, list[str]]:
        return {name: list(task.depends_on) for name, task in self.tasks.items()}


def _problem_code(error_type: str) -> str:
    if error_type == "missing":
        return E_MISSING
    if error_type in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return E_RANGE
    if error_type == "string_too_short":
        return E_RANGE
    return E_TYPE


def _describe(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    message = str(error["msg"])
    message = message[0].lower() + message[1:]
    message = message.replace("input should be", "must be")
    return f"{message} (got {error['input']!r})"


def _field_problems(exc: ValidationError, task: str | None) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
        key = ".".join(loc) if loc else None
        problems.append(Problem(_problem_code(error["type"]), _describe(error), task=task, key=key))
    return problems


def _unknown_keys(model: BaseModel, task: str | None, prefix: str = "") -> list[Problem]:
    problems = [
        Problem(W_UNKNOWN_KEY, "unknown key (ignored)", "warning", task=task, key=prefix + key)
        for key in (model.model_extra or {})
    ]
    for field_name in type(model).model_fields:
        value = getattr(model, field_name)
        if isinstance(value, Hooks):
            problems += _unknown_keys(value, task, f"{prefix}{field_name}.")
    return problems


def validate_config(raw: dict[str, Any]) -> tuple[ProjectConfig | None, list[Problem]]:
    """Check a parsed TOML document; return the model (None if any error) and all problems."""
    problems: list[Problem] = []
    raw_tasks = raw.get("tasks", {})
    top = {k: v for k, v in raw.items() if k != "tasks"}
    project: ProjectConfig | None = None
    try:
        project = ProjectConfig.model_validate(top)
        problems += _unknown_keys(project, None)
        if not SESSION_NAME_RE.match(project.name):
            problems.append(
                Problem(
                    E_SESSION_NAME,
                    f"session name {project.name!r} may only hold letters, digits, '-' and '_'",
                    key="name",
                )
            )
    except ValidationError as exc:
        problems += _field_problems(exc, None)

    if not isinstance(raw_tasks, dict):
        problems.append(Problem(E_TYPE, "must be a table of [tasks.NAME] tables", key="tasks"))
        raw_tasks = {}

    tasks: dict[str, TaskConfig] = {}
    for name, body in raw_tasks.items():
        if not TASK_NAME_RE.match(name):
            problems.append(
                Problem(
                    E_TASK_NAME,
                    "task names may only hold letters, digits, '-' and '_', and must start "
                    "with a letter or '_'",
                    task=name,
                )
            )
        if not isinstance(body, dict):
            problems.append(Problem(E_TYPE, "must be a table", task=name))
            continue
        try:
            task = TaskConfig.model_validate(body)
        except ValidationError as exc:
            problems += _field_problems(exc, name)
            continue
        problems += _unknown_keys(task, name)
        tasks[name] = task

    for name, task in tasks.items():
        for dep in task.depends_on:
            if dep == name:
                problems.append(
                    Problem(E_CYCLE, "a task cannot depend on itself", task=name, key="depends_on")
                )
            elif dep not in raw_tasks:
                problems.append(
                    Problem(
                        E_UNKNOWN_DEP,
                        f"depends on unknown task '{dep}'",
                        task=name,
                        key="depends_on",
                    )
                )
    graph = {n: [d for d in t.depends_on if d != n] for n, t in tasks.items()}
    cycle = find_cycle(graph)
    if cycle:
        problems.append(
            Problem(
                E_CYCLE,
                "dependency cycle: " + " → ".join(cycle),
                task=cycle[0],
                key="depends_on",
            )
        )

    if project is None or any(p.severity == "error" for p in problems):
        return None, problems
    return project.model_copy(update={"tasks": tasks}), problems
