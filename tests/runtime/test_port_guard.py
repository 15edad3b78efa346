"""Who may taskmux end to free a task's port? Tables of facts, no processes."""

from __future__ import annotations

import pytest

from taskmux.runtime.port_guard import (
    Holder,
    Scope,
    foreground_hint,
    judge,
    judge_all,
    may_free_all,
    refusal,
)

ME = 1000
SCOPE = Scope(
    uid=ME,
    root="/home/ann/shop",
    marker_prefix="shop-1a2b3c4d5e/",
    task="api",
    running_tasks=frozenset({"web"}),
    protected=frozenset({4242}),
)
ROOT_SCOPE = Scope(uid=0, root="/home/ann/shop", marker_prefix="shop-1a2b3c4d5e/", task="api")


def holder(**facts: object) -> Holder:
    base: dict[str, object] = {
        "pid": 300,
        "uid": ME,
        "user": "ann",
        "command": "uvicorn app:app --port 8000",
        "cwd": "/home/ann/elsewhere",
        "marker": None,
        "project": None,
    }
    return Holder(**{**base, **facts})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "force", "allowed", "why"),
    [
        # this project's leftovers: marker or folder
        (
            {"marker": "shop-1a2b3c4d5e/api"},
            False,
            True,
            "left over from this project's task 'api'",
        ),
        ({"marker": "shop-1a2b3c4d5e/old"}, False, True, "task 'old'"),
        ({"cwd": "/home/ann/shop"}, False, True, "inside the project folder"),
        ({"cwd": "/home/ann/shop/backend/src"}, False, True, "inside the project folder"),
        # a sibling folder whose name merely starts like the project's is not inside it
        (
            {"cwd": "/home/ann/shop-old"},
            False,
            False,
            "not this project's (it runs from /home/ann/shop-old)",
        ),
        ({}, False, False, "not this project's (it runs from /home/ann/elsewhere)"),
        ({"cwd": None}, False, False, "working directory is unreadable"),
        # a running task of this project is not a leftover
        (
            {"marker": "shop-1a2b3c4d5e/web"},
            False,
            False,
            "this project's task 'web', which is running",
        ),
        # another taskmux project's task, even when it runs from our folder
        (
            {"marker": "blog-99/web", "project": "blog", "cwd": "/home/ann/shop"},
            False,
            False,
            "task 'web' of another taskmux project (session 'blog', in /home/ann/shop)",
        ),
        ({"marker": "blog-99/web"}, False, False, "(session 'blog-99'"),
        # another user, even inside our folder or with our marker
        (
            {"uid": 26, "user": "postgres", "cwd": "/home/ann/shop"},
            False,
            False,
            "another user (postgres)",
        ),
        (
            {"uid": 26, "user": "postgres", "marker": "shop-1a2b3c4d5e/api"},
            False,
            False,
            "another user",
        ),
        # invisible, init, ourselves: never, not even with --kill-port
        ({"pid": None, "uid": 26, "user": "postgres"}, False, False, "cannot be seen"),
        ({"pid": None, "uid": 26, "user": "postgres"}, True, False, "cannot be seen"),
        ({"pid": 1, "cwd": "/home/ann/shop"}, True, False, "init process"),
        ({"pid": 4242, "cwd": "/home/ann/shop"}, True, False, "taskmux itself"),
        # --kill-port: anything of ours; another user's only for root
        ({}, True, True, "--kill-port"),
        ({"marker": "blog-99/web"}, True, True, "--kill-port"),
        (
            {"uid": 26, "user": "postgres"},
            True,
            False,
            "another user (postgres) and cannot be signalled",
        ),
    ],
)
def test_judge(facts: dict[str, object], force: bool, allowed: bool, why: str) -> None:
    verdict = judge(holder(**facts), SCOPE, force)
    assert verdict.may_free is allowed
    assert why in verdict.why


def test_root_may_force_another_users_holder_but_not_without_asking() -> None:
    postgres = holder(uid=26, user="postgres", cwd="/var/lib/postgresql")
    assert judge(postgres, ROOT_SCOPE, force=False).may_free is False
    assert judge(postgres, ROOT_SCOPE, force=True).may_free is True


def test_all_or_nothing() -> None:
    ours = holder(cwd="/home/ann/shop")
    theirs = holder(pid=301, uid=26, user="postgres")
    assert may_free_all(judge_all([ours, ours], SCOPE))
    assert not may_free_all(judge_all([ours, theirs], SCOPE))
    assert not may_free_all([])


def test_refusal_names_pid_user_command_and_the_way_out() -> None:
    verdicts = judge_all([holder(pid=812, command="python3 -m http.server 8000")], SCOPE)
    text = refusal("api", 8000, verdicts, forced_would_work=True)
    assert text.startswith(
        "task 'api': port 8000 is held by pid 812 (user ann: python3 -m http.server"
    )
    assert "taskmux start api --kill-port" in text
    assert "?" not in text


def test_refusal_for_an_invisible_holder_has_no_question_marks() -> None:
    verdicts = judge_all([Holder(None, 26, "postgres")], SCOPE)
    text = refusal("db", 5432, verdicts, forced_would_work=False)
    assert "held by a process of another user, postgres (pid unknown)" in text
    assert "pid ?" not in text and "(?)" not in text
    assert "--kill-port" not in text  # it would not help
    unknown = refusal("db", 5432, judge_all([Holder(None, None, None)], SCOPE), False)
    assert "held by a process of another user (pid unknown)" in unknown


def test_long_commands_are_shortened() -> None:
    text = holder(command="x" * 500).describe()
    assert len(text) < 130 and text.endswith("…)")


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        ("/usr/bin/redis-server *:6379", "--daemonize no"),
        ("memcached -d -p 11211", "drop `-d`"),
        ("nginx: master process nginx", "daemon off;"),
        ("python3 mydaemon.py", "run it in the foreground"),
        ("", "run it in the foreground"),
    ],
)
def test_foreground_hint(command: str, hint: str) -> None:
    assert hint in foreground_hint(command)
