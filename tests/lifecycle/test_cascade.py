"""Cascading restarts and the graph: who follows a restart (pure), a real cascade after
the dependency is ready again, and `graph` with its critical chain."""

from __future__ import annotations

import tomllib
from textwrap import dedent

from harness import Project, project  # noqa: F401  (project is a fixture)

from taskmux.config.models import validate_config
from taskmux.config.schema import ProjectConfig
from taskmux.lifecycle.cascade import dependents_to_restart
from taskmux.lifecycle.graph import critical_chain, ready_times

STACK = """
[tasks.db]
command = "sleep 30"
health_check = "true"
health_interval = 0.2
[tasks.migrate]
command = "true"
depends_on = [{task = "db", condition = "healthy"}]
[tasks.api]
command = "sleep 30"
health_check = "true"
health_interval = 0.2
depends_on = ["db", {task = "migrate", condition = "completed_successfully"}]
[tasks.web]
command = "sleep 30"
depends_on = [{task = "api", condition = "started"}]
[tasks.docs]
command = "sleep 30"
"""


def _config(text: str) -> ProjectConfig:
    config, problems = validate_config(tomllib.loads(dedent(text)))
    assert config is not None, problems
    return config


def test_who_follows_a_restart() -> None:
    config = _config(STACK)
    assert dependents_to_restart(config, ["db"]) == ["migrate", "api", "web"]
    assert dependents_to_restart(config, ["api"]) == ["web"]
    assert dependents_to_restart(config, ["migrate"]) == []  # api only waited for it to complete
    assert dependents_to_restart(config, ["docs"]) == []


def test_ready_times_and_the_critical_chain() -> None:
    records = [
        {"ts": 1.0, "event": "started", "task": "db"},
        {"ts": 3.0, "event": "ready", "task": "db", "after": 2.0},
        {"ts": 3.1, "event": "started", "task": "api"},
        {"ts": 3.6, "event": "ready", "task": "api", "after": 0.5},
        {"ts": 9.0, "event": "started", "task": "db"},  # a new start: its readiness not seen yet
        {"ts": 3.6, "event": "ready", "task": "docs", "after": 9.0},  # never started: ignored
    ]
    times = ready_times(records)
    assert times == {"api": 0.5}
    graph = {"db": [], "api": ["db"], "web": ["api"], "docs": []}
    assert critical_chain(graph, {"db": 2.0, "api": 0.5, "docs": 2.4}) == (
        ["db", "api", "web"],  # web's time is not known: the longer chain of equal time
        "time",
        2.5,
    )
    assert critical_chain(graph, {}) == (["db", "api", "web"], "depth", None)


def test_restart_cascade_restarts_the_dependents_once_it_is_ready(project: Project) -> None:  # noqa: F811
    project.write(STACK)
    assert project.run("start").returncode == 0, project.run("status").stdout
    before = project.status()
    report = project.json("restart", "db", "--cascade")
    assert report["ok"] and report["cascaded"] == ["migrate", "api", "web"]
    after = project.status()
    for name in ("db", "api", "web"):
        assert after[name]["pid"] != before[name]["pid"], name
    assert after["docs"]["pid"] == before["docs"]["pid"]
    events = [(e["event"], e.get("task")) for e in project.events()]
    cascade = events.index(("cascade", None))
    assert ("ready", "db") in events[:cascade]  # only once db was ready again
    assert events.index(("started", "api"), cascade) > cascade
    graph = project.json("graph")
    assert graph["critical_chain"][0] == "db"
    rows = {row["name"]: row for row in graph["tasks"]}
    assert rows["db"]["ready_after"] is not None
    assert rows["api"]["depends_on"][0] == {"task": "db", "condition": "healthy"}
    text = project.run("graph").stdout
    assert "api <- db (healthy), migrate (completed_successfully)" in text
    assert "critical chain by time: db" in text
    assert project.run("graph", "--dot").stdout.startswith("digraph taskmux {")


def test_restart_dependents_cascades_a_plain_restart(project: Project) -> None:  # noqa: F811
    project.write(
        STACK.replace(
            "health_interval = 0.2\n[tasks.migrate]",
            "health_interval = 0.2\nrestart_dependents = true\n[tasks.migrate]",
        )
    )
    assert project.run("start").returncode == 0
    assert project.json("restart", "db")["cascaded"] == ["migrate", "api", "web"]
    assert "cascaded" not in project.json("restart", "docs")
