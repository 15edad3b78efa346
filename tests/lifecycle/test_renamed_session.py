"""A session renamed by hand is still the project's (issue 23, item 8): found by its tag,
never doubled; renamed back when its name is free, used as it is when not."""

from __future__ import annotations

from harness import Project, project

__all__ = ["project"]


def _sessions(project: Project) -> list[str]:
    return sorted(project.tmux("list-sessions", "-F", "#{session_name}").stdout.split())


def _pids(project: Project) -> dict[str, int]:
    return {name: row["pid"] for name, row in project.status().items()}


def test_a_renamed_session_is_found_and_renamed_back(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n[tasks.b]\ncommand = "sleep 300"\n')
    assert project.run("start").returncode == 0
    before = _pids(project)
    assert project.tmux("rename-session", "-t", f"={project.session}", "mine").returncode == 0

    document = project.json("status")  # a read uses it as it is, and says so
    assert document["session"] == "mine" and document["session_running"]
    assert {r["name"]: r["pid"] for r in document["tasks"]} == before
    assert "renamed from" in document["session_notes"][0]
    assert "renamed from" in " ".join(project.run("status").stdout.split())

    assert project.run("start").returncode == 0  # nothing doubled: both already run
    assert _sessions(project) == [project.session]  # and its name is back
    assert _pids(project) == before
    assert "session_notes" not in project.json("status")
    renamed = [e for e in project.events() if e["event"] == "session_renamed"]
    assert renamed and renamed[0]["was"] == "mine"


def test_a_renamed_session_whose_name_is_taken_is_used_as_it_is(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n')
    assert project.run("start").returncode == 0
    before = _pids(project)
    project.tmux("rename-session", "-t", f"={project.session}", "mine")
    project.tmux("new-session", "-d", "-s", project.session)  # a person's, by that name

    assert project.run("start").returncode == 0  # not E305, not a second copy
    assert _sessions(project) == sorted(["mine", project.session])
    assert _pids(project) == before
    (note,) = project.json("status")["session_notes"]
    assert "'mine'" in note and "taken" in note
    assert project.run("stop").returncode == 0
    assert _sessions(project) == [project.session]  # ours ended; the person's stays
