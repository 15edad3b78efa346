"""Where a project's spools, log files and collector files live in its state folder, and
how the collector's own state files are opened and parsed.

Standard library only: the collector (started by path, `python -I -S`) imports it, and so
does a reader catching up the spools. State files follow the rules of `statedir/files.py`,
restated here: folders 0700 and ours, files 0600, never following a symlink.
"""

import errno
import os
import stat

DEFAULT_MAX_BYTES = 10 << 20
DEFAULT_BACKUPS = 3
MARK_BYTES = 96  # a `.read` record, padded: rewritten in place after every batch


def parse_read_mark(data: bytes) -> tuple[int, int]:
    """(spool inode, offset read) from a `.read` file; (0, 0) if it holds nothing valid."""
    try:
        inode, offset = data.split()[:2]
        return int(inode), int(offset)
    except ValueError:
        return 0, 0


def parse_log_mark(data: bytes) -> tuple[int, int]:
    """(log inode, log size) a `.read` file recorded after the batch; (0, -1) if none."""
    try:
        inode, size = data.split()[2:4]
        return int(inode), int(size)
    except ValueError:
        return 0, -1


def parse_settings(data: bytes) -> tuple[int, int]:
    """(max bytes, backups) from `collector.conf`; the defaults if it holds nothing valid."""
    try:
        max_bytes, backups = data.split()[:2]
        return max(int(max_bytes), 1), max(int(backups), 0)
    except ValueError:
        return DEFAULT_MAX_BYTES, DEFAULT_BACKUPS


# Files of the state folder -----------------------------------------------------------


def is_private(info: os.stat_result) -> bool:
    """Ours, and nobody else may write it."""
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def is_trusted(info: os.stat_result) -> bool:
    """A regular file of ours alone, with no other name."""
    return stat.S_ISREG(info.st_mode) and is_private(info) and info.st_nlink == 1


def make_folder(folder: str) -> None:
    """Create `folder` 0700 (whatever the umask) if missing, but never its parent: the
    state folder removed under a running collector stays removed (FileNotFoundError)."""
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        return
    os.chmod(folder, 0o700)


def open_private(path: str, flags: int = os.O_RDWR | os.O_APPEND | os.O_CREAT) -> int:
    """A file of ours (0600 if created) opened without trusting its name: its folder must
    be ours alone; a symlink or foreign file at the name is removed (never its target)."""
    folder, name = os.path.split(os.path.abspath(path))
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not is_private(os.fstat(dir_fd)):
            raise PermissionError(errno.EACCES, "state folder is not ours alone", folder)
        for _attempt in range(3):
            mode = flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            try:
                fd = os.open(name, mode, 0o600, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                os.unlink(name, dir_fd=dir_fd)  # a planted symlink: the link goes, not its target
                continue
            if is_trusted(os.fstat(fd)):
                return fd
            os.close(fd)
            os.unlink(name, dir_fd=dir_fd)  # not a file of ours alone: replaced by a fresh one
        raise PermissionError(errno.EACCES, "cannot make a private file", path)
    finally:
        os.close(dir_fd)


def read_private(path: str, size: int) -> bytes:
    """Up to `size` first bytes of a file of ours alone; b"" if it is absent, a symlink or
    not to be trusted (a reader then acts as if nothing was recorded)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        return os.pread(fd, size, 0) if is_trusted(os.fstat(fd)) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)


class Layout:
    """Where one project's log files live inside its state folder. (A plain class: the
    dataclasses module would add 2 MB to the collector's memory.)"""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root

    @property
    def spool_dir(self) -> str:
        return os.path.join(self.root, "spool")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def lock(self) -> str:
        return os.path.join(self.root, "collector.lock")

    @property
    def settings(self) -> str:
        return os.path.join(self.root, "collector.conf")

    def spool(self, task: str) -> str:
        return os.path.join(self.root, "spool", task)

    def log(self, task: str) -> str:
        return os.path.join(self.root, "logs", f"{task}.log")

    def read_mark(self, task: str) -> str:
        return os.path.join(self.root, "logs", f"{task}.read")

    def run_start(self, task: str) -> str:
        """Where the current run's output begins in the spool (`spool.mark_run`)."""
        return os.path.join(self.root, "logs", f"{task}.run")

    def spools(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.spool_dir) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def read_settings(self) -> tuple[int, int]:
        try:
            fd = os.open(self.settings, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return DEFAULT_MAX_BYTES, DEFAULT_BACKUPS
        try:
            if not is_private(os.fstat(fd)):
                return DEFAULT_MAX_BYTES, DEFAULT_BACKUPS
            return parse_settings(os.read(fd, 256))
        finally:
            os.close(fd)
