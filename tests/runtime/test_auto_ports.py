"""Automatic ports: chosen once, kept while free, chosen again when something took them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from taskmux.config.models import validate_config
from taskmux.runtime.ports import PortBook, choose_port, is_free
from taskmux.statedir.paths import ProjectPaths


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock
    finally:
        sock.close()


def _book(tmp_path: Path) -> PortBook:
    raw = {
        "tasks": {
            "api": {"command": "x", "port": "auto"},
            "web": {"command": "x", "port": "auto"},
            "db": {"command": "x", "port": 5432},
            "job": {"command": "x"},
        }
    }
    config, problems = validate_config(raw)
    assert config is not None, problems
    return PortBook(ProjectPaths.for_config(tmp_path / "taskmux.toml"), config)


def test_is_free_sees_a_listener_on_any_address(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert not is_free(port)
    listener.close()
    assert is_free(port)


def test_choose_port_skips_the_projects_ports() -> None:
    offers = iter([5432, 4000, 4001])
    assert choose_port({5432, 4000}, lambda: next(offers)) == 4001


def test_an_auto_port_is_chosen_once_and_kept(tmp_path: Path) -> None:
    book = _book(tmp_path)
    assert book.port_of("api", assign=False) is None
    assert book.port_of("db") == 5432 and book.port_of("job") is None
    api = book.port_of("api")
    assert api is not None and is_free(api)
    assert _book(tmp_path).port_of("api") == api  # another process reads the same
    assert book.port_of("web") not in (api, 5432)
    assert book.recorded() == {"api": api, "web": book.port_of("web")}


def test_concurrent_first_uses_agree(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        ports = list(pool.map(lambda n: _book(tmp_path).port_of(n), ["api", "web"] * 8))
    assert len(set(ports[0::2])) == 1 and len(set(ports[1::2])) == 1
    assert ports[0] != ports[1]


def test_claim_keeps_a_free_or_own_port_and_replaces_a_taken_one(
    tmp_path: Path, listener: socket.socket
) -> None:
    book = _book(tmp_path)
    api = book.port_of("api")
    assert api is not None
    assert book.claim("api", lambda _port: False) == (api, None)  # free: kept
    taken = listener.getsockname()[1]
    book._write({"api": taken})  # as if the last run's port had been taken meanwhile
    assert book.claim("api", lambda _port: True) == (taken, None)  # held by its own leftover
    port, previous = book.claim("api", lambda _port: False)
    assert previous == taken and port != taken and is_free(port)
    assert book.recorded()["api"] == port
