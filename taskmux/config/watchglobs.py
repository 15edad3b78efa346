"""The `watch` patterns of a task, pure: which paths they match, which folders hold them.

`Matcher` says which tasks a changed path concerns (a task's `watch` globs, relative to
its cwd, minus the ignores) and `plan_folders` which folders the patterns can match
below. The supervisor's file watcher (`supervision/filewatch.py`) and `ensure`'s scan
for files newer than a task's start (`lifecycle/watchscan.py`) both read patterns here.

Globs: `*`, `?` and `[...]` stay within one path segment, a `**` segment spans any number
of folders (none included), a trailing `/` means everything below, and a pattern without
any glob character names a file or a folder (then everything below it).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# Never worth a restart, whatever `watch_ignore` says: version control, dependencies,
# caches that tools write as they run.
DEFAULT_IGNORE = (
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox",
)  # fmt: skip
# What editors write next to the file being saved (swap files, backups, the probe file
# vim writes to test a folder, atomic-save temporaries).
EDITOR_TEMP = (
    "*.swp", "*.swo", "*.swx", "*.swpx", "*~", ".#*", "#*#", "4913", "*.tmp", "*.temp",
    "*.kate-swp", "*___jb_tmp___", "*___jb_old___", ".goutputstream-*", "*.crswap",
    ".DS_Store", ".~lock.*#",
)  # fmt: skip
# The file events that can change what a task would run; opening or reading a file
# (as the task itself does) is not one.
EDIT_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed", "attrib"})

_GLOB_CHARS = frozenset("*?[")


# Patterns ------------------------------------------------------------------------------


def _normalize(pattern: str) -> tuple[str, bool]:
    """The pattern as '/'-separated segments without `.`, and whether it ended with '/'."""
    below = pattern.endswith("/")
    text = posixpath.normpath(pattern.strip().lstrip("/") or ".")
    return ("" if text == "." else text), below


def _segment_regex(segment: str) -> str:
    """One path segment's glob as a regex; nothing in it matches a '/'."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            start = i + 1
            if segment[start : start + 1] in ("!", "^"):
                start += 1
            if segment[start : start + 1] == "]":
                start += 1
            end = segment.find("]", start)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = segment[i + 1 : end].replace("\\", "\\\\")
                if body[:1] in ("!", "^"):
                    body = "^/" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _body_regex(segments: list[str]) -> str:
    regex = ""
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += _segment_regex(segment) + ("" if last else "/")
    return regex


def _is_glob(text: str) -> bool:
    return any(char in _GLOB_CHARS for char in text)


@dataclass(frozen=True)
class WatchGlob:
    """One compiled `watch` pattern. `ups`: its leading `..` segments (a path outside the
    task's cwd matches only a pattern that climbs out as far, never through a wildcard)."""

    source: str
    regex: re.Pattern[str]
    ups: int

    @classmethod
    def compile(cls, pattern: str) -> WatchGlob:
        text, below = _normalize(pattern)
        segments = text.split("/") if text else []
        ups = 0
        while ups < len(segments) and segments[ups] == "..":
            ups += 1
        rest = segments[ups:]
        if below or not rest:
            rest = [*rest, "**"]
        regex = _body_regex(rest)
        if not _is_glob(text) and not below:
            regex += "(?:/.*)?"  # a file, or a folder and everything below it
        return cls(pattern, re.compile(regex), ups)

    def matches(self, relative: str) -> bool:
        segments = relative.split("/")
        ups = 0
        while ups < len(segments) and segments[ups] == "..":
            ups += 1
        if ups != self.ups:
            return False
        return self.regex.fullmatch("/".join(segments[ups:])) is not None


def compile_ignore(pattern: str) -> re.Pattern[str]:
    """A `watch_ignore` pattern as a regex: without a '/' it matches a file or folder name
    at any depth (and everything below it), as in .gitignore; with one (or a leading
    '/') it is anchored at the task's cwd."""
    anchored = "/" in pattern.strip().rstrip("/")
    text, _ = _normalize(pattern)
    body = _body_regex(text.split("/")) if text else ".*"
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + body + "(?:/.*)?")


_EDITOR_TEMP_RE = re.compile("|".join(f"(?:{_segment_regex(p)})" for p in EDITOR_TEMP))


