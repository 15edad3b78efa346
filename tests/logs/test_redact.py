"""Secret redaction, the pure part: which names are secret, and the rewriting of lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskmux.logs.lines import LogLine, TaskLog
from taskmux.logs.redact import Redactor, looks_secret, redact_lines, secret_values, url_password

DB = "postgres://app:s3cr3tpass@db:5432/x"


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("API_TOKEN", "x", True),
        ("stripe_key", "x", True),
        ("CLIENT_SECRET", "x", True),
        ("DB_PASSWORD", "x", True),
        ("SMTP_PASSWD", "x", True),
        ("AWS_CREDENTIALS", "x", True),
        ("PRIVATE_PEM", "x", True),
        ("SENTRY_DSN", "https://abc@sentry.io/1", True),
        ("DATABASE_URL", DB, True),
        ("DATABASE_URL", "postgres://app@db/x", False),  # no password
        ("HOME_URL", "https://example.com/a:b@c", False),  # `@` after the path starts
        ("PORT", "8080", False),
        ("NODE_ENV", "production", False),
    ],
)
def test_names_that_look_secret(name: str, value: str, secret: bool) -> None:
    assert looks_secret(name, value) is secret


def test_url_password() -> None:
    assert url_password(DB) == "s3cr3tpass"
    assert url_password("redis://:pa%40ss99@cache:6379") == "pa%40ss99"
    assert url_password("https://example.com") is None


def test_secret_values_hide_the_url_and_its_password_and_skip_short_ones() -> None:
    env = {
        "DATABASE_URL": DB,
        "API_TOKEN": "tok-abcdef123456",
        "SHORT_KEY": "abc12",  # under 6 characters: left alone
        "REDIS_URL": "redis://:pa%40ss99@cache:6379",
        "PLAIN": "visible-value",
        "LISTED": "listed-value",
    }
    found = secret_values(env, ["LISTED"])
    assert found == {
        DB: "DATABASE_URL",
        "s3cr3tpass": "DATABASE_URL",
        "tok-abcdef123456": "API_TOKEN",
        "redis://:pa%40ss99@cache:6379": "REDIS_URL",
        "pa%40ss99": "REDIS_URL",
        "pa@ss99": "REDIS_URL",
        "listed-value": "LISTED",
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("token=tok-abcdef123456 ok", "token=[redacted:API_TOKEN] ok"),
        (f"connecting to {DB}", "connecting to [redacted:DATABASE_URL]"),
        (
            "pw s3cr3tpass twice s3cr3tpass",
            "pw [redacted:DATABASE_URL] twice [redacted:DATABASE_URL]",
        ),
        ("nothing secret here", "nothing secret here"),
        ("a.b*c(d", "a.b*c(d"),  # regex characters in values are literal
    ],
)
def test_redactor_text(text: str, shown: str) -> None:
    redactor = Redactor(secret_values({"DATABASE_URL": DB, "API_TOKEN": "tok-abcdef123456"}))
    assert redactor.text(text) == shown
    assert redactor.raw(text.encode()) == shown.encode()


def test_regex_characters_in_a_value_are_matched_literally() -> None:
    redactor = Redactor({"a.b*c(d": "X_KEY"})
    assert redactor.text("a.b*c(d axbbc(d") == "[redacted:X_KEY] axbbc(d"


def test_an_empty_redactor_is_falsy_and_changes_nothing() -> None:
    redactor = Redactor({})
    assert not redactor
    assert redactor.text("tok-abcdef123456") == "tok-abcdef123456"


def test_redact_lines_uses_each_tasks_redactor(tmp_path: Path) -> None:
    logs = [
        TaskLog("api", tmp_path / "api.log", Redactor({"tok-abcdef123456": "API_TOKEN"})),
        TaskLog("web", tmp_path / "web.log"),
    ]
    lines = [
        LogLine("api", 1.0, "t tok-abcdef123456", b"\x1b[1mt tok-abcdef123456\x1b[0m"),
        None,
        LogLine("web", 2.0, "t tok-abcdef123456", b"t tok-abcdef123456"),
    ]
    out = list(redact_lines(lines, logs))
    assert out[1] is None
    first, third = out[0], out[2]
    assert first is not None and third is not None
    assert first.text == "t [redacted:API_TOKEN]"
    assert first.raw == b"\x1b[1mt [redacted:API_TOKEN]\x1b[0m"
    assert third.text == "t tok-abcdef123456"  # another task's secret is not its own
