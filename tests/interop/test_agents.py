"""agents.py: detecting AI coding agents and keeping one taskmux block in their files."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskmux.interop.agents import (
    AGENTS,
    BEGIN,
    END,
    context_files,
    detect,
    refresh_existing,
    render_block,
    write_block,
)


@pytest.fixture
def empty_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with nothing on it, so agents installed on this machine are not detected."""
    folder = tmp_path_factory.mktemp("bin")
    monkeypatch.setenv("PATH", str(folder))
    return folder


def _names(project: Path) -> list[str]:
    return [agent.name for agent in detect(project)]


def test_nothing_detected_in_a_bare_environment(tmp_path: Path, empty_path: Path) -> None:
    assert _names(tmp_path) == []


@pytest.mark.parametrize(
    ("home_dir", "expected"),
    [
        (".claude", "claude"),
        (".codex", "codex"),
        (".config/opencode", "opencode"),
        (".cursor", "cursor"),
        (".gemini", "gemini"),
    ],
)
def test_detected_by_home_folder(
    tmp_path: Path, empty_path: Path, isolated_home: Path, home_dir: str, expected: str
) -> None:
    (isolated_home / home_dir).mkdir(parents=True)
    assert _names(tmp_path) == [expected]


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        (".claude", "claude"),
        ("CLAUDE.md", "claude"),
        ("opencode.json", "opencode"),
        (".cursor", "cursor"),
        ("GEMINI.md", "gemini"),
    ],
)
def test_detected_by_project_marker(
    tmp_path: Path, empty_path: Path, marker: str, expected: str
) -> None:
    target = tmp_path / marker
    if marker.startswith("."):
        target.mkdir()
    else:
        target.write_text("notes\n")
    assert _names(tmp_path) == [expected]


def test_detected_by_command_on_path(tmp_path: Path, empty_path: Path) -> None:
    program = empty_path / "codex"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert _names(tmp_path) == ["codex"]


def test_context_files_are_distinct_and_ordered() -> None:
    by_name = {agent.name: agent for agent in AGENTS}
    chosen = [by_name[n] for n in ("codex", "claude", "opencode", "codex")]
    assert context_files(chosen) == ["AGENTS.md", ".claude/rules/taskmux.md"]
    assert by_name["claude"].context_file == ".claude/rules/taskmux.md"
    assert by_name["opencode"].context_file == "AGENTS.md"


def test_render_block_is_delimited_and_lists_tasks() -> None:
    block = render_block("shop", [("web", "npm run dev"), ("db", "postgres")])
    assert block.startswith(BEGIN + "\n")
    assert block.endswith(END + "\n")
    assert block.count(BEGIN) == 1
    assert "`shop`" in block
    assert "- `web`: `npm run dev`" in block
    assert "- `db`: `postgres`" in block
    assert "(none yet)" in render_block("shop", [])


def test_write_block_creates_the_file_and_its_folders(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "rules" / "taskmux.md"
    block = render_block("s", [])
    assert write_block(path, block) is True
    assert path.read_text() == block
    assert write_block(path, block) is False  # unchanged: not rewritten
    assert not write_block(tmp_path / "absent.md", block, create=False)
    assert not (tmp_path / "absent.md").exists()


@pytest.mark.parametrize(
    "user_text",
    [
        "# My project\n\nUse tabs.\n",
        "no trailing newline",
        "# Ünïcode and `code`\r\nwindows line\r\n",
    ],
)
def test_write_block_appends_and_keeps_user_bytes(tmp_path: Path, user_text: str) -> None:
    path = tmp_path / "AGENTS.md"
    path.write_bytes(user_text.encode())
    write_block(path, render_block("s", []))
    data = path.read_bytes()
    assert data.startswith(user_text.encode())
    assert data.count(BEGIN.encode()) == 1


def test_rewrite_replaces_in_place_and_keeps_surrounding_text(tmp_path: Path) -> None:
    path = tmp_path / "AGENTS.md"
    before, after = "# Intro\n\nkeep me\n", "\n## After the block\nkeep me too\n"
    path.write_text(before)
    write_block(path, render_block("s", [("old", "old-cmd")]))
    path.write_text(path.read_text() + after)
    results = [write_block(path, render_block("s", [("new", "new-cmd")])) for _ in range(3)]
    assert results == [True, False, False]
    text = path.read_text()
    assert text.count(BEGIN) == 1
    assert text.count(END) == 1
    assert text.startswith(before)
    assert text.endswith(after)
    assert "new-cmd" in text
    assert "old-cmd" not in text


def test_refresh_existing_only_touches_files_with_a_block(tmp_path: Path) -> None:
    claude = tmp_path / ".claude" / "rules" / "taskmux.md"
    agents_md = tmp_path / "AGENTS.md"
    gemini = tmp_path / "GEMINI.md"
    write_block(claude, render_block("s", []))
    agents_md.write_text("# user notes only\n")
    changed = refresh_existing(tmp_path, "s", [("api", "uvicorn app:app")])
    assert changed == [".claude/rules/taskmux.md"]
    assert "uvicorn app:app" in claude.read_text()
    assert agents_md.read_text() == "# user notes only\n"
    assert not gemini.exists()
    assert refresh_existing(tmp_path, "s", [("api", "uvicorn app:app")]) == []
