"""Holders (SPEC §13) on real tmux: another holder's stop/restart/kill fails with E307
unless forced, across processes; the holder itself may; a claim lapses after
`hold_ttl`; status and inspect show it on both read paths; `TASKMUX_HOLDER` works."""

from __future__ import annotations

import pytest
from harness import Project, project, wait_until

from taskmux.errors import HeldByOther
from taskmux.lifecycle.ensure_lean import all_kept

__all__ = ["project"]

_CONFIG = """
{ttl}
[tasks.db]
command = "sleep 300"
min_uptime = 0
[tasks.api]
command = "sleep 300"
min_uptime = 0
depends_on = ["db"]
"""


def _write(project: Project, ttl: str = "") -> None:
    project.write(_CONFIG.format(ttl=ttl))


def _holders(project: Project) -> dict[str, object]:
    return {name: row["holder"] for name, row in project.status().items()}


def test_another_process_is_refused_with_e307_until_it_forces(project: Project) -> None:
    _write(project)
    assert project.run("start", "--holder", "agent-a").returncode == 0
    assert _holders(project) == {"db": "agent-a", "api": "agent-a"}
    assert "held by agent-a" in project.run("status").stdout  # the human table

    refused = project.run("stop", "api")  # another caller, no holder
    assert refused.returncode == 1
    assert "error[E307]" in refused.stderr and "'agent-a'" in refused.stderr
    assert "--holder agent-a" in refused.stderr
    assert project.state("api") == "running"
    other = project.run("kill", "api", "--holder", "agent-b")
    assert other.returncode == 1 and "E307" in other.stderr

    forced = project.run("stop", "api", "--force")
    assert forced.returncode == 0, forced.stderr
    rows = project.status()
    assert rows["api"]["state"] == "stopped" and rows["api"]["holder"] is None
    assert rows["db"]["holder"] == "agent-a"


def test_the_holder_itself_may_act_and_taskmux_holder_names_it(project: Project) -> None:
    _write(project)
    project.env["TASKMUX_HOLDER"] = "agent-a"
    assert project.run("start").returncode == 0
    del project.env["TASKMUX_HOLDER"]
    since = project.status()["api"]["held_since"]
    assert isinstance(since, float)

    assert project.run("restart", "api").returncode == 1  # no holder: E307
    restarted = project.run("restart", "api", "--holder", "agent-a")
    assert restarted.returncode == 0, restarted.stderr
    row = project.status()["api"]
    assert row["holder"] == "agent-a" and row["held_since"] == since  # renewed, not new

    project.env["TASKMUX_HOLDER"] = "agent-a"
    assert project.run("stop").returncode == 0  # all of them, then the session
    assert project.json("status")["session_running"] is False


def test_a_lapsed_claim_no_longer_blocks(project: Project) -> None:
    _write(project, "hold_ttl = 0.5")
    assert project.run("start", "api", "--holder", "agent-a").returncode == 0
    assert _holders(project)["api"] == "agent-a"
    wait_until(lambda: _holders(project)["api"] is None, timeout=5)
    stopped = project.run("stop", "api")
    assert stopped.returncode == 0, stopped.stderr


def test_ensure_claims_what_it_keeps_but_not_over_another(project: Project) -> None:
    _write(project)
    assert project.json("ensure")["ok"] is True  # no holder: nothing recorded
    assert _holders(project) == {"db": None, "api": None}

    kept = project.json("ensure", "api", "--holder", "agent-b")  # the lean path: all kept
    assert {t["action"] for t in kept["tasks"].values()} == {"kept"}
    assert _holders(project) == {"db": "agent-b", "api": "agent-b"}

    project.env["TASKMUX_HOLDER"] = "agent-c"
    assert project.json("ensure")["ok"] is True
    assert _holders(project) == {"db": "agent-b", "api": "agent-b"}  # b's claim stands


def test_the_lean_ensure_claims_on_its_own(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(project)
    assert project.json("ensure")["ok"] is True
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", project.socket_name)
    document, _notes = all_kept(str(project.config), ["db"], "agent-l")  # no service path
    assert document["tasks"]["db"]["action"] == "kept"
    assert _holders(project) == {"db": "agent-l", "api": None}


def test_service_faces_refuse_and_both_read_paths_show_the_holder(project: Project) -> None:
    _write(project)
    assert project.run("start", "db", "--holder", "agent-a").returncode == 0
    service = project.service()

    with pytest.raises(HeldByOther, match="agent-a"):
        service.call("stop", {"tasks": ["db"]})  # as the daemon's API and MCP call it
    with pytest.raises(HeldByOther):
        service.call("restart", {"tasks": ["db"], "holder": "agent-b"})

    row = next(r for r in service.status().tasks if r["name"] == "db")
    assert row["holder"] == "agent-a" and row["held_until"] > row["held_since"]
    assert service.inspect("db").record["holder"] == "agent-a"
    assert project.json("inspect", "db")["holder"] == "agent-a"  # the lean path
    service.call("stop", {"tasks": ["db"], "force": True})
    assert project.state("db") == "stopped"


def test_a_bad_holder_name_is_a_usage_error(project: Project) -> None:
    _write(project)
    result = project.run("start", "db", "--holder", "two words")
    assert result.returncode == 2 and "E100" in result.stderr


def test_ensure_does_not_restart_a_task_another_holder_claims(project: Project) -> None:
    """A stale task held by another is left running, `failed` with E307's reason; its
    holder's own ensure restarts it."""
    _write(project)
    assert project.run("start", "--holder", "agent-a").returncode == 0
    pid = project.status()["api"]["pid"]
    project.config.write_text(project.config.read_text().replace("sleep 300", "sleep 301"))
    for who in (("--holder", "agent-b"), ()):  # another holder, and no holder at all
        refused = project.run("ensure", "api", *who, "--json")
        assert refused.returncode == 1
        assert project.status()["api"]["pid"] == pid  # agent-a's process still runs
        assert "held by 'agent-a'" in refused.stdout + refused.stderr
    owned = project.json("ensure", "api", "--holder", "agent-a")
    assert owned["tasks"]["api"]["action"] == "restarted"
    assert project.status()["api"]["pid"] != pid
