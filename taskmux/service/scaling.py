"""`scale TASK N`: the file edit, then the difference applied to what runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskmux.errors import TaskNotFound

if TYPE_CHECKING:
    from taskmux.service import Service


@dataclass(frozen=True)
class ScaleResult:
    """What `scale` wrote and did."""

    task: str
    replicas: int
    config: str
    instances: tuple[str, ...]
    started: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "replicas": self.replicas,
            "config": self.config,
            "instances": list(self.instances),
            "started": list(self.started),
            "stopped": list(self.stopped),
        }


def scale(service: Service, task: str, replicas: int) -> ScaleResult:
    """Write `replicas`, stop the instances it drops, and (when an instance of the task
    runs) start the new ones, in the new config."""
    from taskmux.config.editing import set_replicas
    from taskmux.interop.agents import refresh_for

    project = service.project
    config = project.config
    if task not in config.instances and task not in config.tasks:
        raise TaskNotFound(f"task '{task}' not found in {project.path.name}")
    before = config.instances.get(task, [task])
    observed = service.observe().tasks
    running = [name for name in before if name in observed and observed[name].is_alive]
    old = service.lifecycle()
    new_project = set_replicas(project.path, task, replicas, refresh_for)
    after = new_project.config.instances.get(task, [task])
    dropped = [name for name in before if name not in after]
    stopped = [name for name in dropped if name in running]
    if stopped:
        old.stop(stopped, hooks=False)
    for name in dropped:
        if name in observed:
            old.kill_if_present(name)  # its window goes with the task
    service.config.replace(new_project)
    added = [name for name in after if name not in before]
    started: tuple[str, ...] = ()
    if running and added:
        report = service.lifecycle().start(added)
        started = tuple(report.started)
    return ScaleResult(task, replicas, str(new_project.path), tuple(after), started, tuple(stopped))
