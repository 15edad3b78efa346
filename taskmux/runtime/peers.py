"""Which user is on the other end of a loopback TCP connection (Linux: /proc/net/tcp).

Cookies are not isolated by port: a browser sends the dashboard's session cookie to every
server on 127.0.0.1, another local user's included. Whoever read it there could present
it to the dashboard from their own process. So the dashboard also checks that each
connection comes from a process of the daemon's own user, as the kernel records it for
the client's socket. Where there is no such table (not Linux), this check is skipped and
the cookie, the Origin and the Host checks remain. The daemon's API port makes the same
check before it reads the token, so a token that leaked opens nothing to another user,
and the URL proxy shows a stopped task's last lines only to its own user.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

TABLE = Path("/proc/net/tcp")
ESTABLISHED = "01"


def _endpoint(address: tuple[str, int]) -> str:
    """An IPv4 address and port as /proc/net/tcp writes them (the address in host order)."""
    host, port = address[0], address[1]
    return f"{int.from_bytes(socket.inet_aton(host), sys.byteorder):08X}:{port:04X}"


def owner(table: str, client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the client's end of an established connection to `server`."""
    local, remote = _endpoint(client), _endpoint(server)
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 7 and fields[1:4] == [local, remote, ESTABLISHED]:
            return int(fields[7])
    return None


def peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The client's uid; None when it cannot be known here (no table, or not found)."""
    try:
        table = TABLE.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return owner(table, client, server)


def checkable() -> bool:
    """Whether this system tells who owns a connection (otherwise the check is skipped)."""
    return TABLE.is_file()
