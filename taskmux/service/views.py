"""Two read-only views the dashboard shows (and the API and MCP offer): each running
task's CPU and memory, and the effective config with its secrets redacted.

CPU is a rate, so it needs two looks: `UsageMeter` keeps the psutil handles of the
processes it saw, and each call reports the CPU used since the previous call (the first
call, or a process first seen, reports 0). One meter lives in the Service, so every face
shares it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskmux.logs.redact import looks_secret

FRESH = 1.0  # seconds a look is reused for (see UsageMeter.measure)

if TYPE_CHECKING:
    import psutil

    from taskmux.config.project import Project
    from taskmux.service.results import StatusResult
    from taskmux.statedir.paths import ProjectPaths


@dataclass(frozen=True)
class TaskUsage:
    task: str
    cpu_percent: float  # of one core, the task's whole process tree, since the last look
    memory_bytes: int  # resident memory of the tree
    processes: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class UsageResult:
    tasks: tuple[TaskUsage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": [usage.to_dict() for usage in self.tasks]}


@dataclass(frozen=True)
class ConfigView:
    path: str
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "config": self.config}


class UsageMeter:
    """The CPU and memory of each running task's process tree (psutil, one scan)."""

    def __init__(self, fresh: float = FRESH) -> None:
        self._handles: dict[tuple[int, float], psutil.Process] = {}
        self._lock = threading.Lock()
        self._fresh = fresh
        self._last: tuple[float, UsageResult] | None = None

    def measure(
        self, status: Callable[[], StatusResult], paths: ProjectPaths, now: float
    ) -> UsageResult:
        """Each running task's usage; a look younger than `fresh` seconds is reused, so
        many tabs polling cost the daemon one scan."""
        with self._lock:
            if self._last is not None and now - self._last[0] < self._fresh:
                return self._last[1]
            result = self._measure(status(), paths)
            self._last = (now, result)
            return result

    def _measure(self, status: StatusResult, paths: ProjectPaths) -> UsageResult:
        from taskmux.runtime.procs import ProcessTable

        table = ProcessTable.scan(markers=True)
        seen: set[tuple[int, float]] = set()
        found = []
        for row in status.tasks:
            if not row.get("running"):
                continue
            name = str(row["name"])
            pid = row.get("pid")
            members = table.members(pid if isinstance(pid, int) else None, paths.marker(name))
            cpu, memory = 0.0, 0
            for proc in members:
                key = (proc.pid, proc.start)
                seen.add(key)
                sample = self._sample(key)
                cpu, memory = cpu + sample[0], memory + sample[1]
            found.append(TaskUsage(name, round(cpu, 1), memory, len(members)))
        for gone in set(self._handles) - seen:
            del self._handles[gone]
        return UsageResult(tuple(found))

    def _sample(self, key: tuple[int, float]) -> tuple[float, int]:
        import psutil

        try:
            handle = self._handles.get(key)
            if handle is None:
                handle = self._handles[key] = psutil.Process(key[0])
                handle.cpu_percent(None)  # the baseline: the next look reports a rate
                return 0.0, int(handle.memory_info().rss)
            return float(handle.cpu_percent(None)), int(handle.memory_info().rss)
        except psutil.Error:
            return 0.0, 0


def _redact_env(env: Any, listed: set[str]) -> Any:
    if not isinstance(env, dict):
        return env
    return {
        name: f"[redacted:{name}]" if name in listed or looks_secret(name, str(value)) else value
        for name, value in env.items()
    }


def config_view(project: Project) -> ConfigView:
    """The config in use (defaults filled in, local overrides merged), with the values of
    secret variables (named in `secrets`, or named like one) replaced by `[redacted:NAME]`."""
    data: dict[str, Any] = dataclasses.asdict(project.config)
    shared = set(data.get("secrets") or ())
    data["env"] = _redact_env(data.get("env"), shared)
    for task in (data.get("tasks") or {}).values():
        task["env"] = _redact_env(task.get("env"), shared | set(task.get("secrets") or ()))
    return ConfigView(str(project.path), data)
