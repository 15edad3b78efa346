"""The tmux seam: words sent as tmux configuration arrive exactly as they were."""

from __future__ import annotations

import subprocess

import pytest
from libtmux import Server

from taskmux.runtime.tmux_manager import quote_word

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
