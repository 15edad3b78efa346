"""The tmux seam: words sent as tmux configuration arrive exactly as they were."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from harness import Project, project
from libtmux import Server

from taskmux.runtime.tmux_manager import quote_word
from taskmux.runtime.tmuxversion import too_old

__all__ = ["project"]

NASTY = [
    "a\n    b\n\tc",  # a multi-line script keeps its indentation
    "~/x",
    "a~b",
    "$HOME ${HOME}",
    "\\n literal \\",
    "\"q\" 's'",
    "#{pane_id} # not a comment ; not a separator",
    "é ü ☃",
    "x\\",
    "a\rb",
    "\x1b[31mred",
    "trailing;",
]


@pytest.mark.parametrize("value", NASTY)
def test_a_word_reaches_tmux_exactly(server: Server, value: str) -> None:
    assert server.socket_name
    base = ["tmux", "-L", server.socket_name]
    subprocess.run([*base, "new-session", "-d", "-s", "q", "sleep 30"], check=True)
    line = f"set-environment -t q V {quote_word(value)}\n"
    sent = subprocess.run([*base, "source-file", "-"], input=line.encode(), capture_output=True)
    assert sent.returncode == 0, sent.stderr
    shown = subprocess.run([*base, "show-environment", "-t", "q", "V"], capture_output=True)
    assert shown.stdout.decode() == f"V={value}\n"


def _fake_tmux(project: Project, version: str) -> None:
    """Put a `tmux` first on the CLI's PATH that says it is `version` and otherwise runs
    the real one."""
    real = shutil.which("tmux")
    assert real is not None
    folder = project.root.parent / f"{project.root.name}-bin"
    folder.mkdir()
    wrapper = folder / "tmux"
    wrapper.write_text(
        f'#!/bin/sh\n[ "$1" = -V ] && {{ echo "tmux {version}"; exit 0; }}\nexec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    project.env["PATH"] = f"{folder}{os.pathsep}{project.env['PATH']}"


@pytest.mark.parametrize("args", [("start",), ("status",), ("status", "--"), ("inspect", "web")])
def test_a_tmux_older_than_3_2_is_refused_in_one_line(project: Project, args: tuple[str]) -> None:
    project.write('[tasks.web]\ncommand = "sleep 300"\n')
    assert project.run("status").returncode == 0  # the lean path's cache is filled
    _fake_tmux(project, "3.0")
    for installed in (False, True):
        result = project.run(*args, installed=installed)
        assert result.returncode == 1, result
        (line,) = result.stderr.splitlines()
        assert line.startswith("error[E302]: tmux 3.0 (") and "needs tmux 3.2 or newer" in line
    assert project.tmux("has-session", "-t", project.session).returncode != 0


def test_a_new_enough_tmux_is_used(project: Project) -> None:
    project.write('[tasks.web]\ncommand = "sleep 300"\n')
    _fake_tmux(project, "3.2a")
    assert project.run("start").returncode == 0
    assert project.status()["web"]["running"] is True


@pytest.mark.parametrize(
    ("reported", "old"),
    [("tmux 3.0", "3.0"), ("tmux 3.1c\n", "3.1c"), ("tmux 2.9a", "2.9a"), ("tmux 3.2", None),
     ("tmux 3.3a", None), ("tmux next-3.6", None), ("tmux master", None), ("tmux 10.0", None)],
)  # fmt: skip
def test_the_version_tmux_reports_is_read(reported: str, old: str | None) -> None:
    assert too_old(reported) == old
