"""The probes of SPEC §9: a shell command, an HTTP GET, a TCP connect. They only report.

Each honours its timeout as a whole (connect, request and reading the body share it)
and says in one line what it found. Deciding what a result means (unhealthy, restart,
dependents skipped) is for the callers' pure functions.

The HTTP probe is the standard library's `http.client`, which is enough here: one GET of
a development URL, usually on the loopback interface, with no cookies, auth flows,
pooling or retries to manage; and it adds no dependency to the CLI. It also ignores the
`http_proxy` variables, which must not route a probe of 127.0.0.1 through a proxy.
Redirects are not followed: a 3xx is a status like any other (in the default 200-399).
Certificates are not verified: a dev server's is usually self-signed, and the probe asks
whether the service answers, not who it is (nothing secret is sent).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from taskmux.runtime.health import CheckResult, run_check

if TYPE_CHECKING:
    from taskmux.config.schema import TaskConfig

DEFAULT_STATUS = range(200, 400)
MAX_BODY = 1 << 20  # bytes of a response body searched for `health_expect_body`
SNIPPET = 300  # characters of a failing response's body kept in the output
TCP_HOSTS = ("127.0.0.1", "::1")  # a server bound to ::1 only (node's "localhost") counts


def run_probe(
    task: TaskConfig, cwd: Path, timeout: float | None = None, env: dict[str, str] | None = None
) -> CheckResult | None:
    """Run the task's probe (None when it has none); `timeout` defaults to its own."""
    limit = task.health_timeout if timeout is None else timeout
    if task.health_check is not None:
        return run_check(task.health_check, cwd, limit, env)
    if task.health_url is not None:
        statuses = task.health_expect_status
        expected = DEFAULT_STATUS if statuses is None else frozenset(statuses)
        return http_probe(task.health_url, limit, expected, task.health_expect_body)
    port = task.tcp_port
    if port is not None:
        return tcp_probe(port, limit)
    return None


def _status_text(expected: range | frozenset[int]) -> str:
    if isinstance(expected, range):
        return f"{expected.start}-{expected.stop - 1}"
    return ", ".join(str(code) for code in sorted(expected))


def http_probe(
    url: str,
    timeout: float,
    expected: range | frozenset[int] = DEFAULT_STATUS,
    body_pattern: str | None = None,
) -> CheckResult:
    """GET `url`: healthy when the status is expected and the body (if asked) matches."""
    import http.client
    import ssl

    started = time.monotonic()
    deadline = started + timeout

    def result(
        healthy: bool, reason: str, detail: str = "", timed_out: bool = False
    ) -> CheckResult:
        output = f"GET {url}: {reason}" + (f"\n{detail}" if detail else "")
        elapsed = time.monotonic() - started
        return CheckResult(healthy, None, output, elapsed, timed_out, "http", reason)

    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=timeout
            )
    except ValueError as exc:  # a port that is not a number
        return result(False, f"bad URL: {exc}")
    try:
        connection.request("GET", path, headers={"User-Agent": "taskmux-probe", "Accept": "*/*"})
        sock = connection.sock  # the response may take it over (and the connection forget it)
        _shorten(sock, deadline)
        response = connection.getresponse()
        status = response.status
        body = b""
        if body_pattern is not None or status not in expected:
            body = _read_body(sock, response, deadline)
    except ConnectionRefusedError:
        return result(False, "connection refused")
    except TimeoutError:
        return result(False, f"timed out after {timeout:g}s", timed_out=True)
    except socket.gaierror:
        return result(False, f"cannot resolve host {parts.hostname!r}")
    except ssl.SSLError as exc:
        return result(False, f"TLS error: {exc.reason or exc}")
    except http.client.HTTPException as exc:
        return result(False, f"bad HTTP response: {type(exc).__name__} {exc}".strip())
    except OSError as exc:
        return result(False, exc.strerror or str(exc))
    finally:
        connection.close()
    text = body.decode("utf-8", errors="replace")
    snippet = " ".join(text[:SNIPPET].split())
    if status not in expected:
        return result(False, f"status {status} (expected {_status_text(expected)})", snippet)
    if body_pattern is not None:
        matched = _body_matches(body_pattern, text, deadline)
        if matched is None:
            return result(False, f"timed out after {timeout:g}s matching the body", timed_out=True)
        if not matched:
            return result(False, f"status {status}, body did not match /{body_pattern}/", snippet)
        return result(True, f"status {status}, body matched /{body_pattern}/")
    return result(True, f"status {status}")


def _shorten(sock: socket.socket | None, deadline: float) -> None:
    """Give the socket only what is left of the probe's time for its next read."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    if sock is not None:
        sock.settimeout(left)


def _read_body(sock: socket.socket | None, response: object, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    # read1: whatever one socket read brings (read(n) would wait for all n bytes, however
    # slowly they come, and outlive the timeout).
    read = getattr(response, "read1")  # noqa: B009 - http.client.HTTPResponse, typed loosely
    while size < MAX_BODY:
        _shorten(sock, deadline)
        chunk: bytes = read(min(65536, MAX_BODY - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _body_matches(pattern: str, text: str, deadline: float) -> bool | None:
    """Whether the body matches; None if the search ran out of the probe's time."""
    from taskmux.errors import PatternTooSlow
    from taskmux.logs.search import compile_pattern

    budget = max(0.01, deadline - time.monotonic())
    try:
        return compile_pattern(pattern, budget).search(text) is not None
    except PatternTooSlow:
        return None


def tcp_probe(port: int, timeout: float) -> CheckResult:
    """Healthy when something accepts a TCP connection on the port (127.0.0.1, then ::1)."""
    started = time.monotonic()
    deadline = started + timeout
    reason = "connection refused"
    timed_out = False
    healthy = False
    for host in TCP_HOSTS:
        left = deadline - time.monotonic()
        if left <= 0:
            reason, timed_out = f"timed out after {timeout:g}s", True
            break
        try:
            with socket.create_connection((host, port), timeout=left):
                healthy, reason = True, f"port {port} accepted a connection"
                break
        except ConnectionRefusedError:
            continue
        except TimeoutError:
            reason, timed_out = f"timed out after {timeout:g}s", True
            break
        except OSError as exc:  # ::1 where IPv6 is off: keep the first host's answer
            if host == TCP_HOSTS[0]:
                reason = exc.strerror or str(exc)
    if not healthy and reason == "connection refused":
        reason = f"connection refused on port {port}"
    elapsed = time.monotonic() - started
    return CheckResult(
        healthy, None, f"TCP 127.0.0.1:{port}: {reason}", elapsed, timed_out, "tcp", reason
    )
