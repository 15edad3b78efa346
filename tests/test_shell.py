"""Which command lines sh may replace itself with (`exec`), as a table."""

from __future__ import annotations

import pytest

from taskmux.shell import exec_form


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("sleep 300", "exec sleep 300"),
        ("python3 -u worker.py --port 8000", "exec python3 -u worker.py --port 8000"),
        ("npm run dev", "exec npm run dev"),
        ("exit 3", "exit 3"),  # sh's own words
        ("cd web", "cd web"),
        ("X=1 server", "X=1 server"),  # an assignment prefix
        ("a && b", "a && b"),
        ("a; b", "a; b"),
        ("a | b", "a | b"),
        ("echo $HOME", "echo $HOME"),
        ('echo "quoted"', 'echo "quoted"'),
        ("sleep 1 &", "sleep 1 &"),
        ("ls *.py", "ls *.py"),
        ("", ""),
    ],
)
def test_exec_only_plain_program_calls(command: str, expected: str) -> None:
    assert exec_form(command) == expected
