"""The restart decision as tables of cases: no tmux, no sleeping, time passed in."""

from __future__ import annotations

import pytest

from taskmux.lifecycle.restart import (
    MAX_DELAY,
    Action,
    History,
    Observed,
    Policy,
    after_failed_restart,
    backoff_delay,
    decide,
)

NOW = 1_000_000.0
EXIT_0 = Observed(alive=False, exit_status=0)
EXIT_3 = Observed(alive=False, exit_status=3)
SIGNALLED = Observed(alive=False, exit_signal=9)
ALIVE = Observed(alive=True)
UNHEALTHY = Observed(alive=True, health_failures=3)
ALMOST_UNHEALTHY = Observed(alive=True, health_failures=2)
FRESH = History(restarts=0, running_since=NOW - 5)


@pytest.mark.parametrize(
    ("policy", "observed", "expected"),
    [
        ("no", EXIT_0, Action.NONE),
        ("no", EXIT_3, Action.NONE),
        ("no", SIGNALLED, Action.NONE),
        ("no", UNHEALTHY, Action.NONE),
        ("no", ALIVE, Action.NONE),
        ("on-failure", EXIT_0, Action.NONE),  # completed, docker's semantics
        ("on-failure", EXIT_3, Action.RESTART),
        ("on-failure", SIGNALLED, Action.RESTART),
        ("on-failure", UNHEALTHY, Action.RESTART),
        ("on-failure", ALMOST_UNHEALTHY, Action.NONE),
        ("on-failure", ALIVE, Action.NONE),
        ("always", EXIT_0, Action.RESTART),
        ("always", EXIT_3, Action.RESTART),
        ("always", SIGNALLED, Action.RESTART),
        ("always", UNHEALTHY, Action.RESTART),
        ("always", ALIVE, Action.NONE),
    ],
)
def test_policy_by_exit_kind_and_health(policy: str, observed: Observed, expected: Action) -> None:
    assert decide(Policy(restart_policy=policy), observed, FRESH, NOW).action is expected


@pytest.mark.parametrize("policy", ["no", "on-failure", "always"])
@pytest.mark.parametrize("observed", [EXIT_0, EXIT_3, SIGNALLED, UNHEALTHY])
def test_manual_stop_and_gave_up_block_every_restart(policy: str, observed: Observed) -> None:
    for history in (
        History(manually_stopped=True, running_since=NOW - 5),
        History(gave_up=True, restarts=5, running_since=NOW - 5),
    ):
        assert decide(Policy(restart_policy=policy), observed, history, NOW).action is Action.NONE


@pytest.mark.parametrize(
    ("backoff", "restarts", "delay"),
    [
        (2.0, 0, 1.0),
        (2.0, 1, 2.0),
        (2.0, 2, 4.0),
        (2.0, 5, 32.0),
        (2.0, 6, MAX_DELAY),
        (2.0, 10_000, MAX_DELAY),
        (1.0, 7, 1.0),
        (3.0, 2, 9.0),
    ],
)
def test_backoff_is_exponential_and_capped(backoff: float, restarts: int, delay: float) -> None:
    assert backoff_delay(backoff, restarts) == delay
    policy = Policy(restart_backoff=backoff, max_restarts=restarts + 1)
    decision = decide(policy, EXIT_3, History(restarts=restarts, running_since=NOW), NOW)
    assert decision.action is Action.RESTART and decision.delay == delay


@pytest.mark.parametrize(
    ("max_restarts", "restarts", "expected"),
    [
        (0, 0, Action.GIVE_UP),
        (2, 0, Action.RESTART),
        (2, 1, Action.RESTART),
        (2, 2, Action.GIVE_UP),
        (5, 7, Action.GIVE_UP),
    ],
)
def test_max_restarts_gives_up(max_restarts: int, restarts: int, expected: Action) -> None:
    policy = Policy(max_restarts=max_restarts)
    for observed in (EXIT_3, UNHEALTHY):
        history = History(restarts=restarts, running_since=NOW - 1)
        assert decide(policy, observed, history, NOW).action is expected


