"""The table of names the proxy answers: every registered checkout's tasks with a port.

Read from the registry (`statedir/proxyreg.py`) and each project's validated-config
cache and automatic ports, with the read model's own functions (`lifecycle/readmodel.py`):
no tmux call, so routing a request costs a dict lookup. The table is rebuilt when the
registry changes, at most every `MAX_AGE` seconds otherwise, and once before a 404.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from taskmux.lifecycle.named_urls import proxy_port, task_url
from taskmux.lifecycle.readmodel import current_ports, recorded_ports
from taskmux.statedir import proxyreg

MAX_AGE = 1.0


@dataclass(frozen=True)
class Route:
    """One task's name: where it leads, and which project's config says so."""

    task: str
    session: str
    port: int
    config: str
    proxy_port: int

    @property
    def url(self) -> str:
        return task_url(self.task, self.session, self.proxy_port)


def build_routes() -> dict[tuple[str, str], Route]:
    """(task, session) in lower case -> its route, for every registered checkout."""
    table: dict[tuple[str, str], Route] = {}
    for entry in proxyreg.entries():
        facts, proxy_port = _facts(entry.config)
        if not proxy_port:
            continue  # this project turned the proxy (and its URLs) off
        ports = current_ports(facts, recorded_ports(entry.root))
        for task, port in ports.items():
            route = Route(task, entry.session, port, entry.config, proxy_port)
            table[(task.lower(), entry.session.lower())] = route
    return table


def _facts(config: str) -> tuple[dict[str, dict[str, object]], int]:
    """The tasks' facts and `proxy_port` from the config cache; a config changed since
    it was cached is loaded again (which writes the cache)."""
    from taskmux.config.cache import read_current

    try:
        found = read_current(config)
        if found is None:
            from taskmux.config.project import load_project

            load_project(config)  # validates and caches it
            found = read_current(config)
    except Exception:  # noqa: BLE001  # one project's broken config must not stop routing the others
        return {}, 0
    if found is None:
        return {}, 0
    data = found[1]
    facts = data.get("facts")
    port = data.get("proxy_port", 0)
    return (facts if isinstance(facts, dict) else {}), proxy_port(
        port if isinstance(port, int) else 0
    )


@dataclass
class RouteTable:
    """The table as the server keeps it: rebuilt when stale, looked up per request."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    built_at: float = float("-inf")
    stamp: int = -1

    def lookup(self, task: str, session: str, fresh: bool = False) -> Route | None:
        self.refresh(force=fresh)
        return self.routes.get((task, session))

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        stamp = proxyreg.registry_stamp()
        if force or stamp != self.stamp or now - self.built_at > MAX_AGE:
            self.routes = build_routes()
            self.built_at, self.stamp = now, stamp

    def urls(self) -> list[str]:
        return sorted(route.url for route in self.routes.values())


class Liveness:
    """Which of a checkout's tasks run, read with the read model at most every
    `MAX_AGE` seconds per checkout. A stopped task's port may be bound by any process
    since (another user's too): the proxy forwards only to a task that runs, so a name
    never leads to something that is not the task's."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, frozenset[str]]] = {}

    def running(self, config: str) -> frozenset[str]:
        """Blocking (a tmux call when stale): the server calls it in a thread."""
        now = time.monotonic()
        seen = self._seen.get(config)
        if seen is not None and now - seen[0] <= MAX_AGE:
            return seen[1]
        names = frozenset(_running(config))
        self._seen[config] = (now, names)
        return names

    def fresh(self, config: str) -> bool:
        """Whether `running` would answer without reading tmux."""
        seen = self._seen.get(config)
        return seen is not None and time.monotonic() - seen[0] <= MAX_AGE


def _running(config: str) -> list[str]:
    """The running tasks of a checkout: the lean read, else the service's (a lost or
    renamed session, a config the lean path cannot vouch for); none if neither can say."""
    from taskmux.lifecycle.readmodel import LeanRead, NotHere

    try:
        rows = LeanRead(config).status()["tasks"]
    except (NotHere, OSError, ValueError, KeyError, TypeError):
        try:
            from taskmux.service import Service, open_project

            rows = Service.for_project(open_project(config, fallback=True)).status().tasks
        except Exception:  # noqa: BLE001  # no answer is "not running": never a stranger
            return []
    return [str(row["name"]) for row in rows if row.get("running")]