def is_editor_temp(name: str) -> bool:
    """Whether a file name is one an editor writes while saving (never a restart)."""
    return _EDITOR_TEMP_RE.fullmatch(name) is not None


# Which tasks a change concerns ---------------------------------------------------------


@dataclass(frozen=True)
class WatchSpec:
    """What one task watches: `patterns` relative to `root` (its cwd, an absolute real
    path), minus the built-in ignores and its own `ignore` patterns."""

    root: str
    patterns: tuple[str, ...]
    ignore: tuple[str, ...] = ()
    command: str | None = None  # `watch_cmd`: the build step run before a restart


@dataclass(frozen=True)
class _Compiled:
    root: str
    globs: tuple[WatchGlob, ...]
    ignore: tuple[re.Pattern[str], ...]


class Matcher:
    """Path → the watching tasks it concerns (and the path as each task names it)."""

    def __init__(self, specs: Mapping[str, WatchSpec], ignore_dirs: Iterable[str] = ()) -> None:
        self.ignore_dirs = tuple(d.rstrip("/") for d in ignore_dirs if d)
        self._tasks = {
            name: _Compiled(
                spec.root.rstrip("/") or "/",
                tuple(WatchGlob.compile(p) for p in spec.patterns),
                tuple(compile_ignore(p) for p in (*DEFAULT_IGNORE, *spec.ignore)),
            )
            for name, spec in specs.items()
            if spec.patterns
        }

    def tasks_for(self, path: str) -> list[tuple[str, str]]:
        """(task, path relative to its cwd) for every task that a change of `path` (an
        absolute path) should restart."""
        if any(path == d or path.startswith(d + "/") for d in self.ignore_dirs):
            return []
        if is_editor_temp(posixpath.basename(path)):
            return []
        found = []
        for name, task in self._tasks.items():
            relative = posixpath.relpath(path, task.root)
            if any(rule.fullmatch(relative) for rule in task.ignore):
                continue
            if any(glob.matches(relative) for glob in task.globs):
                found.append((name, relative))
        return found


# Which folders to watch ----------------------------------------------------------------


@dataclass(frozen=True)
class FolderPlan:
    """The folders to watch (folder, recursive), and the wanted folders that do not exist
    yet (watched through their nearest existing parent until they appear)."""

    folders: tuple[tuple[str, bool], ...] = ()
    missing: tuple[str, ...] = ()


def _base(pattern: str) -> tuple[str, bool, bool]:
    """(the pattern's literal leading folders, whether what follows spans folders, whether
    the whole pattern is literal)."""
    text, below = _normalize(pattern)
    segments = text.split("/") if text else []
    literal: list[str] = []
    for segment in segments:
        if _is_glob(segment):
            break
        literal.append(segment)
    rest = segments[len(literal) :]
    if not rest:
        return "/".join(literal), True, not below
    deep = len(rest) > 1 or "**" in rest[0]
    return "/".join(literal), deep, False


def plan_folders(
    specs: Mapping[str, WatchSpec], is_dir: Callable[[str], bool] = os.path.isdir
) -> FolderPlan:
    """The fewest (folder, recursive) watches that see every file the patterns can match."""
    wanted: dict[str, bool] = {}
    missing: set[str] = set()
    for spec in specs.values():
        for pattern in spec.patterns:
            base, deep, literal = _base(pattern)
            folder = posixpath.normpath(posixpath.join(spec.root, base))
            if literal and not is_dir(folder):
                # A file (or a folder yet to come): its parent, one level.
                if posixpath.dirname(folder) == folder:
                    continue
                missing.add(folder)
                folder, deep = posixpath.dirname(folder), False
            while not is_dir(folder):
                missing.add(folder)
                parent = posixpath.dirname(folder)
                if parent == folder:
                    break
                folder, deep = parent, False
            wanted[folder] = wanted.get(folder, False) or deep
    kept = []
    for folder, deep in sorted(wanted.items()):
        covered = any(
            other_deep and (folder == other or folder.startswith(other.rstrip("/") + "/"))
            for other, other_deep in wanted.items()
            if other != folder
        )
        if not covered:
            kept.append((folder, deep))
    return FolderPlan(tuple(kept), tuple(sorted(missing)))
