"""Groups, replicas and `scale` from the CLI on a private tmux server (SPEC §15)."""

from __future__ import annotations

from harness import Project, project, wait_until

__all__ = ["project"]

STACK = """
[groups]
backend = ["db", "api"]

[tasks.db]
command = "exec sleep 300"
stop_grace_period = 0.5
min_uptime = 0.2  # api waits for it

[tasks.api]
command = "exec sleep 300"
depends_on = ["db"]
stop_grace_period = 0.5

[tasks.web]
# the web servers
command = "echo replica $TASKMUX_REPLICA on $PORT; exec sleep 300"
port = "auto"
replicas = 3  # scaled by hand
stop_grace_period = 0.5
auto_start = false
"""


def test_start_at_group_starts_just_its_tasks_in_order(project: Project) -> None:
    project.write(STACK)
    report = project.json("start", "@backend")
    assert report["started"] == ["db", "api"]
    states = {name: row["state"] for name, row in project.status().items()}
    assert states["web-1"] == "not started"
    unknown = project.run("stop", "@front")
    assert unknown.returncode == 2
    assert "error[E118]" in unknown.stderr and "@backend" in unknown.stderr


def test_replicas_run_on_their_own_ports_and_scale_stops_the_surplus(project: Project) -> None:
    project.write(STACK)
    assert project.json("start", "web")["started"] == ["web-1", "web-2", "web-3"]
    rows = project.status()
    ports = {rows[f"web-{n}"]["port"] for n in (1, 2, 3)}
    assert len(ports) == 3 and None not in ports
    wait_until(lambda: "replica 3 on" in project.run("logs", "web-3").stdout)
    # The lean path hands what it cannot name to the service: both print the same.
    for args in (("logs", "web", "-n", "5"), ("logs", "@backend", "--json")):
        lean, full = project.run(*args), project.run(*args, "--")
        assert (lean.returncode, lean.stdout, lean.stderr) == (
            full.returncode,
            full.stdout,
            full.stderr,
        ), args
    result = project.json("scale", "web", "1")
    assert (result["stopped"], result["instances"]) == (["web-2", "web-3"], ["web-1"])
    assert "replicas = 1  # scaled by hand" in project.config.read_text()
    assert "# the web servers" in project.config.read_text()
    rows = project.status()
    assert "web-2" not in rows and rows["web-1"]["state"] == "running"
    assert project.json("scale", "web", "2")["started"] == ["web-2"]


def test_status_shows_the_tasks_named(project: Project) -> None:
    project.write(STACK)
    assert project.run("start", "@backend").returncode == 0

    def names(*args: str) -> list[str]:
        return [row["name"] for row in project.json("status", *args)["tasks"]]

    assert names("@backend") == ["db", "api"]
    assert names("web") == ["web-1", "web-2", "web-3"]
    assert names("api", "db") == ["db", "api"]  # in the table's order
    # A plain name is read on the lean path, a group by the service: the same rows.
    for args in (("status", "api", "--json"), ("status", "@backend", "--json")):
        lean, full = project.run(*args), project.run(*args, "--")
        assert lean.returncode == full.returncode == 0
        assert _without_uptime(lean.stdout) == _without_uptime(full.stdout), args
    for unknown in ("nope", "@front"):
        result = project.run("status", unknown)
        assert result.returncode == 2 and ("E201" in result.stderr or "E118" in result.stderr)


def _without_uptime(text: str) -> list[dict[str, object]]:
    import json

    rows: list[dict[str, object]] = json.loads(text)["tasks"]
    return [{k: v for k, v in row.items() if k != "uptime"} for row in rows]
