"""The URL proxy's cost (SPEC §14): the median added latency of a small request through
`http://web.SESSION.localhost:PORT/` over the same request sent straight to the task.

One task serves a 13-byte answer with HTTP/1.1 keep-alive; `taskmux proxy` serves the
names. The client keeps one connection open each way and alternates direct and proxied
requests, so both see the same machine load; the figure is the median of the paired
differences per batch, in milliseconds. `python -m bench --only proxy` runs it.

The task's server sets TCP_NODELAY, as node's (Vite, Next) and most dev servers do. A
second task's does not (Python's `http.server` by default) and writes its headers and
body in two small writes: its body waits for its client's ACK of the headers, which
Linux delays up to 40 ms. The second figure is a request to that one through the proxy,
whole: the proxy acknowledges at once (TCP_QUICKACK), so it does not wait (asked
directly, with a client that delays its ACK, the same request takes about 40 ms).
"""

from __future__ import annotations

import http.client
import socket
import statistics
import subprocess
import sys
import time

from bench.core import BenchError, Context, Figure, Sandbox, measure

SERVER = """\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = os.environ.get("NAGLE") != "on"  # off: as node's sockets
    def log_message(self, *args):
        pass
    def do_GET(self):
        body = b"hello, proxy\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
REQUESTS = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _timed(conn: http.client.HTTPConnection, host: str) -> float:
    started = time.perf_counter()
    conn.request("GET", "/", headers={"Host": host})
    reply = conn.getresponse()
    body = reply.read()
    elapsed = time.perf_counter() - started
    if reply.status != 200 or body != b"hello, proxy\n":
        raise BenchError(f"unexpected answer {reply.status} via {host}: {body[:80]!r}")
    return elapsed


def proxy(ctx: Context) -> list[Figure]:
    added = Figure(
        "proxy",
        "named URL proxy: added median latency, small keep-alive request",
        "ms",
        goal="< 2 ms",
        limit=2.0,
        spec="proxy-added",
    )
    nagle = Figure(
        "proxy",
        "named URL proxy: median request to a server with Nagle on (headers, body: 2 writes)",
        "ms",
        goal="< 5 ms",
        limit=5.0,
    )
    with Sandbox(ctx.tool, "proxy", wrap_tmux=not ctx.tool.trusted) as sandbox:
        ctx.tool.require(sandbox, "proxy")
        task_port, proxy_port = _free_port(), _free_port()
        (sandbox.project / "server.py").write_text(SERVER)
        command = f"{sys.executable} server.py"
        plain_port = _free_port()
        web = {"command": command, "port": task_port, "health_tcp": True}
        plain = {"command": f"NAGLE=on {command}", "port": plain_port, "health_tcp": True}
        sandbox.write_config({"web": web, "plain": plain}, proxy_port=proxy_port)
        sandbox.run("start", "--wait")
        served = subprocess.Popen(
            [ctx.tool.path, "proxy"],
            cwd=sandbox.project,
            env=sandbox.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            host = f"web.{sandbox.session}.localhost:{proxy_port}".lower()
            _await(proxy_port, host, 15.0)
            direct = http.client.HTTPConnection("127.0.0.1", task_port, timeout=10)
            via = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
            requests = REQUESTS if not ctx.quick else 50

            def once(_run: int) -> float:
                straight, proxied = [], []
                for _ in range(requests):
                    straight.append(_timed(direct, "127.0.0.1"))
                    proxied.append(_timed(via, host))
                return (statistics.median(proxied) - statistics.median(straight)) * 1000

            measure(added, ctx, once)
            direct.close()
            via.close()
            nagle_host = f"plain.{sandbox.session}.localhost:{proxy_port}".lower()
            via_nagle = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)

            def whole(_run: int) -> float:
                times = [_timed(via_nagle, nagle_host) for _ in range(requests)]
                return statistics.median(times) * 1000

            measure(nagle, ctx, whole)
            via_nagle.close()
        finally:
            served.terminate()
            served.wait(10)
            sandbox.run("stop", check=False)
    return [added, nagle]


def _await(port: int, host: str, timeout: float) -> None:
    """Until the proxy answers (it binds a moment after it starts)."""
    deadline = time.monotonic() + timeout
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            _timed(conn, host)
            return
        except (OSError, http.client.HTTPException, BenchError) as exc:
            if time.monotonic() > deadline:
                raise BenchError(f"the proxy did not answer in time: {exc}") from None
            time.sleep(0.05)
        finally:
            conn.close()
