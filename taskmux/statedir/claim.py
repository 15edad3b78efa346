"""The one-supervisor claim: at most one `start -m` or daemon supervises a project.

Two things are held for as long as a supervisor runs, both released by the kernel the
moment it dies (so a crashed supervisor never blocks the next one):

- an flock on `<state>/supervisor.lock` (every POSIX system);
- on Linux, a name in the abstract unix-socket namespace, derived from the user and the
  state folder's path, bound and listened on by the supervisor.

The lock file alone is not enough: `rm -rf` of the state folder (a clean-up, by hand or
by a script) unlinks it, and a second supervisor would lock a fresh file of the same
name while the first still runs. The abstract name has no file: nothing on disk can drop
it. It has no permissions either, so another user could bind it first (squatting); a
claimant therefore asks a holder who it is (SO_PEERCRED: its uid and pid) and counts
only a holder of its own uid as a supervisor. A squatted name cannot lock us out: the
claim then stands on the lock file alone (as on macOS, which has no abstract names), and
says so in a warning. Deletion of the state folder and a squatter together are needed
to get two supervisors.

Alternatives considered: an flock on a directory fd of the state folder is dropped by the
same `rm -rf` (a new folder is a new inode); checking the lock file's identity (the
path's inode against the held fd's) only lets the first supervisor notice the deletion
after the fact, when a second may already hold the new file; a lock on the project
folder or on taskmux.toml would be shared by several configs in one folder (and editors
replace the file); a process-table scan costs tens of milliseconds.

`supervisor_running` agrees with the claim: a name held by our uid, or a held lock file.
Measured on Linux: a probe costs about 25 µs when nothing runs (a refused connect and an
flock probe) and 35 µs when a supervisor does (a connect it accepts and SO_PEERCRED);
a claim about 1 ms; a refusal a few ms.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskmux.errors import SupervisorRunning
from taskmux.statedir.filelock import try_lock
from taskmux.statedir.files import read_trusted, user_name, write_private
from taskmux.statedir.lockprobe import is_locked, pid_alive

ABSTRACT_NAMES = sys.platform.startswith("linux")
_PATIENCE = 0.3  # seconds a claimant waits out a momentary holder (a probe, a half-bound name)
_BACKLOG = 128
_ALONE = "supervising on the lock file alone (removing the state folder would drop it)"


@dataclass(frozen=True)
class Holder:
    """Who listens on a claim name, as the kernel reports it."""

    pid: int
    uid: int


@dataclass
class Claim:
    """This process's hold on the project's one supervisor slot."""

    fd: int
    info_path: Path
    name: socket.socket | None = None
    warning: str | None = None  # why the claim stands on the lock file alone

    def release(self) -> None:
        try:
            if self.name is not None:
                with contextlib.suppress(OSError):
                    self.name.shutdown(socket.SHUT_RDWR)  # ends the accept thread
                self.name.close()
            holder = read_holder(self.info_path)
            if holder is not None and holder.get("pid") == os.getpid():
                self.info_path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)


def claim_name(state_folder: Path) -> bytes:
    """The abstract socket name of a state folder's supervisor claim (Linux)."""
    digest = hashlib.sha256(str(state_folder.absolute()).encode()).hexdigest()[:32]
    return f"\0taskmux/supervisor/{os.geteuid()}/{digest}".encode()


def claim_supervision(lock_path: Path, kind: str, **info: Any) -> Claim:
    """Become the project's only supervisor, or raise E501 naming the one that already is."""
    info_path = lock_path.with_suffix(".json")
    address = claim_name(lock_path.parent)
    holder = name_holder(address) if ABSTRACT_NAMES else None
    if holder is not None and holder.uid == os.geteuid():  # the usual refusal, at once
        raise SupervisorRunning(
            f"another supervisor runs for this project: {describe_holder(info_path, holder.pid)}"
        )
    fd = _lock(lock_path)
    if fd is None:
        raise SupervisorRunning(
            f"another supervisor runs for this project: {describe_holder(info_path)}"
        )
    try:
        name, warning = _bind(address, info_path)
        record = {"pid": os.getpid(), "kind": kind, "since": time.time(), **info}
        write_private(info_path, json.dumps(record))
    except BaseException:
        os.close(fd)
        raise
    return Claim(fd, info_path, name, warning)


