"""Log searches over a whole history, run in worker processes of their own.

A regex search of a 20 MB log is seconds of pure Python in one thread, and Python's
threads share one lock (the GIL): every short request beside it (a restart's many tmux
calls) would wait for that lock again and again, and take three times as long. So a
`logs` request that searches the history (a `grep` without `after`) runs in a small pool
of worker processes, each with its own lock, through the same service call on the same
config file, at a lower priority (a search may wait, a button should not); everything
else stays in the daemon's threads. The pool starts on the
first such search and is ended (its processes killed) with the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.errors import TaskmuxError

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

WORKERS = 2
NICENESS = 10  # the workers' priority below the daemon's


def is_search(command: str, params: dict[str, Any]) -> bool:
    """A request that searches a task's whole history (the slow kind)."""
    return (
        command == "logs"
        and bool(params.get("grep"))
        and params.get("after") is None
        and not params.get("digest")
    )


def _search(config: str, params: dict[str, Any]) -> dict[str, Any]:
    """In a worker: the service's `logs`, as plain data (an error as its dict)."""
    from taskmux.config.project import load_project
    from taskmux.service import Service

    try:
        service = Service.for_project(load_project(Path(config), fallback=True))
        result: dict[str, Any] = service.call("logs", params).to_dict()
        return {"result": result}
    except TaskmuxError as exc:
        return {"error": exc.to_dict()}


def _lower_priority() -> None:
    """A worker yields the CPU to the daemon and the tasks: on a busy machine a search
    may take longer, but a restart beside it does not."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)


class Searches:
    """The worker pool (started on first use) and the way into it from the event loop."""

    def __init__(self, config: Path, workers: int = WORKERS) -> None:
        self.config = str(config)
        self.workers = workers
        self._pool: Pool | None = None

    async def run(self, params: dict[str, Any]) -> dict[str, Any]:
        """The search's result; raises TaskmuxError as the service would have."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()

        def done(value: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(_settle, future, value, None)

        def failed(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, future, None, exc)

        self._started().apply_async(
            _search, (self.config, params), callback=done, error_callback=failed
        )
        outcome = await future
        if "error" in outcome:
            error = outcome["error"]
            raise TaskmuxError(str(error["message"]), code=str(error["code"]))
        data: dict[str, Any] = outcome["result"]
        return data

    def _started(self) -> Pool:
        if self._pool is None:
            # spawn, not fork: the daemon has threads, and a forked copy of a lock one of
            # them held would never be released in the child.
            import multiprocessing  # only once a search runs: most daemons never search

            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(self.workers, initializer=_lower_priority)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


def _settle(
    future: asyncio.Future[dict[str, Any]], value: dict[str, Any] | None, exc: BaseException | None
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        assert value is not None
        future.set_result(value)
