"""Folders and files of the state folder, trusted only when they are ours alone.

The state folder holds what taskmux writes on its own (logs, events, locks) and what it
later believes (the config cache names the commands it runs, `daemon.json` names the pid
`daemon stop` signals). Another local user who can create entries in it could plant a
symlink the log collector follows, or forge a cache. So, as ssh treats `~/.ssh`:

- a folder of the state tree must be a folder (or our own symlink to one), owned by us
  and not writable by group or others; otherwise the command refuses with E801, naming
  the folder and the fix;
- every folder level taskmux creates is made 0700, then chmod-ed to 0700 (the umask can
  only narrow mkdir's mode, and a umask of 077x would lock us out of our own folder);
- files are opened with O_NOFOLLOW, written as fresh 0600 inodes renamed into place, and
  read back only when they are regular files owned by us that nobody else can write
  (otherwise they count as absent and are rebuilt); where only taskmux writes a file
  (logs, events, kill marks), a symlink or foreign file at its name is removed, never
  its target, and a fresh file made; a lock file that is not ours refuses (E801).

Each check is one `lstat`/`fstat`, so it runs on every use, `status` included.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from taskmux.errors import UnsafeStateFolder

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OPEN = os.O_NOFOLLOW | os.O_CLOEXEC
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def login(uid: int) -> str:
    """The user's login name, or the uid as text when it has no passwd entry."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def user_name(uid: int) -> str:
    """`alice (uid 1000)`, or `uid 1000` when it has no passwd entry."""
    name = login(uid)
    return f"{name} (uid {uid})" if name != str(uid) else f"uid {uid}"


# Folders -------------------------------------------------------------------------------


def check_dir(path: Path) -> None:
    """Refuse (E801) unless `path` is a folder of ours that only we can write.

    A symlink is accepted only if it is ours and leads to such a folder (a user may
    keep their state on another disk); FileNotFoundError passes through.
    """
    me = os.geteuid()
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        if info.st_uid != me:
            raise UnsafeStateFolder(
                f"state folder {path} is a symlink owned by {user_name(info.st_uid)}, "
                f"not by you: remove it (taskmux creates its own folder)"
            )
        info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeStateFolder(f"state folder {path} is not a folder: remove it")
    if info.st_uid != me:
        raise UnsafeStateFolder(
            f"state folder {path} is owned by {user_name(info.st_uid)}, not by you "
            f"({user_name(me)}): remove it (taskmux creates its own) or run "
            f"'chown -R {login(me)} {path}'"
        )
    if info.st_mode & _OTHERS_WRITE:
        raise UnsafeStateFolder(
            f"state folder {path} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): run 'chmod 700 {path}'"
        )


def ensure_private_dir(path: Path, levels: int = 1) -> None:
    """Create `path` and its missing parents 0700, then check its last `levels` levels
    (the deepest last), each with `check_dir`. An existing folder costs `levels` lstats."""
    chain = [path, *path.parents][:levels]
    try:
        for level in reversed(chain):
            check_dir(level)
        return
    except FileNotFoundError:
        pass
    try:
        _make_dirs(path)
    except OSError as exc:
        raise UnsafeStateFolder(
            f"cannot create state folder {path}: {exc.strerror or exc}"
        ) from None
    try:
        for level in reversed(chain):
            check_dir(level)
    except FileNotFoundError as exc:  # a dangling symlink of ours, or removed meanwhile
        raise UnsafeStateFolder(
            f"state folder {exc.filename or path} does not exist and cannot be created"
        ) from None


def _make_dirs(path: Path) -> None:
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile (another taskmux process): checked by the caller
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _OPEN)
        try:
            os.fchmod(fd, PRIVATE_DIR)
        finally:
            os.close(fd)


# Files ---------------------------------------------------------------------------------


def file_problem(info: os.stat_result) -> str | None:
    """Why a file may not be trusted, or None: it must be a regular file of ours, with no
    other name, that nobody else can write."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_uid != os.geteuid():
        return f"is owned by {user_name(info.st_uid)}, not by you"
    if info.st_mode & _OTHERS_WRITE:
        return f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    if info.st_nlink > 1:
        return "has other hard links"
    return None


def open_private(path: Path, flags: int, replace: bool = False) -> int:
    """`os.open` (creating 0600) that never follows a symlink and refuses (E801) a file we
    cannot trust; with `replace`, such an entry is removed instead (never its target) and
    a fresh file made in its place (for files only taskmux writes: logs, events, marks)."""
    for _attempt in range(3):
        try:
            fd = os.open(path, flags | _OPEN | os.O_NONBLOCK, PRIVATE_FILE)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            problem = "is a symlink, which taskmux never follows"
        else:
            found = file_problem(os.fstat(fd))
            if found is None:
                return fd
            os.close(fd)
            problem = found
        if not replace:
            raise UnsafeStateFolder(f"state file {path} {problem}: remove it")
        path.unlink(missing_ok=True)
    raise UnsafeStateFolder(f"state file {path} keeps being replaced: check who writes it")


def read_trusted(path: Path) -> bytes | None:
    """The file's bytes if we can trust them; None if it is absent, unreadable, a symlink,
    or someone else's (the caller then rebuilds what it would have read)."""
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if file_problem(os.fstat(fd)) is not None:
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def open_read(path: Path) -> int:
    """Open for reading without following a symlink (ELOOP/FileNotFoundError pass through)."""
    return os.open(path, os.O_RDONLY | _OPEN | os.O_NONBLOCK)


def named(exc: OSError, path: Path | str) -> OSError:
    """`exc` with the file it is about: `os.write` on a full disk says only "No space
    left on device", and the user must learn which disk."""
    if exc.filename is not None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def write_private(path: Path, data: str | bytes) -> None:
    """Replace `path` with a fresh file only we can read: a new inode made 0600 (whatever
    the umask) with O_EXCL, then renamed over whatever the name held, link or file."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN, PRIVATE_FILE)
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE)
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise named(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def truncate_private(path: Path) -> None:
    """Empty a file of ours in place; a symlink at `path` is removed, its target untouched."""
    try:
        fd = os.open(path, os.O_WRONLY | _OPEN | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        path.unlink()
        return
    try:
        if file_problem(os.fstat(fd)) is None:
            os.ftruncate(fd, 0)
            return
    finally:
        os.close(fd)
    path.unlink()  # not a file of ours: it goes, and the writer makes a fresh one
