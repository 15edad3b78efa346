"""Standalone log writer run by tmux `pipe-pane`: stdin → timestamped, size-rotated file.

Invoked as `python -I -S logpipe.py FILE MAX_BYTES BACKUPS`; it imports only the
standard library so it starts in a few milliseconds. Bytes are written as they arrive
(nothing is held back); each line is prefixed with a UTC timestamp in milliseconds
(`YYYY-MM-DDTHH:MM:SS.mmmZ `). When FILE reaches MAX_BYTES at a line boundary it is
rotated: FILE → FILE.1 → … → FILE.BACKUPS (with 0 backups it is truncated instead).

FILE lives in the state folder, so the writer trusts nothing there it did not make (the
rules of statefiles.py, restated because this script imports only the standard
library): missing folders are made 0700; FILE is opened through a handle on its folder,
which must be ours and not writable by others (else nothing is written); FILE itself is
never followed if it is a symlink, and a symlink or a file that is not ours at its name is
removed (never its target) and replaced by a fresh 0600 file.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time

# A line that never ends (a `\r` progress bar) is cut once the file is this much over.
_OVERSHOOT = 4


class Writer:
    """Appends stamped chunks to the log file, reopening it if it is rotated or removed."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 1)
        self.backups = backups
        self.fd = -1
        self.inode = -1
        self.size = 0
        self.at_line_start = True
        self.second = -1
        self.second_text = b""
        self.open()
        if self.fd >= 0 and self.size and os.pread(self.fd, 1, self.size - 1) != b"\n":
            self.put(b"\n")  # a previous writer died mid-line: start ours on a fresh one

    def open(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            self.fd = open_log(self.path)
        except OSError:
            return  # retried on the next second; meanwhile output is dropped, not blocked
        info = os.fstat(self.fd)
        self.inode, self.size = info.st_ino, info.st_size

    def stamp(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self.second:
            self.second = second
            self.second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
            self.check_file()
        return self.second_text + b".%03dZ " % (int(now * 1000) % 1000)

    def check_file(self) -> None:
        """Once a second: reopen if the file was deleted or replaced (e.g. `logs --clear`)."""
        try:
            moved = os.lstat(self.path).st_ino != self.inode
        except OSError:
            moved = True
        if moved or self.fd < 0:
            self.open()
            self.at_line_start = True

    def put(self, data: bytes) -> None:
        if self.fd < 0:
            return
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # disk full or similar: drop this chunk, keep draining the pane
            view = view[written:]
        self.size += len(data)

    def write_chunk(self, chunk: bytes) -> None:
        prefix = self.stamp()
        starts_line = self.at_line_start
        body = chunk.replace(b"\n", b"\n" + prefix)
        if starts_line:
            body = prefix + body
        self.at_line_start = chunk.endswith(b"\n")
        if self.at_line_start:
            body = body[: -len(prefix)]
        while self.fd >= 0 and self.size + len(body) >= self.max_bytes and self.is_full(body):
            cut = self.split_point(body, starts_line)
            if cut is None:
                break
            if cut < 0:  # an endless line (a `\r` progress bar): end it here
                self.put(b"\n")
                body = prefix + body
            else:
                self.put(body[:cut])
                body = body[cut:]
            if self.backups <= 0:
                os.ftruncate(self.fd, 0)  # the file we hold, not whatever the name holds now
            else:
                rotate(self.path, self.backups)
            self.open()
            starts_line = True
        self.put(body)

    def is_full(self, body: bytes) -> bool:
        self.size = os.fstat(self.fd).st_size  # someone may have truncated the file
        return self.size + len(body) >= self.max_bytes

    def split_point(self, body: bytes, starts_line: bool) -> int | None:
        """How much of `body` still goes to the current file before it rotates, so that
        files hold whole lines; -1: cut an endless line; None: do not rotate yet."""
        room = self.max_bytes - self.size
        cut = body.rfind(b"\n", 0, max(room, 0)) + 1
        if cut:
            return cut
        if starts_line and self.size > 0:
            return 0  # rotate before this chunk
        cut = body.find(b"\n") + 1
        if cut:
            return cut  # the line under way alone overflows the file: it ends the file
        if not starts_line and self.size + len(body) >= self.max_bytes * _OVERSHOOT:
            return -1
        return None


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def make_folders(folder: str) -> None:
    """Create `folder` and its missing parents, each 0700 whatever the umask."""
    missing = []
    while folder and not os.path.lexists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)


def open_log(path: str) -> int:
    """The log file, opened for appending (created 0600) without trusting its name."""
    folder, name = os.path.split(os.path.abspath(path))
    make_folders(folder)
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not _private(os.fstat(dir_fd)):
            raise PermissionError(errno.EACCES, "log folder is not ours alone", folder)
        for _attempt in range(3):
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                os.unlink(name, dir_fd=dir_fd)  # a planted symlink: the link goes, not its target
                continue
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and _private(info) and info.st_nlink == 1:
                return fd
            os.close(fd)
            os.unlink(name, dir_fd=dir_fd)  # not a file of ours alone: replaced by a fresh one
        raise PermissionError(errno.EACCES, "cannot make a private log file", path)
    finally:
        os.close(dir_fd)


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


def main(argv: list[str]) -> int:
    path, max_bytes, backups = argv[1], int(float(argv[2])), int(argv[3])
    writer = Writer(path, max_bytes, backups)
    while True:
        try:
            chunk = os.read(0, 1 << 16)
        except InterruptedError:
            continue
        if not chunk:
            break
        writer.write_chunk(chunk)
    if writer.fd >= 0:
        os.close(writer.fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
