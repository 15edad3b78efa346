"""locating.py and checking.py: every problem whose key is in the file has its line, and
`check` lists them in the file's order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from taskmux.config.checking import check_project
from taskmux.config.locating import by_line, locate
from taskmux.config.project import check_file
from taskmux.errors import Problem

TEXT = """\
name = "x"
[tasks."c d"]
command = "x"
[tasks.a]
command = "x"
"1BAD" = 1
env.FOO = "y"
[tasks.a.hooks]
before_start = "z"
[tasks.b.env]
K = "v"
[tasks]
inline = { command = "x", prot = 80 }
dotted.command = "x"
"""


@pytest.mark.parametrize(
    ("task", "key", "line"),
    [
        ("c d", None, 2),  # a quoted name with a space
        ("c d", "command", 3),
        ("a", "1BAD", 6),  # a quoted key
        ("a", "env.FOO", 7),  # a dotted key
        ("a", "env", 7),
        ("a", "hooks.before_start", 9),
        ("a", "hooks.after_stop", 8),  # missing: the table that would hold it
        ("a", "port", 4),  # missing: the task's table
        ("b", "env", 10),  # a table of its own
        ("b", "env.K", 11),
        ("inline", "prot", 13),  # inside an inline table: its line
        ("dotted", "command", 14),
        ("ghost", "command", None),
        (None, "name", 1),
        (None, "log_backups", None),
    ],
)
def test_locate(task: str | None, key: str | None, line: int | None) -> None:
    assert locate(TEXT, task, key) == line


def test_by_line_keeps_the_order_found_and_puts_the_unlocated_last() -> None:
    problems = [
        Problem("W1", "x", line=None),
        Problem("E2", "y", line=5),
        Problem("E3", "z", line=2),
        Problem("W4", "w", line=5),
    ]
    assert [p.code for p in by_line(problems)] == ["E3", "E2", "W4", "W1"]


MESSY = """\
name = "x"
bogus_top = 1
log_backups = -1

[hooks]
befor_start = "x"

[tasks.a]
command = "true"
prot = 80
port = 0
[tasks.b]
command = "true"
restart_policy = "sometimes"
colour = 1
[tasks."c d"]
command = "x"
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "taskmux.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_file_sorts_by_line_and_locates_every_problem(tmp_path: Path) -> None:
    config, problems = check_file(_write(tmp_path, MESSY))
    assert config is None
    assert [(p.code, p.line) for p in problems] == [
        ("W117", 2),
        ("E113", 3),
        ("W117", 6),
        ("W117", 10),
        ("E113", 11),
        ("E112", 14),
        ("W117", 15),
        ("E116", 16),
    ]


def test_check_project_sorts_env_and_machine_problems_in(tmp_path: Path) -> None:
    text = """\
name = "x"
[tasks.a]
command = "true"
prot = 80
cwd = "nope"
env_file = "missing.env"
[tasks.b]
command = "nosuchprogram-h7"
colour = 1
"""
    config, problems = check_project(_write(tmp_path, text), {})
    assert config is not None
    assert [(p.code, p.line) for p in problems] == [
        ("W117", 4),
        ("W120", 5),
        ("E122", 6),
        ("W121", 8),
        ("W117", 9),
    ]
    assert all(p.path == str(tmp_path / "taskmux.toml") for p in problems)


def test_the_check_command_lists_problems_in_line_order(tmp_path: Path) -> None:
    _write(tmp_path, MESSY)
    result = run_cli("check", "--json", cwd=tmp_path)
    assert result.returncode == 2
    lines = [p["line"] for p in json.loads(result.stdout)["problems"]]
    assert lines == [2, 3, 6, 10, 11, 14, 15, 16]


def test_the_check_command_sorts_env_and_machine_problems_in(tmp_path: Path) -> None:
    """Needs cli/config_cmds.py's `check` to call check_project (the lead's merge)."""
    text = 'name = "x"\n[tasks.a]\ncommand = "true"\nprot = 80\ncwd = "nope"\n'
    text += '[tasks.b]\ncommand = "nosuchprogram-h7"\ncolour = 1\n'
    _write(tmp_path, text)
    result = run_cli("check", "--json", cwd=tmp_path)
    problems = json.loads(result.stdout)["problems"]
    assert [(p["code"], p["line"]) for p in problems] == [
        ("W117", 4),
        ("W120", 5),
        ("W121", 7),
        ("W117", 8),
    ]
