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

SCENARIOS: dict[str, tuple[str, str, str]] = {
    "cli": ("bench.scenarios.cli", "latency", "CLI wall time with 10 running tasks"),
    "roundtrips": ("bench.scenarios.cli", "roundtrips", "tmux calls per CLI command"),
    "start": ("bench.scenarios.lifecycle", "start", "start 10/30/100 independent tasks"),
    "stop": ("bench.scenarios.lifecycle", "stop", "stop a task that obeys / ignores SIGINT"),
    "restart": ("bench.scenarios.supervision", "restart", "exit → running again under start -m"),
    "health": ("bench.scenarios.supervision", "health", "health of 20 tasks with 1 s checks"),
    "logs": ("bench.scenarios.logs", "lossless", "lines lost of 50,000 printed at full speed"),
    "logs-tail": ("bench.scenarios.logs", "tail", "logs -n 100 on a 100 MB log"),
    "daemon": ("bench.scenarios.daemon", "daemon", "daemon idle CPU/RSS, status round trips"),
}


def load(name: str) -> Callable[[Context], list[Figure]]:
    module, function, _ = SCENARIOS[name]
    found: Callable[[Context], list[Figure]] = getattr(importlib.import_module(module), function)
    return found
