"""models.py: an unknown key is a warning that names the known key it most likely means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from taskmux.config.models import validate_config

TASK = {"command": "x"}


@pytest.mark.parametrize(
    ("raw", "task", "key", "suggestion"),
    [
        ({"tasks": {"a": {**TASK, "prot": 80}}}, "a", "prot", "port"),
        ({"tasks": {"a": {**TASK, "comand": "y"}}}, "a", "comand", "command"),
        ({"tasks": {"a": {**TASK, "depend_on": []}}}, "a", "depend_on", "depends_on"),
        ({"log_backup": 3}, None, "log_backup", "log_backups"),
        ({"hooks": {"befor_start": "x"}}, None, "hooks.befor_start", "before_start"),
        (
            {"tasks": {"a": {**TASK, "hooks": {"after_stp": "x"}}}},
            "a",
            "hooks.after_stp",
            "after_stop",
        ),
        (
            {"tasks": {"a": {**TASK, "depends_on": [{"task": "a", "conditon": "started"}]}}},
            "a",
            "depends_on.conditon",
            "condition",
        ),
    ],
)
def test_an_unknown_key_suggests_the_close_match(
    raw: dict[str, Any], task: str | None, key: str, suggestion: str
) -> None:
    _, problems = validate_config(raw)
    unknown = [p for p in problems if p.code == "W117"]
    assert [(p.task, p.key, p.severity) for p in unknown] == [(task, key, "warning")]
    assert unknown[0].message == f"unknown key (ignored); did you mean '{suggestion}'?"


def test_an_unknown_key_like_no_known_one_gets_no_guess() -> None:
    _, problems = validate_config({"tasks": {"a": {**TASK, "colour": "red"}}})
    assert [p.message for p in problems] == ["unknown key (ignored)"]


def test_check_prints_the_suggestion(tmp_path: Path) -> None:
    (tmp_path / "taskmux.toml").write_text(
        'name = "x"\n[tasks.a]\ncommand = "true"\nprot = 80\n', encoding="utf-8"
    )
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0
    assert (
        "taskmux.toml:4: task 'a': key 'prot': unknown key (ignored); did you mean 'port'?"
        in result.stderr
    )
