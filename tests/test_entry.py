"""The CLI entry point: `--json` anywhere on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from libtmux import Server

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


def test_status_json_imports_no_heavy_module(tmp_path: Path, server: Server) -> None:
    """`status --json` is what agents call most: it must not pay for Typer, rich, pydantic
    or libtmux, and must answer exactly as the Typer command does."""
    import os
    import subprocess
    import sys

    assert server.socket_name
    (tmp_path / "taskmux.toml").write_text('name = "lean"\n[tasks.a]\ncommand = "sleep 1"\n')
    env = {**os.environ, "TASKMUX_TMUX_SOCKET": server.socket_name}
    run_cli("check", cwd=tmp_path, env=env)  # validated once: the cache serves the rest
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "taskmux", "status", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert traced.returncode == 0, traced.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines()}
    heavy = {"typer", "rich", "pydantic", "libtmux", "websockets", "tomlkit", "regex"}
    assert not heavy & {name.split(".")[0] for name in imported}
    lean = json.loads(traced.stdout)
    full = json.loads(run_cli("status", "--json", "--", cwd=tmp_path, env=env).stdout)
    assert lean == full and lean["ok"] is True and lean["session"] == "lean"
