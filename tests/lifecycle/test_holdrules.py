"""The pure holder rules (`lifecycle/holdrules.py`): tables of cases, time an argument."""

from __future__ import annotations

import pytest

from taskmux.lifecycle import holdrules


@pytest.mark.parametrize(
    ("current", "caller", "force", "blocks"),
    [
        (None, None, False, None),  # nobody holds it
        (None, "a", False, None),
        ("a", "a", False, None),  # its own holder
        ("a", None, False, "a"),  # no holder given: another's claim refuses
        ("a", "b", False, "a"),
        ("a", "b", True, None),  # forced
        ("a", None, True, None),
    ],
)
def test_blocker(current: str | None, caller: str | None, force: bool, blocks: str | None) -> None:
    assert holdrules.blocker(current, caller, force) == blocks


@pytest.mark.parametrize(
    ("current", "caller", "force", "claimed"),
    [
        (None, None, False, False),  # no holder given: nothing recorded
        (None, "a", False, True),
        ("a", "a", False, True),  # renewed
        ("a", "b", False, False),  # not over another's live claim
        ("a", "b", True, True),
    ],
)
def test_claims(current: str | None, caller: str | None, force: bool, claimed: bool) -> None:
    assert holdrules.claims(current, caller, force) is claimed


def test_a_renewal_keeps_its_start_and_moves_its_end() -> None:
    renewed = holdrules.claim_marks("a", 100.0, "a", 150.0, 60.0)
    assert renewed == {"holder": "a", "held_since": "100.000", "held_until": "210.000"}
    taken = holdrules.claim_marks("b", 100.0, "a", 150.0, 60.0)  # forced over b's
    assert taken["held_since"] == "150.000"


def test_refusal_names_each_task_its_holder_and_the_way_out() -> None:
    line = holdrules.refusal("stop", {"api": ("a", 130.0)}, 100.0)
    assert "task 'api' is held by 'a' (the claim lapses in 30 s)" in line
    assert "--holder a" in line and "--force" in line
    two = holdrules.refusal("kill", {"api": ("a", 130.0), "db": ("b", 90.0)}, 100.0)
    assert "--holder NAME" in two and "lapses in 0 s" in two


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("agent-1", True),
        ("claude@repo:fix/42", True),
        ("", False),
        ("two words", False),
        ("x;y", False),
        ("a" * 65, False),
    ],
)
def test_name_problem(name: str, ok: bool) -> None:
    assert (holdrules.name_problem(name) is None) is ok
