"""Secret redaction through every read of a task's output, against a real private tmux."""

from __future__ import annotations

import json
import stat
import sys
import threading

import pytest
from harness import Project, project, wait_until

from taskmux.config.project import load_project
from taskmux.errors import BadParams, UsageError
from taskmux.service import Service

__all__ = ["project"]

TOKEN = "tok-abcdef123456"
PASSWORD = "s3cr3tpass"
SECRETS = (TOKEN, PASSWORD, "listed-secret")
CONFIG = """
env_file = ".env"
secrets = ["SHOWN_AS"]
[env]
DATABASE_URL = "postgres://u:s3cr3tpass@db/x"
[tasks.api]
command = '''printf 'token %s pw %s\\n' "$API_TOKEN" "$PASSWORD_OF"; echo "as $SHOWN_AS"; printf 'tok-abc'; sleep 0.2; printf 'def123456 split\\n'; echo done; sleep 300'''
min_uptime = 0
[tasks.api.env]
PASSWORD_OF = "${DATABASE_URL}"
SHOWN_AS = "listed-secret"
[tasks.bad]
command = 'echo "failing with $API_TOKEN"; exit 3'
min_uptime = 0
restart_policy = "no"
"""


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (secret, text)


def test_no_secret_reaches_any_read(project: Project) -> None:
    (project.root / ".env").write_text(f"API_TOKEN={TOKEN}\n")
    project.write(CONFIG)
    started = project.run("start", "api", "--json")
    assert started.returncode == 0, started.stderr
    log_file = project.paths.log_file("api")
    wait_until(lambda: log_file.exists() and b"done" in log_file.read_bytes(), 10)
    raw = log_file.read_bytes()  # on disk: what the task printed, private
    assert TOKEN.encode() in raw and PASSWORD.encode() in raw
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600

    plain = project.run("logs", "api", "-n", "20")
    _clean(plain.stdout)
    assert "[redacted:API_TOKEN] split" in plain.stdout
    assert "pw [redacted:DATABASE_URL]\n" in plain.stdout  # the whole URL, by its first name
    assert "as [redacted:SHOWN_AS]" in plain.stdout
    for args in (
        ("logs", "api", "--json"),
        ("logs", "--json"),
        ("logs", "api", "-g", "tok|pw", "--json"),
        ("logs", "api", "--after", "start", "--json"),
        ("logs", "api", "--digest", "--json"),
    ):
        result = project.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        _clean(result.stdout)
        assert "redacted:" in result.stdout, args
    found = project.json("logs", "api", "-g", "abcdef")  # a secret does not find its line
    assert found["lines"] == []

    failed = project.run("start", "bad", "--wait", "--json")
    assert failed.returncode != 0
    _clean(failed.stdout + failed.stderr)
    assert "[redacted:API_TOKEN]" in failed.stdout
    waited = project.run("wait", "bad", "-t", "0", "--json")
    _clean(waited.stdout)
    _clean(json.dumps(project.events()))

    service = Service.for_project(load_project(project.config))  # what the API and MCP call
    for ansi in (False, True):  # the dashboard asks for colours
        page = service.logs("api", 20, ansi=ansi)
        _clean(json.dumps(page.to_dict()))
    _clean(json.dumps(service.logs("api", digest=True).to_dict()))
    for grep in (None, "tok"):  # `logs -f`, with and without -g
        stop = threading.Event()
        _, stream = service.follow_logs("api", 20, grep, stop=stop)
        seen = [next(stream) for _ in range(2)]
        stop.set()
        shown = " ".join(item.text + repr(item.raw) for item in seen if item is not None)
        _clean(shown)
        assert "redacted:" in shown

    refused = project.run("logs", "api", "--reveal")  # stdout is a pipe here, not a terminal
    assert refused.returncode != 0 and "terminal only" in refused.stderr
    _clean(refused.stdout + refused.stderr)
    service.reveal_secrets = True  # what `logs --reveal` on a terminal reads
    revealed = service.logs("api", 20)
    assert TOKEN in json.dumps(revealed.to_dict())


def test_reveal_is_for_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from taskmux.cli.logs_cmd import _may_reveal

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert _may_reveal(True) is True
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert _may_reveal(False) is False
    with pytest.raises(UsageError, match="terminal only"):
        _may_reveal(True)


@pytest.mark.xdist_group("mcp")  # imports the MCP SDK: on the worker that has it
def test_reveal_is_refused_over_the_api_and_mcp() -> None:
    from taskmux.daemon.api import parse_request
    from taskmux.mcp.server import refusal

    with pytest.raises(BadParams):
        parse_request(json.dumps({"command": "logs", "params": {"reveal": True}}))
    refused = refusal("logs", {"task": "api", "reveal": True})
    assert isinstance(refused, BadParams) and "reveal" in str(refused)


def test_a_reader_without_the_starters_environment_still_hides_it(project: Project) -> None:
    """`${MYTOK}` resolves to nothing for a reader that lacks MYTOK (another shell, the
    daemon): what the running task was given is read from its pane's environment."""
    project.write(
        '[tasks.a]\ncommand = "echo tok=$API_TOKEN; sleep 300"\nmin_uptime = 0\n'
        '[tasks.a.env]\nAPI_TOKEN = "${MYTOK}"\n'
    )
    project.env["MYTOK"] = "tok-from-the-shell-42"
    assert project.run("start").returncode == 0
    wait_until(lambda: "tok=" in project.run("logs", "a").stdout)
    del project.env["MYTOK"]
    for args in (("logs", "a"), ("logs", "a", "--json"), ("logs", "a", "--digest")):
        shown = project.run(*args).stdout
        assert "tok-from-the-shell-42" not in shown and "[redacted:API_TOKEN]" in shown
    kept = [
        path.relative_to(project.paths.root).parts[0]
        for path in project.paths.root.rglob("*")
        if path.is_file() and b"tok-from-the-shell-42" in path.read_bytes()
    ]
    assert set(kept) <= {"logs", "spool"}  # only the raw output holds it, as it did
