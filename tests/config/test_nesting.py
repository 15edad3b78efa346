"""nesting.py: a config nested too deeply is one located E110, never a RecursionError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from taskmux.config.nesting import MAX_DEPTH, depth, too_deep_line
from taskmux.config.project import check_file, edit_config, load_project
from taskmux.errors import ConfigError

HEAD = 'name = "x"\n[tasks.a]\ncommand = "true"\n'  # lines 1-3; the deep value is on line 4


def _arrays(levels: int) -> str:
    return "[" * levels + "]" * levels


DEEP = {
    "arrays": HEAD + f"x = {_arrays(900)}\n",
    "inline-tables": HEAD + "x = " + "{a = " * 900 + "1" + "}" * 900 + "\n",
    "dotted-key": HEAD + ".".join(["k"] * 900) + " = 1\n",
    "table-header": HEAD + "[[" + ".".join(["k"] * 900) + "]]\nx = 1\n",
}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, 0),
        ({"a": 1}, 0),
        ({"a": [1]}, 1),
        ({"tasks": {"a": {"x": [[1], []]}}}, 4),
        ({"a": [{"b": {}}]}, 3),
    ],
)
def test_depth_counts_containers_below_the_document(data: dict[str, Any], expected: int) -> None:
    assert depth(data) == expected


def test_depth_takes_what_recursion_cannot() -> None:
    data: Any = []
    for _ in range(5000):
        data = [data]
    assert depth({"x": data}) == 5001


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (HEAD + f"x = {_arrays(98)}\n", None),  # tasks, a, then 98: exactly the limit
        (HEAD + f"x = {_arrays(99)}\n", 4),
        (HEAD + "x = [\n  1,\n  " + "[" * 99 + "]" * 99 + "\n]\n", 6),
        (HEAD + 's = """\n[[[[\n"""\n' + f"x = {_arrays(99)}  # [[[[\n", 7),
        (HEAD + "x = '" + "[" * 200 + "'\n", None),  # inside a string
        (".".join(["k"] * 101) + " = 1\n", None),
        (".".join(["k"] * 102) + " = 1\n", 1),
        ("[" + ".".join(["k"] * 100) + "]\n", None),
        ("[[" + ".".join(["k"] * 100) + "]]\n", 1),
    ],
)
def test_too_deep_line_finds_the_first_line_over_the_limit(text: str, line: int | None) -> None:
    assert too_deep_line(text) == line


@pytest.mark.parametrize("text", DEEP.values(), ids=DEEP.keys())
def test_a_deeply_nested_file_is_one_located_e110(tmp_path: Path, text: str) -> None:
    path = tmp_path / "taskmux.toml"
    path.write_text(text, encoding="utf-8")
    config, problems = check_file(path)
    assert config is None
    assert [(p.code, p.line) for p in problems] == [("E110", 4)]
    assert f"nested more than {MAX_DEPTH} levels deep" in problems[0].message
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert info.value.code == "E110" and f"{path}:4:" in info.value.message
    with pytest.raises(ConfigError) as info:
        edit_config(path, lambda document: None)
    assert info.value.code == "E110"
    assert path.read_text(encoding="utf-8") == text


def test_an_edit_tomlkit_refuses_is_e110_and_leaves_the_file(tmp_path: Path) -> None:
    """101 dotted parts are 100 levels (within the limit), but tomlkit refuses the key."""
    text = 'name = "x"\n' + ".".join(["k"] * 101) + " = 1\n"
    path = tmp_path / "taskmux.toml"
    path.write_text(text, encoding="utf-8")
    assert check_file(path)[0] is not None
    with pytest.raises(ConfigError) as info:
        edit_config(path, lambda document: None)
    assert info.value.code == "E110" and info.value.problems[0].line == 2
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("args", [("check",), ("add", "b", "true")], ids=["check", "add"])
def test_the_cli_says_one_line_not_a_traceback(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "taskmux.toml").write_text(DEEP["arrays"], encoding="utf-8")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert "error[E110]" in result.stderr and "taskmux.toml:4:" in result.stderr
    assert len(result.stderr.splitlines()) <= 2  # check adds its one-line summary
