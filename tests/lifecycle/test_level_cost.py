"""What a dependency level costs (SPEC §9): a probe-less dependency with condition
`started` is met once it is launched, not after the wave's settle window, so a chain of
instant tasks starts in about one settle window, not one per level."""

from __future__ import annotations

import time

from harness import Project, project

__all__ = ["project"]


def _chain(levels: int, condition: str) -> str:
    text = '[tasks.t0]\ncommand = "sleep 300"\n'
    for n in range(1, levels):
        text += (
            f'[tasks.t{n}]\ncommand = "sleep 300"\n'
            f'depends_on = [{{task = "t{n - 1}", condition = "{condition}"}}]\n'
        )
    return text


def test_a_chain_of_started_dependencies_costs_one_settle_window(project: Project) -> None:
    from taskmux.config.project import load_project
    from taskmux.runtime.timing import Timing
    from taskmux.runtime.tmux_manager import Tmux
    from taskmux.service import ConfigInUse, Service

    project.write(_chain(4, "started"))
    service = Service(
        ConfigInUse(load_project(project.config)), Tmux(project.socket_name), timing=Timing()
    )  # the product's own pauses: a 0.4 s settle window
    service.lifecycle()  # the config read and checked: what is timed is the start
    began = time.monotonic()
    report = service.start()
    took = time.monotonic() - began
    assert report.started == ["t0", "t1", "t2", "t3"]  # type: ignore[union-attr]
    assert took < 1.0, f"4 levels took {took:.2f}s"
    rows = project.status()
    assert all(rows[f"t{n}"]["running"] for n in range(4))


def test_a_chain_of_healthy_dependencies_costs_min_uptime_per_level(project: Project) -> None:
    from taskmux.config.project import load_project
    from taskmux.runtime.timing import Timing
    from taskmux.runtime.tmux_manager import Tmux
    from taskmux.service import ConfigInUse, Service

    project.write(_chain(3, "healthy").replace('"sleep 300"\n', '"sleep 300"\nmin_uptime = 0.3\n'))
    service = Service(
        ConfigInUse(load_project(project.config)), Tmux(project.socket_name), timing=Timing()
    )
    service.lifecycle()
    began = time.monotonic()
    report = service.start()
    took = time.monotonic() - began
    assert report.started == ["t0", "t1", "t2"]  # type: ignore[union-attr]
    # Two waits of 0.3 s (+ 50 ms each), then the last wave's 0.4 s settle window.
    assert 0.6 <= took < 2 * 0.35 + 0.4 + 0.3, f"3 levels took {took:.2f}s"


def test_a_dependency_that_dies_in_its_settle_window_still_fails_the_start(
    project: Project,
) -> None:
    from taskmux.config.project import load_project
    from taskmux.runtime.timing import Timing
    from taskmux.runtime.tmux_manager import Tmux
    from taskmux.service import ConfigInUse, Service

    project.write(
        """
        [tasks.db]
        command = "exit 3"
        [tasks.app]
        command = "sleep 300"
        depends_on = [{task = "db", condition = "started"}]
        [tasks.web]
        command = "sleep 300"
        depends_on = ["app", "db"]
        """
    )
    service = Service(
        ConfigInUse(load_project(project.config)), Tmux(project.socket_name), timing=Timing.fast()
    )
    report = service.lifecycle().start()
    assert "db" in report.failed and "exited 3" in report.failed["db"]
    assert "web" in report.skipped  # it needed db healthy
