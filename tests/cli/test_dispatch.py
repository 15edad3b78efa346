"""A command process builds its own command only (`cli/dispatch.py`): the map of where
each command lives must be what the modules register, and a lone command must parse and
print help exactly as the whole app does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from taskmux.cli.commands import app, command
from taskmux.cli.dispatch import HOMES, _group_name, _name_of, _one_command, command_name


def test_homes_name_every_command_and_the_modules_that_define_it() -> None:
    found: dict[str, set[str]] = {}
    for info in app.registered_commands:
        found.setdefault(_name_of(info), set()).add(info.callback.__module__)
    for group in app.registered_groups:
        name = _group_name(group)
        assert name is not None
        modules = {c.callback.__module__ for c in group.typer_instance.registered_commands}
        found.setdefault(name, set()).update(modules)
        if group.typer_instance.registered_callback is not None:
            callback = group.typer_instance.registered_callback.callback
            found[name].add(callback.__module__)
    homes = {name: {f"taskmux.cli.{m}" for m in modules} for name, modules in HOMES.items()}
    assert homes == found


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["start", "-m"], "start"),
        (["-c", "x.toml", "add", "a", "b"], "add"),
        (["--config=x.toml", "stop"], "stop"),
        (["-cx.toml", "logs", "-f"], "logs"),
        (["--version", "start"], None),
        (["--help"], None),
        ([], None),
        (["-c", "x.toml"], None),
    ],
)
def test_the_command_is_named_only_behind_the_config_option(
    args: list[str], name: str | None
) -> None:
    assert command_name(args) == name


@pytest.mark.parametrize("name", ["add", "start", "export", "mcp"])
def test_a_lone_command_reads_its_help_as_the_whole_app_does(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def help_of(built: object) -> str:
        with pytest.raises(SystemExit):
            built.main(args=[name, "--help"], prog_name="taskmux")  # type: ignore[attr-defined]
        return capsys.readouterr().out

    whole = help_of(command())
    assert name in whole and help_of(_one_command(name)) == whole


def test_a_command_process_imports_only_its_own_command_module() -> None:
    code = (
        "import sys; from taskmux.cli.dispatch import command_for; command_for(['add']); "
        "print(sorted(m for m in sys.modules if m.endswith(('_cmds', '_cmd'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['taskmux.cli.config_cmds']"
