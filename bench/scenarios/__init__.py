"""The scenarios, by name: each is a function `(Context) -> list[Figure]` in its module.

Modules are imported only when their scenario runs, so `python -m bench --help` and a
single `--only` scenario stay quick to start.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.core import Context, Figure

# name: (module, function, what it measures, whether peers (supervisord, pm2) run it too)
SCENARIOS: dict[str, tuple[str, str, str, bool]] = {
    "status": (
        "bench.scenarios.cli",
        "status",
        "status with 10 tasks, against a bare interpreter",
        True,
    ),
    "reads": (
        "bench.scenarios.reads",
        "reads",
        "status, --json, inspect, logs, events, --help ÷ bare interpreter",
        False,
    ),
    "cli": ("bench.scenarios.cli", "latency", "other CLI wall times with 10 running tasks", False),
    "roundtrips": ("bench.scenarios.cli", "roundtrips", "tmux calls per CLI command", False),
    "start": ("bench.scenarios.lifecycle", "start", "start 30 tasks until all run, stop all", True),
    "scale": ("bench.scenarios.lifecycle", "scale", "200 tasks: start, status, stop", True),
    "chain": (
        "bench.scenarios.chain",
        "chain",
        "start a 10x10 and a 4-level dependency chain of instant tasks",
        False,
    ),
    "stop": ("bench.scenarios.lifecycle", "stop", "stop a task that obeys / ignores SIGINT", False),
    "restart": ("bench.scenarios.supervision", "restart", "exit → noticed, → running again", True),
    "health": (
        "bench.scenarios.supervision",
        "health",
        "health of 20 tasks with 1 s checks",
        False,
    ),
    "daemon": ("bench.scenarios.daemon", "daemon", "idle daemon CPU/RSS with 10 tasks", True),
    "memory": (
        "bench.scenarios.memory",
        "memory",
        "memory beyond the tasks (PSS), 100 tasks",
        True,
    ),
    "logs": (
        "bench.scenarios.logs",
        "lossless",
        "lines lost of 50,000 printed at full speed",
        True,
    ),
    "burst": (
        "bench.scenarios.logs",
        "burst",
        "100,000 lines/s for 10 s: lost, log path CPU",
        True,
    ),
    "pane-exit": (
        "bench.scenarios.paneexit",
        "pane_exit",
        "a quick task's last lines in bare tmux, with and without the waiting shell",
        False,
    ),
    "logs-tail": ("bench.scenarios.logs", "tail", "logs -n 100 on a 100 MB log", False),
    "ensure": (
        "bench.scenarios.ensure",
        "ensure",
        "ensure with 10 tasks all kept ÷ status --json; one edited task restarted",
        False,
    ),
    "digest": (
        "bench.scenarios.digest",
        "digest",
        "logs --digest of a 50,000-line chatty log with one traceback: kept, tokens, ratio",
        False,
    ),
    "proxy": (
        "bench.scenarios.proxy",
        "proxy",
        "a small request through the named URL proxy vs straight to the task",
        False,
    ),
}


def load(name: str) -> Callable[[Context], list[Figure]]:
    module, function, _what, _peers = SCENARIOS[name]
    found: Callable[[Context], list[Figure]] = getattr(importlib.import_module(module), function)
    return found
