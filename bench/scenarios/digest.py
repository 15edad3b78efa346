"""The log digest (SPEC §13): a 50,000-line log of a chatty dev server with one Python
traceback in the middle, read with `logs TASK --digest --json`.

The log is planted in the writer's format (stamp, space, the bytes the task printed):
access lines with colours, request ids and timings, a bundler's rebuilds with `\\r`
progress bars, file-watcher and hot-reload notes, health polls; the traceback sits at
line 25,000. The figures: traceback lines missing from the digest (0: kept whole), the
digest's tokens (at most 2,000, counted as the digest counts them: 4 characters a token),
the ratio of the raw log's tokens (its lines as written, counted the same way) to the
digest's, and the time the command takes. `python -m bench --only digest` runs it.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from bench.core import BenchError, Context, Figure, Sandbox, Unsupported, mark_unsupported, measure

LINES = 50_000
MAX_TOKENS = 2000
CHARS_PER_TOKEN = 4
TRACEBACK = [
    "ERROR:    Exception in ASGI application",
    "Traceback (most recent call last):",
    '  File "/app/.venv/lib/python3.12/site-packages/uvicorn/protocols/http/h11_impl.py", '
    "line 408, in run_asgi",
    "    result = await app(  # type: ignore[func-returns-value]",
    '  File "/app/api/routes/orders.py", line 57, in create_order',
    "    total = price_order(payload.items, customer.discount)",
    '  File "/app/api/pricing.py", line 23, in price_order',
    "    return sum(item.price * item.quantity for item in items) / (1 - discount)",
    "ZeroDivisionError: float division by zero",
]
PATHS = ["/api/items", "/api/orders", "/api/users/me", "/static/js/main.js", "/api/cart"]
MODULES = ["src/App.tsx", "src/pages/Orders.tsx", "src/api/client.ts", "src/styles/main.css"]


def _chatty_line(rng: random.Random, n: int) -> str:
    """One line a busy dev server (an API behind uvicorn, a bundler, a watcher) prints."""
    kind = rng.random()
    if kind < 0.70:
        path = rng.choice(PATHS) + (f"/{rng.randrange(1, 5000)}" if rng.random() < 0.5 else "")
        status = rng.choice(["200", "200", "200", "201", "304"])
        port = rng.randrange(40000, 65000)
        return (
            f'\x1b[32mINFO\x1b[0m:     127.0.0.1:{port} - "GET {path} HTTP/1.1" {status} '
            f"request_id={rng.getrandbits(64):016x} {rng.randrange(1, 400)}ms"
        )
    if kind < 0.80:
        return f"GET /healthz 200 in {rng.randrange(1, 9)}ms"
    if kind < 0.90:
        bar = "".join(f"[build] {p:3d}% {'#' * (p // 10)}\r" for p in range(0, 101, 20))
        return bar + f"\x1b[2K\x1b[36m[build]\x1b[0m rebuilt in {rng.randrange(40, 900)}ms"
    if kind < 0.97:
        return f"[vite] hmr update /{rng.choice(MODULES)} ({n % 7 + 1} modules)"
    return f"[watch] {rng.choice(MODULES)} changed, reloading"


def _plant(path: Path) -> tuple[int, list[str]]:
    """Write the log; return the raw log's characters (its lines as printed) and the lines."""
    rng = random.Random(13)
    texts = [_chatty_line(rng, n) for n in range(LINES - len(TRACEBACK))]
    middle = len(texts) // 2
    texts[middle:middle] = TRACEBACK
    start = time.time() - 3600
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("wb") as handle:
        for number, text in enumerate(texts):
            moment = start + number * 0.05
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment))
            stamp += f".{int(moment * 1000) % 1000:03d}Z "
            handle.write(stamp.encode() + text.encode() + b"\n")
    return sum(len(text) + 1 for text in texts), texts


def digest(ctx: Context) -> list[Figure]:
    missing = Figure(
        "digest", "traceback lines missing from the digest", "lines", goal="0", limit=0
    )
    tokens = Figure(
        "digest",
        f"digest of a {LINES:,}-line chatty log",
        "tokens",
        goal=f"≤ {MAX_TOKENS:,}",
        limit=MAX_TOKENS,
    )
    ratio = Figure("digest", "raw log ÷ digest", "x", goal="—")
    took = Figure("digest", f"logs TASK --digest --json on {LINES:,} lines", "ms", goal="—")
    figures = [missing, tokens, ratio, took]
    with Sandbox(ctx.tool, "digest") as sandbox:
        if not ctx.tool.has_option(sandbox, "--digest", "logs"):
            mark_unsupported(figures, "has no `logs --digest`")
            return figures
        sandbox.write_config({"dev": {"command": "sleep 86400"}})
        rows = sandbox.json("status")["tasks"]
        log_file = next((r.get("log_file") for r in rows if r.get("name") == "dev"), None)
        if not log_file:
            raise Unsupported("`status --json` names no log_file to plant the log in")
        raw_chars, _texts = _plant(Path(log_file))
        raw_tokens = -(-raw_chars // CHARS_PER_TOKEN)

        def once(_run: int) -> float:
            result = sandbox.run("logs", "dev", "--digest", "--json", timeout=120)
            data = json.loads(result.stdout)
            if data.get("lines_in") != LINES:
                raise BenchError(f"the digest read {data.get('lines_in')} lines, not {LINES}")
            shown = [entry.get("line") for entry in data["digest"] if "line" in entry]
            missing.values.append(float(len([t for t in TRACEBACK[1:] if t not in shown])))
            tokens.values.append(float(data["tokens"]))
            ratio.values.append(raw_tokens / data["tokens"])
            return result.elapsed * 1000

        measure(took, ctx, once)
    ratio.note = f"raw: {raw_tokens:,} tokens ({raw_chars / 1e6:.1f} MB as printed)"
    for figure in figures:
        ctx.log(f"{figure.name}: {figure.median}")
    return figures
