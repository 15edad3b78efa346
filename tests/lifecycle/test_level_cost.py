"""What a dependency level costs (SPEC §9): a probe-less dependency with condition
`started`, or `healthy` with `min_uptime = 0`, is met once it is launched, not after the
wave's settle window nor after a wait of its own, so a chain of instant tasks starts in
about one settle window, not one per level."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

import pytest
from harness import Project, count_tmux_reads, project
from libtmux import Server

__all__ = ["project"]


def _chain(levels: int, condition: str, extra: str = "") -> str:
    text = f'[tasks.t0]\ncommand = "sleep 300"\n{extra}'
    for n in range(1, levels):
        text += (
            f'[tasks.t{n}]\ncommand = "sleep 300"\n{extra}'
            f'depends_on = [{{task = "t{n - 1}", condition = "{condition}"}}]\n'
        )
    return text


@pytest.mark.parametrize(
    ("condition", "extra"),
    [("started", ""), ("healthy", "min_uptime = 0\n")],
    ids=["started", "healthy-without-min-uptime"],
)
def test_a_chain_of_instant_dependencies_costs_one_settle_window(
    project: Project, condition: str, extra: str
) -> None:
    from taskmux.runtime.timing import Timing

    project.write(_chain(4, condition, extra))
    settle = 2.0  # a settle window no launch of a level comes near, however loaded
    service = project.service(replace(Timing(), settle=settle))
    began = time.monotonic()
    report = service.start()
    took = time.monotonic() - began
    assert report.started == ["t0", "t1", "t2", "t3"]  # type: ignore[union-attr]
    assert took < 2 * settle + 1, f"settle windows one after another: {took:.1f}s"
    launched = _launch_times(service, 4)
    gaps = [b - a for a, b in itertools.pairwise(launched)]
    # Each level launched without waiting for the one before to settle.
    assert all(gap < settle / 2 for gap in gaps), gaps
    rows = project.status()
    assert all(rows[f"t{n}"]["running"] for n in range(4))


def test_a_chain_of_healthy_dependencies_costs_min_uptime_per_level(project: Project) -> None:
    from taskmux.runtime.timing import Timing

    project.write(_chain(3, "healthy").replace('"sleep 300"\n', '"sleep 300"\nmin_uptime = 0.3\n'))
    settle = 2.0  # a settle window no level's wait comes near, however loaded
    service = project.service(replace(Timing(), settle=settle))
    began = time.monotonic()
    report = service.start()
    took = time.monotonic() - began
    assert report.started == ["t0", "t1", "t2"]  # type: ignore[union-attr]
    assert took < 2 * settle + 1, f"settle windows one after another: {took:.1f}s"
    launched = _launch_times(service, 3)
    gaps = [b - a for a, b in itertools.pairwise(launched)]
    # A level costs its dependency's min_uptime (0.3 s), not a settle window.
    assert all(0.3 <= gap < settle / 2 for gap in gaps), gaps


def _launch_times(service: Any, levels: int) -> list[float]:
    """When tmux launched t0, t1, ... (the windows' wall stamps)."""
    tasks = service.observe().tasks
    stamps = [tasks[f"t{n}"].started_at for n in range(levels)]
    assert None not in stamps, stamps
    return [float(stamp) for stamp in stamps]


def test_a_dependency_that_dies_in_its_settle_window_still_fails_the_start(
    project: Project,
) -> None:
    from taskmux.runtime.timing import Timing

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
    service = project.service(Timing.fast())
    report = service.lifecycle().start()
    assert "db" in report.failed and "exited 3" in report.failed["db"]
    assert "web" in report.skipped  # it needed db healthy


def test_a_level_of_instant_dependencies_waits_for_none_of_them(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight probe-less dependencies with nothing to stay up for: their dependent is
    launched once tmux runs them, without a wait (a tmux read loop) per dependency."""
    from taskmux.lifecycle import start

    waited: list[str] = []
    real_wait = start.wait_dependency

    def counted(*args: object, **kwargs: object) -> str | None:
        waited.append(str(args[2]))
        return real_wait(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(start, "wait_dependency", counted)
    deps = [f"d{n}" for n in range(8)]
    text = "".join(f'[tasks.{d}]\ncommand = "sleep 300"\nmin_uptime = 0\n' for d in deps)
    text += '[tasks.slow]\ncommand = "sleep 300"\nmin_uptime = 0.2\n'
    text += f'[tasks.app]\ncommand = "sleep 300"\nmin_uptime = 0\ndepends_on = {deps!r}\n'.replace(
        "'", '"'
    )
    text += '[tasks.web]\ncommand = "sleep 300"\ndepends_on = ["app", "slow"]\n'
    project.write(text)
    result = project.json("start")
    assert sorted(result["started"]) == sorted([*deps, "slow", "app", "web"])
    assert waited == ["slow"]  # only the one with a min_uptime to wait out


def test_an_instant_healthy_dependency_that_dies_at_once_still_fails_the_start(
    project: Project,
) -> None:
    """Met at its launch like `started`: its dependent runs, and its own death in the
    settle window is still a failed start, named as such."""
    project.write(
        """
        [tasks.db]
        command = "exit 3"
        min_uptime = 0
        [tasks.app]
        command = "sleep 300"
        depends_on = ["db"]
        """
    )
    result = project.json("start")
    assert "db" in result["failed"] and "exited 3" in result["failed"]["db"]
    assert result["started"] == ["app"]


def _service(project: Project) -> Any:
    from taskmux.runtime.timing import Timing

    return project.service(Timing.fast())


def _count_launches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    from taskmux.runtime.tmux_manager import Tmux

    launches: list[list[str]] = []
    real = Tmux.launch

    def counted(self: Tmux, session: str, specs: Any, *args: Any, **kwargs: Any) -> dict[str, int]:
        specs = list(specs)
        launches.append([spec.task for spec in specs])
        return real(self, session, specs, *args, **kwargs)

    monkeypatch.setattr(Tmux, "launch", counted)
    return launches


@pytest.mark.parametrize(
    ("hook", "expected"),
    [("", [["t0", "t1", "t2", "t3"]]), ("[tasks.t2.hooks]\nbefore_start = 'true'\n", None)],
    ids=["chained", "a-before-start-hook-waits-for-its-dependency"],
)
def test_a_chain_of_instant_tasks_is_one_tmux_launch_in_dependency_order(
    project: Project, monkeypatch: pytest.MonkeyPatch, hook: str, expected: list[list[str]] | None
) -> None:
    project.write(_chain(4, "healthy", "min_uptime = 0\n") + hook)
    launches = _count_launches(monkeypatch)
    report = _service(project).start()
    assert report.started == ["t0", "t1", "t2", "t3"]
    # A task whose before_start hook runs must find its dependency running already.
    assert launches == (expected or [["t0", "t1"], ["t2", "t3"]])
    windows = Server(socket_name=project.socket_name).cmd(
        "list-windows", "-a", "-F", "#{window_index} #{window_name}"
    )
    order = {name: int(index) for index, name in (line.split() for line in windows.stdout)}
    assert order["t0"] < order["t1"] < order["t2"] < order["t3"]  # tmux started them in order


def test_a_chained_dependency_that_cannot_launch_holds_its_dependents_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        """
        [tasks.db]
        command = "sleep 300"
        cwd = "missing"
        [tasks.app]
        command = "sleep 300"
        depends_on = [{task = "db", condition = "started"}]
        [tasks.web]
        command = "sleep 300"
        min_uptime = 0
        [tasks.api]
        command = "sleep 300"
        depends_on = [{task = "app", condition = "started"}, "web"]
        """
    )
    launches = _count_launches(monkeypatch)
    report = _service(project).lifecycle().start()
    assert "does not exist" in report.failed["db"]
    assert report.skipped["app"].startswith("dependency 'db' failed to start")
    assert report.skipped["api"] == "dependency 'app' was skipped"
    assert report.started == ["web"]
    assert launches == [["web"]]  # app and api were in db's wave, and held back
    assert not project.status()["app"]["running"]


def test_a_settle_window_reads_tmux_once_not_every_poll(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel tells the start when a pane process ends (a pidfd): tmux is read once at
    the window's end, not every `settle_poll` through it; a death in the window still
    makes a failed start, and a one-shot that ends in it ends the wait at once."""
    from dataclasses import replace

    from taskmux.runtime import timing

    monkeypatch.setattr(timing, "DEFAULT", replace(timing.DEFAULT, settle=1.0, settle_poll=0.02))
    reads = count_tmux_reads(monkeypatch)
    project.write('[tasks.api]\ncommand = "sleep 300"\n')
    began = time.monotonic()
    assert project.json("start")["started"] == ["api"]
    assert time.monotonic() - began >= 1.0  # the whole window was waited
    during = [t for t in reads if t - began > 0.05]
    assert len(during) <= 3, f"{len(during)} tmux reads (polling would make ~50)"

    monkeypatch.setattr(timing, "DEFAULT", replace(timing.DEFAULT, settle=20.0))
    project.write('[tasks.api]\ncommand = "sleep 300"\n[tasks.setup]\ncommand = "true"\n')
    began = time.monotonic()
    report = project.json("start", "setup")
    assert report["completed"] == ["setup"]
    assert time.monotonic() - began < 15, "a one-shot's exit did not end the window"

    project.write(
        '[tasks.api]\ncommand = "sleep 300"\n[tasks.bad]\ncommand = "sleep 0.3; exit 3"\n'
    )
    report = project.json("start", "bad")
    assert report["ok"] is False and "bad" in report["failed"], report