def supervisor_running(lock_path: Path) -> bool:
    """Whether a live supervisor of ours holds this project's claim (see the module doc)."""
    if ABSTRACT_NAMES:
        holder = name_holder(claim_name(lock_path.parent))
        if holder is not None and holder.uid == os.geteuid():
            return True
    return is_locked(lock_path)


def name_holder(address: bytes) -> Holder | None:
    """Who listens on `address`, or None (nobody, or a holder that does not answer now:
    a claimant waits such a one out itself, see `_bind`). Never blocks: the connect is
    non-blocking."""
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return None  # no unix sockets here (a sandbox): the lock file decides
    probe.setblocking(False)
    try:
        probe.connect(address)
        raw = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None  # refused: not listening (yet); EAGAIN: its queue is full for now
    finally:
        probe.close()
    pid, uid, _gid = struct.unpack("3i", raw)
    return Holder(pid, uid)


def read_holder(info_path: Path) -> dict[str, Any] | None:
    """The supervisor record, if the file is ours alone (a forged one is ignored)."""
    raw = read_trusted(info_path)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def describe_holder(info_path: Path, pid: int | None = None) -> str:
    """`daemon (pid 12, port 8765)` from the record; only `pid N` if the record is gone
    or belongs to another pid (the state folder was removed under the supervisor)."""
    holder = read_holder(info_path)
    if holder is None or (pid is not None and holder.get("pid") != pid):
        return f"pid {pid}" if pid is not None else "unknown process"
    text = f"{holder.get('kind', 'supervisor')} (pid {holder.get('pid')}"
    if holder.get("port"):
        text += f", port {holder['port']}"
    return text + ")"


def _lock(lock_path: Path) -> int | None:
    """The lock file's fd, locked; a probe (`supervisor_running`) holds it only for an
    instant, so a failure is retried for a moment before it counts as a holder."""
    deadline = time.monotonic() + _PATIENCE
    while True:
        fd = try_lock(lock_path)
        if fd is not None or time.monotonic() >= deadline:
            return fd
        time.sleep(0.01)


def _bind(address: bytes, info_path: Path) -> tuple[socket.socket | None, str | None]:
    """Bind and listen on the claim name; raise E501 if a supervisor of ours holds it;
    (None, warning) if another user squats it."""
    if not ABSTRACT_NAMES:
        return None, None
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as exc:
        return None, f"cannot make the supervisor claim name ({exc.strerror}); {_ALONE}"
    deadline = time.monotonic() + _PATIENCE
    while True:
        try:
            sock.bind(address)
            break
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                sock.close()
                return None, f"cannot bind the supervisor claim name ({exc.strerror}); {_ALONE}"
        holder = name_holder(address)
        # A supervisor that just ended (or was killed) while a child of its own had not
        # yet exec'd leaves the name bound by that child's copy of the socket for a few
        # milliseconds, answering nobody: a holder that does not answer, or is dead, is
        # waited out (the bind tried again), not reported as squatting the name.
        if (holder is None or not pid_alive(holder.pid)) and time.monotonic() < deadline:
            time.sleep(0.005)
            continue
        sock.close()
        if holder is not None and holder.uid == os.geteuid():
            raise SupervisorRunning(
                "another supervisor runs for this project: "
                f"{describe_holder(info_path, holder.pid)}"
            ) from None
        who = (
            f"pid {holder.pid} of {user_name(holder.uid)}"
            if holder is not None
            else "a process that does not answer"
        )
        return None, (
            f"this project's supervisor claim name is held by {who}, not by a supervisor "
            f"of yours; {_ALONE}"
        )
    sock.listen(_BACKLOG)
    threading.Thread(target=_answer, args=(sock,), name="taskmux-claim", daemon=True).start()
    return sock, None


def _answer(sock: socket.socket) -> None:
    """Accept and close every probe, so the queue never fills; ends when `release` shuts
    the socket down."""
    while True:
        try:
            connection, _ = sock.accept()
        except OSError:
            return
        connection.close()
