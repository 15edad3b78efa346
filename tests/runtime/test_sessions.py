"""Which session a checkout uses: the pure rule of `sessions.choose_session`."""

from __future__ import annotations

import pytest

from taskmux.runtime.sessions import SessionChoice, choose_session

ME, OTHER = "shop-aaaa111111", "shop-bbbb222222"


@pytest.mark.parametrize(
    ("owners", "expected"),
    [
        pytest.param({}, SessionChoice("shop"), id="nothing-yet: the name"),
        pytest.param({"shop": ME}, SessionChoice("shop"), id="ours already"),
        pytest.param({"shop": OTHER}, SessionChoice("shop-aaaa"), id="another checkout's"),
        pytest.param(
            {"shop": OTHER, "shop-aaaa": ME}, SessionChoice("shop-aaaa"), id="ours: alternate"
        ),
        pytest.param(
            {"shop-aaaa": ME}, SessionChoice("shop-aaaa"), id="alternate kept when name frees"
        ),
        pytest.param({"shop": ME, "shop-aaaa": ME}, SessionChoice("shop"), id="both: name"),
        pytest.param({"shop": ""}, SessionChoice("shop", conflict=""), id="a person's session"),
        pytest.param(
            {"shop": "", "shop-aaaa": ME}, SessionChoice("shop-aaaa"), id="person's, ours alt"
        ),
        pytest.param(
            {"shop": OTHER, "shop-aaaa": ""},
            SessionChoice("shop-aaaa", conflict=""),
            id="alternate is a person's",
        ),
        pytest.param(
            {"shop": OTHER, "shop-aaaa": "third"},
            SessionChoice("shop-aaaa", conflict="third"),
            id="alternate is a third project's",
        ),
        pytest.param(
            {"work": ME},
            SessionChoice("work", moved=True, rename_to="shop"),
            id="ours renamed by hand: found by its tag, its name free",
        ),
        pytest.param(
            {"work": ME, "shop": ""},
            SessionChoice("work", moved=True, rename_to=""),
            id="ours renamed, its name now a person's: used as it is",
        ),
        pytest.param(
            {"work": ME, "shop": OTHER},
            SessionChoice("work", moved=True, rename_to="shop-aaaa"),
            id="ours renamed, the name another checkout's: back to the alternate",
        ),
        pytest.param(
            {"work": ME, "shop": ME}, SessionChoice("shop"), id="ours by name wins a renamed"
        ),
        pytest.param({"work": OTHER}, SessionChoice("shop"), id="another's renamed: not ours"),
    ],
)
def test_choose_session(owners: dict[str, str], expected: SessionChoice) -> None:
    assert choose_session("shop", "shop-aaaa", ME, owners) == expected
