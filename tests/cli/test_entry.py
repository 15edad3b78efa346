"""The CLI entry point: `--json` anywhere on the command line (the lean read paths:
`test_lean.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from taskmux.cli.entry import json_after_command


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["--json", "status"], ["status", "--json"]),
        (["status", "--json"], ["status", "--json"]),
        (
            ["-c", "x.toml", "--json", "daemon", "status"],
            ["-c", "x.toml", "daemon", "status", "--json"],
        ),
        (["--json", "logs", "api", "--", "-n"], ["logs", "api", "--json", "--", "-n"]),
        (["status"], ["status"]),
    ],
)
def test_json_moves_behind_the_command(given: list[str], expected: list[str]) -> None:
    assert json_after_command(given) == expected


def test_json_before_the_command_works_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "taskmux.toml").write_text('name = "x"\n[tasks.a]\ncommand = "sleep 1"\n')
    result = run_cli("--json", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