@pytest.mark.parametrize(
    ("uptime", "restarts", "failures", "expected"),
    [
        (60.0, 2, 0, Action.RESET),
        (59.0, 2, 0, Action.NONE),
        (600.0, 0, 0, Action.NONE),  # nothing to reset
        (600.0, 2, 1, Action.NONE),  # not healthy right now
    ],
)
def test_count_resets_after_healthy_uptime(
    uptime: float, restarts: int, failures: int, expected: Action
) -> None:
    history = History(restarts=restarts, running_since=NOW - uptime)
    observed = Observed(alive=True, health_failures=failures)
    assert decide(Policy(), observed, history, NOW).action is expected


@pytest.mark.parametrize("auto_start", [True, False])
@pytest.mark.parametrize(
    ("policy", "restarts_on_clean_exit"),
    [("no", False), ("on-failure", False), ("always", True)],
)
def test_auto_start_and_policy_are_independent(
    auto_start: bool, policy: str, restarts_on_clean_exit: bool
) -> None:
    """The six combinations: whether a task was auto-started never enters the decision."""
    decision = decide(Policy(restart_policy=policy), EXIT_0, FRESH, NOW)
    assert (decision.action is Action.RESTART) is restarts_on_clean_exit
    crash = decide(Policy(restart_policy=policy), EXIT_3, FRESH, NOW)
    assert (crash.action is Action.RESTART) is (policy != "no")
    assert "auto_start" not in Policy.__dataclass_fields__  # by construction
    del auto_start


def test_health_retries_threshold_is_the_policy_value() -> None:
    policy = Policy(health_retries=5)
    assert decide(policy, Observed(alive=True, health_failures=4), FRESH, NOW).action is Action.NONE
    decision = decide(policy, Observed(alive=True, health_failures=5), FRESH, NOW)
    assert decision.action is Action.RESTART and "health" in decision.reason


@pytest.mark.parametrize(
    ("first", "backoff", "restarts", "delay"),
    [
        (1.0, 2.0, 0, 1.0),  # the default: 1, 2, 4, ... as before
        (0.5, 2.0, 0, 0.5),
        (0.5, 2.0, 3, 4.0),
        (0.5, 3.0, 2, 4.5),
        (10.0, 2.0, 3, MAX_DELAY),  # 80 s, capped
        (0.0, 2.0, 0, 0.0),  # 0: at once
        (0.0, 2.0, 4, 0.0),  # and every time after; max_restarts bounds the loop
    ],
)
def test_restart_delay_scales_the_backoff(
    first: float, backoff: float, restarts: int, delay: float
) -> None:
    assert backoff_delay(backoff, restarts, first) == delay
    policy = Policy(restart_backoff=backoff, restart_delay=first, max_restarts=restarts + 1)
    decision = decide(policy, EXIT_3, History(restarts=restarts, running_since=NOW), NOW)
    assert decision.action is Action.RESTART and decision.delay == delay


def test_an_immediate_restart_loop_still_gives_up() -> None:
    policy = Policy(restart_delay=0.0, max_restarts=2)
    assert decide(policy, EXIT_3, History(restarts=2, running_since=NOW), NOW).action is (
        Action.GIVE_UP
    )


@pytest.mark.parametrize(
    ("codes", "observed", "expected"),
    [
        ((0,), EXIT_0, Action.NONE),
        ((0,), EXIT_3, Action.RESTART),
        ((0, 3), EXIT_3, Action.NONE),  # 3 counts as success: completed
        ((3,), EXIT_0, Action.RESTART),  # 0 is a failure when it is not listed
        ((0, 3), SIGNALLED, Action.RESTART),  # a signal is never a success
    ],
)
def test_success_exit_codes_decide_on_failure(
    codes: tuple[int, ...], observed: Observed, expected: Action
) -> None:
    policy = Policy(restart_policy="on-failure", success_exit_codes=codes)
    assert decide(policy, observed, FRESH, NOW).action is expected
    always = Policy(restart_policy="always", success_exit_codes=codes)
    assert decide(always, observed, FRESH, NOW).action is Action.RESTART


@pytest.mark.parametrize(
    ("restarts", "expected", "delay"),
    [(1, Action.RESTART, 2.0), (2, Action.RESTART, 4.0), (3, Action.GIVE_UP, 0.0)],
)
def test_a_failed_restart_waits_the_backoff(restarts: int, expected: Action, delay: float) -> None:
    policy = Policy(max_restarts=3, restart_backoff=2.0, restart_delay=1.0)
    decision = after_failed_restart(policy, restarts, "port busy")
    assert (decision.action, decision.delay) == (expected, delay)
