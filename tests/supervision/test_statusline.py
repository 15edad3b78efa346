"""The session's status line: one coloured tag per task, set on the taskmux session
only (a private tmux server: another session's and the global options stay as they were)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from libtmux import Server
from test_histories import T0, FakeProject, _config

from taskmux.runtime.tmux_manager import Observation, Tmux
from taskmux.supervision.seam import LifecycleSeam
from taskmux.supervision.statusline import StatusLine, tags

CONFIG = """
[tasks.api]
command = "api"
[tasks.web]
command = "web"
health_check = "probe"
[tasks.worker]
command = "worker"
[tasks.job]
command = "job"
[tasks.never]
command = "never"
"""


def _observation() -> tuple[FakeProject, Observation]:
    fake = FakeProject(_config(CONFIG), [T0])
    for name in ("api", "web", "worker", "job"):
        fake.run(name)
    fake.die("worker", status=1)
    fake._mark("worker", gave_up=True)
    fake.die("job", status=0)
    return fake, fake.observe()


def test_each_task_gets_its_tag() -> None:
    fake, observation = _observation()
    text = tags(fake.config, observation, T0 + 0.1)
    assert text == (
        "#[fg=green]●api #[fg=yellow]◐web #[fg=red]✗worker #[fg=colour244]○job "
        "#[fg=colour244]○never#[default] "
    )
    web = observation.tasks["web"]
    health = SimpleNamespace(unhealthy=True, healthy=False)
    observation.tasks["web"] = replace(web, health=health)  # type: ignore[arg-type]
    assert "#[fg=magenta]▲web" in tags(fake.config, observation, T0 + 0.1)


def _option(server: Server, *args: str) -> str:
    return "\n".join(server.cmd("show-options", *args, "status-right").stdout)


def test_only_the_taskmux_session_status_line_changes(server: Server) -> None:
    server.new_session("mine")
    server.new_session("other")
    global_before, other_before = _option(server, "-g"), _option(server, "-t", "other")
    fake, observation = _observation()
    seam: Any = LifecycleSeam(SimpleNamespace(tmux=Tmux.from_server(server)))  # type: ignore[arg-type]
    fake.set_status_line = seam.set_status_line  # the real tmux call, on the fake's project
    line = StatusLine()
    line.show(fake, replace(observation, session="mine"), T0 + 5)  # type: ignore[arg-type]
    assert "●api" in _option(server, "-t", "mine") and "✗worker" in _option(server, "-t", "mine")
    assert _option(server, "-g") == global_before
    assert _option(server, "-t", "other") == other_before
    line.clear(fake)  # type: ignore[arg-type]
    assert _option(server, "-t", "mine") == ""  # unset: the global line shows again
    assert _option(server, "-g") == global_before
