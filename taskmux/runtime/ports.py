"""Task ports: fixed ones come from the config; `port = "auto"` ones are chosen once and kept.

An automatic port is chosen the first time it is needed (its task's start, or another
task's `${tasks.NAME.port}`), recorded in the state folder (`ports.json`, written under a
lock: the CLI, `start -m` and the daemon are different processes) and kept across
restarts and sessions. At each start of its task it is checked again: free, or held by
that task's own leftovers, it stays; taken by anything else, another is chosen.
"""

from __future__ import annotations

import contextlib
import errno
import json
import socket
from collections.abc import Callable

from taskmux.config.schema import ProjectConfig
from taskmux.statedir.filelock import locked
from taskmux.statedir.paths import ProjectPaths

_CHOICES = 64  # attempts at a port the kernel offers that this project does not use yet


_NO_IPV6 = {errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.EADDRNOTAVAIL}


def _bind_wildcard(port: int, reuse: bool) -> int:
    """Bind a TCP socket to `port` (0: any) on every local address; return the port bound.

    Dual-stack IPv6 covers IPv4 too; where IPv6 is missing or disabled, IPv4 alone.
    Raises OSError (EADDRINUSE) when something holds the port.
    """
    for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue
        with probe:
            if reuse:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                probe.bind((address, port))
            except OSError as exc:
                if family == socket.AF_INET6 and exc.errno in _NO_IPV6:
                    continue
                raise
            bound: int = probe.getsockname()[1]
            return bound
    raise OSError(errno.EAFNOSUPPORT, "no TCP socket can be opened")


def is_free(port: int) -> bool:
    """Whether nothing listens on (or holds) `port` on any local address, IPv4 or IPv6.

    The probe binds the wildcard address with SO_REUSEADDR: a port left in TIME_WAIT by
    the task's last run counts as free, a listener on any address does not.
    """
    try:
        _bind_wildcard(port, reuse=True)
    except OSError:
        return False
    return True


def kernel_port() -> int:
    """A port free on every local address right now, as the kernel picks one."""
    return _bind_wildcard(0, reuse=False)


def choose_port(taken: set[int], offer: Callable[[], int] = kernel_port) -> int:
    """A free port that is not in `taken` (ports of this project's other tasks)."""
    for _ in range(_CHOICES):
        port = offer()
        if port not in taken:
            return port
    raise OSError(f"no free port found in {_CHOICES} attempts")


class PortBook:
    """The ports of one project's tasks, automatic ones kept in `ports.json`."""

    def __init__(self, paths: ProjectPaths, config: ProjectConfig) -> None:
        self.file = paths.root / "ports.json"
        self.lock = paths.root / "ports.lock"
        self.config = config

    def recorded(self) -> dict[str, int]:
        """The automatic ports chosen so far (read without the lock: writes are atomic)."""
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int) and 0 < v < 65536}

    def port_of(self, task: str, assign: bool = True) -> int | None:
        """The task's port; an automatic one not chosen yet is chosen now (unless `assign`
        is false: then None)."""
        spec = self.config.tasks.get(task)
        if spec is None or spec.port is None:
            return None
        if not spec.auto_port:
            return int(spec.port)
        port = self.recorded().get(task)
        if port is not None or not assign:
            return port
        with locked(self.lock):
            book = self.recorded()
            if task not in book:
                book[task] = choose_port(self._taken(book, task))
                self._write(book)
            return book[task]

    def claim(self, task: str, is_own: Callable[[int], bool]) -> tuple[int, int | None]:
        """At the start of an automatic-port task: its port, chosen again if something
        else holds it. Returns (port, the previous port if it had to change)."""
        with locked(self.lock):
            book = self.recorded()
            current = book.get(task)
            if current is not None and (is_free(current) or is_own(current)):
                return current, None
            book[task] = choose_port(self._taken(book, task))
            self._write(book)
            return book[task], current

    def _taken(self, book: dict[str, int], task: str) -> set[int]:
        fixed = {
            int(t.port)
            for t in self.config.tasks.values()
            if t.port is not None and not t.auto_port
        }
        return fixed | {port for name, port in book.items() if name != task}

    def _write(self, book: dict[str, int]) -> None:
        from taskmux.statedir.files import write_private

        self.file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.file, json.dumps(book))
