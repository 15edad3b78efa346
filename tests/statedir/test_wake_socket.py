"""The supervisor's wake-up socket is reachable by its user alone (issue 23, item 14).

A poke once went to a Linux abstract socket name: any local user could send to it, and
though the supervisor ignored another uid's pokes, reading them under a flood cost it
two thirds of a core. The socket is now a file in the 0700 state folder.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
from pathlib import Path

import psutil
import pytest
from harness import Project, project, wait_until

from taskmux.runtime.wakeup import Listener, poke
from taskmux.statedir.claim import supervisor_running

__all__ = ["project"]

SLEEPER = """
[tasks.web]
command = "sleep 300"
"""

_FLOOD = """
import socket, sys, time
addresses = [bytes.fromhex(a) for a in sys.argv[1:]]
sent = refused = 0
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setblocking(False)
deadline = time.monotonic() + 0.5
while time.monotonic() < deadline:
    for address in addresses:
        try:
            sock.sendto(b"w", address)
            sent += 1
        except BlockingIOError:
            sent += 1  # reached it; its queue is full for a moment
        except OSError:
            refused += 1
print(sent, refused, flush=True)
"""


def _old_abstract_name(state_folder: Path) -> bytes:
    """Where 0.6.0's supervisor listened: an abstract name any local user can send to."""
    digest = hashlib.sha256(str(state_folder.absolute()).encode()).hexdigest()[:32]
    return f"\0taskmux/wake/{os.geteuid()}/{digest}".encode()


def test_another_user_cannot_poke_the_supervisor_nor_keep_it_busy(
    project: Project, other_user: pwd.struct_passwd
) -> None:
    python = "/usr/bin/python3"  # one the other user can run (not a venv under /root)
    if not os.path.exists(python):
        pytest.skip(f"{python} is needed to run a process as the other user")
    project.write(SLEEPER)
    project.supervise()  # in a thread: this process's CPU is the supervisor's
    root = project.paths.root
    assert supervisor_running(root / "supervisor.lock")
    assert wait_until(lambda: poke(root), timeout=10)  # its own user reaches it
    supervisor = psutil.Process()
    before = sum(supervisor.cpu_times()[:2])
    addresses = [_old_abstract_name(root).hex(), os.fsencode(root / "wake.sock").hex()]
    flood = subprocess.run(
        [python, "-c", _FLOOD, *addresses],
        user=other_user.pw_uid,
        group=other_user.pw_gid,
        extra_groups=[],
        cwd="/",
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    spent = sum(supervisor.cpu_times()[:2]) - before
    sent, refused = map(int, flood.stdout.split())
    assert sent == 0 and refused > 1000, flood.stdout
    # A 0.5 s flood: the supervisor that read another uid's pokes spent two thirds of it.
    assert spent < 0.15, f"the supervisor spent {spent:.2f} s of CPU under the flood"


def test_a_dead_supervisors_socket_file_is_replaced_and_a_closed_one_removed(
    tmp_path: Path,
) -> None:
    first = Listener.bind(tmp_path)
    assert first is not None
    first.sock.close()  # as if killed: the file stays, nobody reads it
    assert (tmp_path / "wake.sock").exists() and not poke(tmp_path)
    second = Listener.bind(tmp_path)
    assert second is not None and poke(tmp_path)
    second.close()
    assert not (tmp_path / "wake.sock").exists()


def test_a_state_folder_too_long_for_a_socket_address_still_gets_pokes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / ("x" * 120)
    folder.mkdir()
    listener = Listener.bind(folder)
    assert listener is not None
    try:
        assert poke(folder) and wait_until(listener.drain, timeout=5)
        assert listener.is_reachable()
    finally:
        listener.close()
    assert not (folder / "wake.sock").exists()
