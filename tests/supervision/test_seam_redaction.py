"""A supervisor's events about a task (a failed check's output) hide its secrets."""

from __future__ import annotations

from harness import Project, project

from taskmux.config.project import load_project
from taskmux.service import Service
from taskmux.supervision.seam import LifecycleSeam

__all__ = ["project"]


def test_a_failed_checks_output_reaches_the_events_redacted(project: Project) -> None:
    project.write(
        '[tasks.a]\ncommand = "sleep 300"\n'
        'health_check = "curl -u admin:$API_TOKEN http://127.0.0.1:1/"\n'
        '[tasks.a.env]\nAPI_TOKEN = "tok-abcdef123456"\n'
    )
    lifecycle = Service.for_project(load_project(project.config)).lifecycle()
    LifecycleSeam(lifecycle).record(
        "health_failed", "a", failures=3, output="401 for admin:tok-abcdef123456", reason="x"
    )
    events = [e for e in project.events() if e["event"] == "health_failed"]
    assert events and events[-1]["output"] == "401 for admin:[redacted:API_TOKEN]"
    assert "tok-abcdef123456" not in project.paths.events.read_text()
