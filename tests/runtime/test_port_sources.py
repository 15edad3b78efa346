"""Pure parts of issue 23's items 5 and 7: which ports a task's environment was built
from (stored on its window, read back), when they moved, and whose leftovers root may end."""

from __future__ import annotations

import pytest

from taskmux.lifecycle.readmodel import leftover_note, moved_ports
from taskmux.runtime.paneformat import decode_ports, encode_ports
from taskmux.runtime.port_guard import Holder, Scope, judge

PREFIX = "shop-1a2b3c4d5e/"


def test_port_sources_read_back_as_written() -> None:
    sources = (("api", 5432), ("cache-1", 6379))
    assert decode_ports(encode_ports(sources)) == sources
    assert decode_ports("") == () and decode_ports("api=x,=3,db=7") == (("db", 7),)


@pytest.mark.parametrize(
    ("built_from", "current", "moved"),
    [
        ((("api", 5000),), {"api": 5000}, {}),
        ((("api", 5000),), {"api": 6001}, {"api": [5000, 6001]}),
        ((("api", 5000), ("db", 5432)), {"api": 5000, "db": 5433}, {"db": [5432, 5433]}),
        ((("gone", 5000),), {}, {}),  # a task no longer in the config (or portless): not stale
        ((), {"api": 6001}, {}),
    ],
)
def test_moved_ports(
    built_from: tuple[tuple[str, int], ...], current: dict[str, int], moved: dict[str, list[int]]
) -> None:
    assert moved_ports(built_from, current) == moved


def test_the_leftover_note_counts_and_names_pids() -> None:
    rows = [{"name": "db", "leftover_pids": [12, 13]}, {"name": "redis", "leftover_pids": [20]}]
    note = leftover_note("shop", rows)  # type: ignore[arg-type]
    assert "'shop' is gone" in note and "2 leftovers" in note
    assert "db (pid 12, 13), redis (pid 20)" in note


def _holder(uid: int, marker: str | None) -> Holder:
    return Holder(300, uid, "postgres", "postgres -D /data", "/", marker)


@pytest.mark.parametrize(
    ("me", "holder", "allowed"),
    [
        (0, _holder(26, PREFIX + "db"), True),  # root ends its own project's `runuser` task
        (0, _holder(26, "other-9f8e7d6c5b/db"), False),  # another project's: never
        (0, _holder(26, None), False),  # no marker: not known to be ours
        (1000, _holder(26, PREFIX + "db"), False),  # a user may not signal another's
        (1000, _holder(1000, PREFIX + "db"), True),
    ],
)
def test_a_leftover_of_another_user_may_be_ended_by_root(
    me: int, holder: Holder, allowed: bool
) -> None:
    scope = Scope(uid=me, root="/home/ann/shop", marker_prefix=PREFIX, task="db")
    assert judge(holder, scope).may_free is allowed
