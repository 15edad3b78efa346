"""The agent context block through the installed CLI: `init` writes it, `inject` refreshes
or creates it, `add`/`remove` keep its task list current, and there is only ever one."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import TASKMUX, run_cli

from taskmux.interop.agents import BEGIN, END, render_block


@pytest.fixture
def bare_path(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PATH with only taskmux's folder and the system's, so no agent is detected by it."""
    folders = [str(Path(TASKMUX).parent), "/usr/bin", "/bin"]
    return {"PATH": os.pathsep.join(folders)}


def _blocks(path: Path) -> int:
    text = path.read_text()
    assert text.count(BEGIN) == text.count(END)
    return text.count(BEGIN)


def _block(path: Path) -> str:
    text = path.read_text()
    return text[text.index(BEGIN) : text.index(END)]


def test_block_says_how_to_work_here() -> None:
    block = render_block("shop", [("web", "npm run dev"), ("q", "echo `date`")])
    for phrase in (
        "`shop`",
        "Never start",
        "taskmux ensure --holder NAME",
        "TASKMUX_HOLDER",
        "E307",
        "taskmux restart TASK",
        "taskmux status --json",
        "taskmux wait TASK",
        "taskmux logs TASK --digest",
        "taskmux logs TASK --after CURSOR --json",
        "next_cursor",
        "MCP tools",
        "`taskmux env` prints `TASKMUX_<TASK>_PORT",
        'eval "$(taskmux env TASK)"',
        "TASKMUX_URL_<TASK>",
        "- `web`: `npm run dev`",
        "- `q`: `` echo `date` ``",  # a backtick in the command keeps the code span intact
    ):
        assert phrase in block, phrase
    assert len(block.splitlines()) <= 25  # short enough to be read every time


def test_init_add_remove_keep_one_current_block(tmp_path: Path, bare_path: dict[str, str]) -> None:
    (tmp_path / "CLAUDE.md").write_text("# House rules\n\nBe kind.\n")  # claude is used here
    (tmp_path / "AGENTS.md").write_text("# Notes for agents\n")  # but no agent reads it
    init = run_cli("init", "--json", cwd=tmp_path, env=bare_path)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["context_files"] == [".claude/rules/taskmux.md"]
    rules = tmp_path / ".claude" / "rules" / "taskmux.md"
    assert _blocks(rules) == 1 and "(none yet)" in _block(rules)

    assert run_cli("add", "api", "uvicorn app:app", cwd=tmp_path, env=bare_path).returncode == 0
    assert run_cli("add", "web", "npm run dev", cwd=tmp_path, env=bare_path).returncode == 0
    block = _block(rules)
    assert "- `api`: `uvicorn app:app`" in block and "- `web`: `npm run dev`" in block
    assert "(none yet)" not in block and _blocks(rules) == 1

    removed = run_cli("remove", "api", cwd=tmp_path, env=bare_path)
    assert removed.returncode == 0, removed.stderr
    assert "api" not in _block(rules) and "- `web`: `npm run dev`" in _block(rules)
    assert _blocks(rules) == 1
    assert (tmp_path / "AGENTS.md").read_text() == "# Notes for agents\n"  # never had a block
    assert (tmp_path / "CLAUDE.md").read_text() == "# House rules\n\nBe kind.\n"


def test_inject_creates_refreshes_and_never_duplicates(
    tmp_path: Path, bare_path: dict[str, str]
) -> None:
    config = tmp_path / "taskmux.toml"
    config.write_text('name = "shop"\n\n[tasks.web]\ncommand = "npm run dev"\n')
    first = run_cli("inject", "--json", cwd=tmp_path, env=bare_path)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert (doc["agents"], doc["files"], doc["changed"]) == ([], ["AGENTS.md"], ["AGENTS.md"])
    agents_md = tmp_path / "AGENTS.md"
    assert "- `web`: `npm run dev`" in _block(agents_md)

    agents_md.write_text("# Mine\n\n" + agents_md.read_text() + "\n## After\nkept\n")
    config.write_text(config.read_text() + '\n[tasks.db]\ncommand = "postgres"\n')  # hand edit
    named = run_cli("inject", "cursor", "--json", cwd=tmp_path, env=bare_path)
    assert json.loads(named.stdout)["files"] == [".cursor/rules/taskmux.mdc"]
    cursor = (tmp_path / ".cursor/rules/taskmux.mdc").read_text()
    assert cursor.startswith("---\n") and "alwaysApply: true" in cursor  # a Cursor rule

    again = json.loads(run_cli("inject", "--json", cwd=tmp_path, env=bare_path).stdout)
    assert set(again["files"]) == {"AGENTS.md", ".cursor/rules/taskmux.mdc"}
    assert again["changed"] == ["AGENTS.md"]  # the hand-added task reaches the old block
    text = agents_md.read_text()
    assert text.startswith("# Mine\n\n") and text.endswith("\n## After\nkept\n")
    assert _blocks(agents_md) == 1 and "- `db`: `postgres`" in _block(agents_md)

    unchanged = json.loads(run_cli("inject", "--json", cwd=tmp_path, env=bare_path).stdout)
    assert unchanged["changed"] == []

    bad = run_cli("inject", "emacs", cwd=tmp_path, env=bare_path)
    assert bad.returncode == 2 and "unknown agent 'emacs'" in bad.stderr


@pytest.mark.parametrize(
    "writers", [3, pytest.param(8, marks=pytest.mark.slow)], ids=["three", "eight"]
)
def test_parallel_adds_never_break_the_block(
    tmp_path: Path, bare_path: dict[str, str], writers: int
) -> None:
    (tmp_path / "taskmux.toml").write_text('name = "par"\n')
    run_cli("inject", "claude", cwd=tmp_path, env=bare_path)
    env = {**os.environ, **bare_path}
    procs = [
        subprocess.Popen(
            [TASKMUX, "add", f"t{n}", f"sleep {n}"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(writers)
    ]
    results = [(*proc.communicate(timeout=60), proc.returncode) for proc in procs]
    assert all(code == 0 for _, _, code in results), results
    rules = tmp_path / ".claude/rules/taskmux.md"
    assert _blocks(rules) == 1
    assert not list(rules.parent.glob("*.taskmux-tmp"))
    run_cli("inject", cwd=tmp_path, env=bare_path)  # the way to a complete list after a race
    assert all(f"- `t{n}`: `sleep {n}`" in _block(rules) for n in range(writers))
