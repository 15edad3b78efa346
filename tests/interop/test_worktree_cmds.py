"""`taskmux worktree add|list|remove|prune` on real git repositories and a private tmux
server: each checkout keeps its own session, state and ports, and removing one touches
nothing of the others."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Project, project, wait_until

from taskmux.config.taskenv import MARKER_VAR

__all__ = ["project"]

CONFIG = """
[worktree]
copy = [".env", "missing.txt"]
init = ["printf 'ran %s' \\"$TASKMUX_WORKTREE\\" > init.out"]
teardown = ["printf bye > ../teardown.out"]

[tasks.web]
command = "sleep 60"
port = "auto"
stop_grace_period = 0.2
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def repo(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    """The project as a git repository with a gitignored `.env`; URLs on a free port."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for name, value in (("NAME", "t"), ("EMAIL", "t@example.com")):
        monkeypatch.setenv(f"GIT_AUTHOR_{name}", value)
        monkeypatch.setenv(f"GIT_COMMITTER_{name}", value)
    port = str(_free_port())
    monkeypatch.setenv("TASKMUX_PROXY_PORT", port)
    project.env |= {"TASKMUX_PROXY_PORT": port}
    project.write(CONFIG)
    (project.root / ".env").write_text("SECRET=1\n")
    (project.root / ".gitignore").write_text(".env\n*.out\n")
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "p"]):
        subprocess.run(["git", *args], cwd=project.root, check=True, capture_output=True)
    project.checkouts = tmp_path_factory.mktemp("checkouts")  # type: ignore[attr-defined]
    yield project


def _checkout(repo: Project, name: str) -> Project:
    root: Path = repo.checkouts / name  # type: ignore[attr-defined]
    other = Project(root, repo.socket_name)
    other.session = repo.session
    other.env = dict(repo.env)
    return other


def test_add_list_remove_keep_each_checkout_apart(repo: Project) -> None:
    wt = _checkout(repo, "wt1")
    added = repo.json("worktree", "add", str(wt.root), "--branch", "f1")
    assert added["ok"] is True, added
    label = wt.paths.checkout_id
    assert added["session"] == f"{repo.session}-{label}"
    assert added["copied"] == [".env"] and (wt.root / ".env").read_text() == "SECRET=1\n"
    assert (wt.root / "init.out").read_text() == f"ran {label}"
    assert added["urls"]["web"].startswith(f"http://web.{added['session']}.localhost:".lower())

    assert repo.json("start")["ok"] is True
    assert wt.json("start")["ok"] is True
    ports = {repo.status()["web"]["port"], wt.status()["web"]["port"]}
    assert len(ports) == 2  # side by side, each its own port

    listed = {row["path"]: row for row in repo.json("worktree", "list")["worktrees"]}
    mine = listed[str(wt.root.resolve())]
    assert mine["branch"] == "f1" and mine["session"] == added["session"]
    assert mine["tasks"][0]["url"] == added["urls"]["web"] and mine["tasks"][0]["running"]
    assert listed[str(repo.root.resolve())]["main"] is True

    state = wt.paths.root
    assert state.is_dir()
    removed = repo.json("worktree", "remove", str(wt.root))
    assert removed["ok"] is True, removed
    assert removed["removed"][0]["stopped"] == ["web"]
    (ran,) = removed["removed"][0]["teardown"]
    assert ran == {"step": "printf bye > ../teardown.out", "exit_code": 0, "timed_out": False}
    assert (repo.checkouts / "teardown.out").read_text() == "bye"  # type: ignore[attr-defined]
    assert not state.exists() and not wt.root.exists()
    assert repo.status()["web"]["running"] is True  # the main checkout is untouched
    assert str(wt.root.resolve()) not in {
        row["path"] for row in repo.json("worktree", "list")["worktrees"]
    }


def test_a_failing_init_step_says_which_with_its_exit_and_lines_and_keeps_the_checkout(
    repo: Project,
) -> None:
    repo.write(CONFIG.replace('init = ["', 'init = ["echo one; echo boom >&2; exit 3", "'))
    wt = _checkout(repo, "bad")
    result = repo.run("worktree", "add", str(wt.root))
    assert result.returncode != 0
    assert "E135" in result.stderr and "step 1" in result.stderr, result.stderr
    assert "exit 3" in result.stderr and "boom" in result.stderr
    assert (wt.root / "taskmux.toml").is_file()  # left for the user to look at


def test_remove_refuses_uncommitted_changes_and_prune_cleans_a_deleted_checkout(
    repo: Project,
) -> None:
    wt = _checkout(repo, "gone")
    assert repo.json("worktree", "add", str(wt.root))["ok"] is True
    (wt.root / "notes.txt").write_text("draft")
    refused = repo.run("worktree", "remove", str(wt.root))
    assert refused.returncode != 0 and "E138" in refused.stderr
    assert wt.json("start")["ok"] is True
    assert repo.json("start")["ok"] is True
    session = wt.json("status")["session"]
    state = wt.paths.root
    # A process of one of its tasks that left the session (setsid): found by its marker.
    escaped = subprocess.Popen(
        ["sleep", "300"],
        env={**os.environ, MARKER_VAR: wt.paths.marker("web")},
        start_new_session=True,
    )
    try:
        shutil.rmtree(wt.root)
        pruned = repo.json("worktree", "prune")
        assert pruned["ok"] is True
        assert [item["sessions"] for item in pruned["removed"]] == [[session]]
        assert escaped.wait(timeout=10) is not None  # ended with its checkout
    finally:
        escaped.kill()
        escaped.wait()
    assert not state.exists()
    assert repo.tmux("has-session", "-t", f"={session}").returncode != 0
    assert repo.status()["web"]["running"] is True


def test_prune_also_cleans_a_checkout_git_already_forgot(repo: Project) -> None:
    """The folder deleted by hand and `git worktree prune` run first: git lists nothing
    to prune, but the checkout's state and session are found by its cached config."""
    wt = _checkout(repo, "forgotten")
    assert repo.json("worktree", "add", str(wt.root))["ok"] is True
    assert wt.json("start")["ok"] is True
    session, state = wt.json("status")["session"], wt.paths.root
    assert repo.json("start")["ok"] is True
    shutil.rmtree(wt.root)
    subprocess.run(["git", "worktree", "prune"], cwd=repo.root, check=True)
    pruned = repo.json("worktree", "prune")
    assert [item["sessions"] for item in pruned["removed"]] == [[session]]
    assert not state.exists()
    assert repo.status()["web"]["running"] is True  # this checkout is not touched
    assert repo.paths.root.exists()


def test_remove_ends_the_checkouts_own_supervisor_first(repo: Project) -> None:
    """A `start -m` of the checkout would start its tasks again: `remove` ends it (the
    claim's holder as the kernel names it), and no other supervisor."""
    from taskmux.statedir.claim import supervisor_running

    wt = _checkout(repo, "supervised")
    assert repo.json("worktree", "add", str(wt.root))["ok"] is True
    theirs = wt.spawn("start", "-m")
    wait_until(lambda: supervisor_running(wt.paths.supervisor_lock), timeout=15)
    ours = repo.supervise()
    removed = repo.json("worktree", "remove", str(wt.root), "--force")
    assert removed["ok"] is True, removed
    output, _ = theirs.communicate(timeout=15)  # it ended (its pipe read and closed)
    assert theirs.returncode == 0, output
    assert ours.alive and supervisor_running(repo.paths.supervisor_lock)
