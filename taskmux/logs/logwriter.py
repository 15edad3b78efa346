"""A task's log file as the collector writes it: each line stamped, the file rotated.

Lines are prefixed with their UTC time in milliseconds (`YYYY-MM-DDTHH:MM:SS.mmmZ `); a
file is rotated at a line boundary once it reaches its size bound (FILE → FILE.1 → … →
FILE.N; with 0 backups it is emptied instead). Standard library only: the collector is
started by path (`python -I -S`).
"""

import os
import time

from taskmux.logs.layout import make_folder, open_private

# A line that never ends (a `\r` progress bar) is cut once the file is this much over.
_OVERSHOOT = 4


def stamp_prefix(now: float) -> bytes:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ ` for an epoch time (UTC)."""
    millis = int(now * 1000)
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)).encode()
    return head + b".%03dZ " % (millis % 1000)


def stamp_chunk(chunk: bytes, prefix: bytes, at_line_start: bool) -> tuple[bytes, bool]:
    """The chunk with `prefix` before each line that starts in it; and whether the next
    chunk starts a line."""
    body = chunk.replace(b"\n", b"\n" + prefix)
    if at_line_start:
        body = prefix + body
    ends_line = chunk.endswith(b"\n")
    if ends_line:
        body = body[: -len(prefix)]
    return body, ends_line


def split_point(
    body: bytes, size: int, max_bytes: int, starts_line: bool, overshoot: int = _OVERSHOOT
) -> int | None:
    """How much of `body` still goes to a file of `size` bytes before it rotates, so that
    files hold whole lines; -1: cut an endless line here; None: do not rotate yet."""
    if size + len(body) < max_bytes:
        return None
    room = max_bytes - size
    cut = body.rfind(b"\n", 0, max(room, 0)) + 1
    if cut:
        return cut
    if starts_line and size > 0:
        return 0  # rotate before this chunk
    cut = body.find(b"\n") + 1
    if cut:
        return cut  # the line under way alone overflows the file: it ends the file
    if not starts_line and size + len(body) >= max_bytes * overshoot:
        return -1
    return None


def rotate(path: str, backups: int) -> None:
    """FILE → FILE.1 → … → FILE.backups (names are renamed, never followed); tolerant of
    files removed meanwhile."""
    try:
        for index in range(backups - 1, 0, -1):
            older = f"{path}.{index}"
            if os.path.lexists(older):
                os.replace(older, f"{path}.{index + 1}")
        os.replace(path, f"{path}.1")
    except FileNotFoundError:
        pass


# The log file ------------------------------------------------------------


class LogWriter:
    """Appends stamped chunks to one task's log file, rotating it, and reopening it if it
    was removed or replaced (`logs --clear`)."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 1)
        self.backups = backups
        self.fd = -1
        self.inode = -1
        self.size = 0
        self.at_line_start = True
        self.last_stamp = 0.0
        self.open()

    def open(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            make_folder(os.path.dirname(self.path))  # `logs/`, inside the state folder
            self.fd = open_private(self.path)
        except OSError:
            return  # retried with the next batch; meanwhile the spool keeps the bytes
        info = os.fstat(self.fd)
        self.inode, self.size = info.st_ino, info.st_size
        self.at_line_start = True

    def resume(self) -> None:
        """Go on as the last collector left the file (mid-line if it was)."""
        if self.fd >= 0 and self.size:
            self.at_line_start = os.pread(self.fd, 1, self.size - 1) == b"\n"

    def end_line(self) -> None:
        """Before a new collector's first write: a file left mid-line (by a collector that
        died while writing, whose batch comes again) is ended there."""
        if self.fd >= 0 and self.size and os.pread(self.fd, 1, self.size - 1) != b"\n":
            self.put(b"\n")

    def check_file(self) -> None:
        """Reopen if the file was deleted or replaced. Before every batch (one `lstat`):
        a batch written to a file no reader can find any more would be lost to them."""
        try:
            moved = os.lstat(self.path).st_ino != self.inode
        except OSError:
            moved = True
        if moved or self.fd < 0:
            self.open()

    def put(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return False  # disk full or similar: this batch is retried later
            view = view[written:]
        self.size += len(data)
        return True

    def write(self, chunk: bytes, now: float) -> bool:
        """Stamp and append `chunk`; False if it could not be written (retry it later).
        Stamps never go back within a file's lines (a clock step, a catch-up)."""
        self.check_file()
        if self.fd < 0:
            return False
        now = self.last_stamp = max(now, self.last_stamp)
        if os.fstat(self.fd).st_size == 0:
            self.at_line_start = True  # emptied (`logs --clear`): a fresh line
        prefix = stamp_prefix(now)
        starts_line = self.at_line_start
        body, ends_line = stamp_chunk(chunk, prefix, starts_line)
        while True:
            self.size = os.fstat(self.fd).st_size  # someone may have truncated the file
            cut = split_point(body, self.size, self.max_bytes, starts_line)
            if cut is None:
                break
            if cut < 0:  # an endless line (a `\r` progress bar): end it here
                if not self.put(b"\n"):
                    return False
                body = prefix + body
            else:
                if not self.put(body[:cut]):
                    return False
                body = body[cut:]
            if self.backups <= 0:
                os.ftruncate(self.fd, 0)  # the file we hold, not whatever the name holds now
            else:
                rotate(self.path, self.backups)
            self.open()
            if self.fd < 0:
                return False
            starts_line = True
        if not self.put(body):
            return False
        self.at_line_start = ends_line
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
