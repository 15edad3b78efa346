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
    ],
)
def test_choose_session(owners: dict[str, str], expected: SessionChoice) -> None:
    assert choose_session("shop", "shop-aaaa", ME, owners) == expected
