"""Table tests of the pure reload decision: the config diff and the plan built from it."""

from __future__ import annotations

from typing import Any

import pytest

from taskmux.config.reload import ConfigDiff, ReloadPlan, diff, plan
from taskmux.config.schema import Hooks, ProjectConfig, TaskConfig


def config(name: str = "proj", auto_start: bool = True, **tasks: Any) -> ProjectConfig:
    """A config whose tasks are given as NAME=command or NAME=TaskConfig."""
    built = {
        task: body if isinstance(body, TaskConfig) else TaskConfig(command=body)
        for task, body in tasks.items()
    }
    return ProjectConfig(name=name, auto_start=auto_start, tasks=built)


BASE = config(web="serve", worker="work", db="postgres")


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        pytest.param(BASE, ConfigDiff(unchanged=("web", "worker", "db")), id="identical"),
        pytest.param(
            config(web="serve", worker="work", db="postgres", cache="redis"),
            ConfigDiff(added=("cache",), unchanged=("web", "worker", "db")),
            id="added",
        ),
        pytest.param(
            config(web="serve", db="postgres"),
            ConfigDiff(removed=("worker",), unchanged=("web", "db")),
            id="removed",
        ),
        pytest.param(
            config(web="serve --port 2", worker="work", db="postgres"),
            ConfigDiff(changed=("web",), unchanged=("worker", "db")),
            id="command changed",
        ),
        pytest.param(
            config(
                web=TaskConfig(command="serve", health_interval=3.0), worker="work", db="postgres"
            ),
            ConfigDiff(changed=("web",), unchanged=("worker", "db")),
            id="non-command key changed",
        ),
        pytest.param(
            config(
                web=TaskConfig(command="serve", hooks=Hooks(before_start="true")),
                worker="work",
                db="postgres",
            ),
            ConfigDiff(changed=("web",), unchanged=("worker", "db")),
            id="task hook changed",
        ),
        pytest.param(
            config(db="postgres", worker="work", web="serve"),
            ConfigDiff(unchanged=("db", "worker", "web")),
            id="reordered only",
        ),
        pytest.param(
            config(web=TaskConfig(command="serve", watch=["src/**"]), worker="work", db="pg"),
            ConfigDiff(changed=("db",), unchanged=("worker",), in_place=("web",)),
            id="watch settings apply in place",
        ),
        pytest.param(
            config(
                web=TaskConfig(command="serve2", watch=["src/**"], watch_cmd="make"),
                worker="work",
                db="postgres",
            ),
            ConfigDiff(changed=("web",), unchanged=("worker", "db")),
            id="watch and command changed: a restart",
        ),
        pytest.param(
            config(name="other", web="serve", worker="work", db="postgres"),
            ConfigDiff(unchanged=("web", "worker", "db"), top_level=("name",)),
            id="session renamed",
        ),
        pytest.param(
            ProjectConfig(name="proj", hooks=Hooks(after_start="echo hi"), tasks=BASE.tasks),
            ConfigDiff(unchanged=("web", "worker", "db"), top_level=("hooks",)),
            id="global hook changed",
        ),
        pytest.param(
            config(web="serve2", cache="redis"),
            ConfigDiff(added=("cache",), removed=("worker", "db"), changed=("web",)),
            id="everything at once",
        ),
        pytest.param(
            config(web=TaskConfig(command="serve", env={"A": "1"}), worker="work", db="postgres"),
            ConfigDiff(changed=("web",), unchanged=("worker", "db")),
            id="task env changed",
        ),
        pytest.param(
            ProjectConfig(name="proj", env={"A": "1"}, tasks=BASE.tasks),
            ConfigDiff(changed=("web", "worker", "db"), top_level=("env",)),
            id="top-level env: every task",
        ),
        pytest.param(
            ProjectConfig(name="proj", env_file=".env", tasks=BASE.tasks),
            ConfigDiff(changed=("web", "worker", "db"), top_level=("env_file",)),
            id="top-level env_file: every task",
        ),
    ],
)
def test_diff(new: ProjectConfig, expected: ConfigDiff) -> None:
    assert diff(BASE, new) == expected


def test_diff_flags() -> None:
    assert diff(BASE, BASE).is_empty
    assert not diff(BASE, config(web="x", worker="work", db="postgres")).is_empty
    assert diff(BASE, config(name="x", **BASE.tasks)).session_changed
    assert diff(BASE, config(web="x")).to_dict() == {
        "added": [],
        "removed": ["worker", "db"],
        "changed": ["web"],
        "unchanged": [],
        "top_level": [],
        "in_place": [],
    }


MANUAL = TaskConfig(command="tool", auto_start=False)


@pytest.mark.parametrize(
    ("new", "running", "expected"),
    [
        pytest.param(BASE, {"web", "worker", "db"}, ReloadPlan(), id="nothing changed"),
        pytest.param(
            config(web="serve2", worker="work2", db="postgres"),
            {"web", "db"},
            ReloadPlan(restart=("web",)),
            id="only running changed tasks restart",
        ),
        pytest.param(
            config(web=TaskConfig(command="serve", watch=["*.py"]), worker="work", db="postgres"),
            {"web", "worker", "db"},
            ReloadPlan(),
            id="new watch settings: the running task keeps its process",
        ),
        pytest.param(
            config(web="serve", worker="work"),
            {"web", "worker", "db"},
            ReloadPlan(stop=("db",)),
            id="removed running task stops",
        ),
        pytest.param(
            config(web="serve", worker="work"),
            {"web"},
            ReloadPlan(),
            id="removed stopped task: nothing to stop",
        ),
        pytest.param(
            config(web="serve", worker="work", db="postgres", cache="redis", tool=MANUAL),
            {"web"},
            ReloadPlan(start=("cache",)),
            id="added auto_start task starts, manual one does not",
        ),
        pytest.param(
            config(web="serve", worker="work", db="postgres", cache="redis"),
            set(),
            ReloadPlan(),
            id="project down: added task waits for start",
        ),
        pytest.param(
            config(auto_start=False, web="serve", worker="work", db="postgres", cache="redis"),
            {"web"},
            ReloadPlan(),
            id="top-level auto_start off: added task waits",
        ),
        pytest.param(
            config(name="renamed", web="serve", worker="work", db="postgres", cache="redis"),
            {"web", "db"},
            ReloadPlan(start=("web", "db", "cache"), end_old_session=True),
            id="session renamed: running tasks move",
        ),
        pytest.param(
            config(name="renamed", web="serve", worker="work", db="postgres"),
            set(),
            ReloadPlan(),
            id="session renamed while down",
        ),
        pytest.param(
            config(web="serve2", db="postgres", cache="redis"),
            {"web", "worker", "db"},
            ReloadPlan(stop=("worker",), restart=("web",), start=("cache",)),
            id="all three",
        ),
    ],
)
def test_plan(new: ProjectConfig, running: set[str], expected: ReloadPlan) -> None:
    assert plan(diff(BASE, new), new, running) == expected


def test_plan_is_empty() -> None:
    assert ReloadPlan().is_empty
    assert not ReloadPlan(end_old_session=True).is_empty
    assert not ReloadPlan(stop=("a",)).is_empty
