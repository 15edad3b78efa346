"""Standalone log writer run by tmux `pipe-pane`: stdin → timestamped, size-rotated file.

Invoked as `python -I -S logpipe.py FILE MAX_BYTES BACKUPS`; it imports only the
standard library so it starts in a few milliseconds. Bytes are written as they arrive
(nothing is held back); each line is prefixed with a UTC timestamp in milliseconds.
"""

from __future__ import annotations

import os
import sys
import time

_last_second = -1
_second_text = b""


def stamp() -> bytes:
    global _last_second, _second_text
    now = time.time()
    second = int(now)
    if second != _last_second:
        _last_second = second
        _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
    return _second_text + b".%03dZ " % (int(now * 1000) % 1000)


def open_log(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def ends_mid_line(fd: int) -> bool:
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    return os.pread(fd, 1, size - 1) != b"\n"


def rotate(path: str, backups: int) -> None:
    if backups <= 0:
        os.truncate(path, 0)
        return
    for index in range(backups - 1, 0, -1):
        older = f"{path}.{index}"
        if os.path.exists(older):
            os.replace(older, f"{path}.{index + 1}")
    os.replace(path, f"{path}.1")


def main(argv: list[str]) -> int:
    path, max_bytes, backups = argv[1], int(argv[2]), int(argv[3])
    fd = open_log(path)
    size = os.fstat(fd).st_size
    at_line_start = True
    if ends_mid_line(fd):
        os.write(fd, b"\n")
    while True:
        try:
            chunk = os.read(0, 1 << 16)
        except InterruptedError:
            continue
        if not chunk:
            break
        prefix = stamp()
        body = chunk.replace(b"\n", b"\n" + prefix)
        if at_line_start:
            body = prefix + body
        if chunk.endswith(b"\n"):
            body = body[: -len(prefix)]
            at_line_start = True
        else:
            at_line_start = False
        os.write(fd, body)
        size += len(body)
        if size >= max_bytes and at_line_start:
            os.close(fd)
            rotate(path, backups)
            fd = open_log(path)
            size = 0
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
