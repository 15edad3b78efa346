"""The figures of SPEC §7, in the SPEC's order: what `python -m bench` must print.

Each scenario tags the figures it measures with one of these ids (`Figure.spec`); the
report prints one row per id, ours beside every peer, and "not run" for an id whose
scenario was not selected, so a missing figure is visible, never silently absent.
"""

from __future__ import annotations

FIGURES: dict[str, tuple[str, str]] = {
    # id: (figure, goal)
    "exit-noticed": ("exit noticed (exited event - moment of death), median", "< 30 ms"),
    "restart-0": ("exit → running again, restart_delay = 0", "< 50 ms"),
    "restart-0.1": ("exit → running again, restart_delay = 0.1 s", "< 150 ms (delay + 50 ms)"),
    "idle-cpu": ("idle daemon CPU, 10 tasks", "< 0.05 % of a core"),
    "idle-rss": ("idle daemon RSS, 10 tasks", "< 40 MB"),
    "status-10": ("status, 10 tasks", "< 150 ms"),
    "status-ratio": ("status, 10 tasks ÷ bare interpreter start", "< 2x"),
    "roundtrips": ("tmux round trips per `status --json`", "1"),
    "pss-per-task": ("memory beyond the tasks, per task (PSS, 100 tasks)", "< 0.5 MB"),
    "start-30": ("start 30 tasks → all running", "< 0.15 s"),
    "stop-30": ("stop all 30 → none remain", "< 0.3 s"),
    "stop-one": ("stop of a SIGINT-obedient task", "< 0.5 s"),
    "start-200": ("start 200 tasks → all running", "< 1 s"),
    "status-200": ("status, 200 tasks ÷ status, 10 tasks", "< 1.5x"),
    "stop-200": ("stop all 200 → none remain", "< 1 s"),
    "chain-grid": ("start a 10x10 dependency chain of instant tasks → all running", "< 2.5 s"),
    "chain-4": ("start a 4-level dependency chain of instant tasks → all running", "< 1 s"),
    "burst-lost": ("lines lost, 100,000 lines/s for 10 s", "0"),
    "burst-cpu": ("log path CPU at 100,000 lines/s", "< 0.5 core"),
    "lossless": ("lines lost of 50,000 printed at full speed", "0"),
    "lossless-runs": ("runs that lost lines of 50,000 printed at full speed (of 20)", "0"),
    "proxy-added": ("named URL proxy: added median latency, small request", "< 2 ms"),
}

# Figures a peer has no counterpart for, and why (shown as "n/a" in the peer's column).
PEER_NOT_APPLICABLE: dict[str, str] = {
    "roundtrips": "the peers do not use tmux",
    "stop-one": "measured for taskmux only (the `stop` scenario: SIGINT, then escalation)",
    "chain-grid": "the peers have no dependencies between tasks",
    "chain-4": "the peers have no dependencies between tasks",
    "proxy-added": "the peers have no URL proxy",
}
