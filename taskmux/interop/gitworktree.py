"""The `git worktree` plumbing `taskmux worktree` needs: list, add, remove, prune.

Only this module runs git. Every call is `git -C FOLDER ...` with its output captured; a
refusal becomes one line (E134) with git's own last words.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from taskmux.errors import WorktreeFailed


@dataclass(frozen=True)
class GitWorktree:
    """One checkout as `git worktree list --porcelain` describes it."""

    path: Path
    head: str
    branch: str | None  # None: a detached HEAD
    main: bool  # the repository's main checkout (git lists it first)
    prunable: bool  # its folder is gone: `git worktree prune` forgets it


def git(folder: Path, *args: str) -> str:
    """Run git in `folder`; its stdout, or WorktreeFailed with its message."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise WorktreeFailed(
            "git is not installed (taskmux worktree runs git)", code="E134"
        ) from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        reason = said[-1] if said else f"exit {done.returncode}"
        raise WorktreeFailed(
            f"git {args[0]} {args[1] if len(args) > 1 else ''}: {reason}".replace("  ", " ")
        )
    return done.stdout


def toplevel(folder: Path) -> Path:
    """The checkout `folder` is in (E139 outside a git repository)."""
    try:
        return Path(git(folder, "rev-parse", "--show-toplevel").strip()).resolve()
    except WorktreeFailed as exc:
        raise WorktreeFailed(
            f"{folder} is not in a git repository ({exc.message})", code="E134"
        ) from None


def parse_porcelain(text: str) -> list[GitWorktree]:
    """`git worktree list --porcelain`: blank-line separated records, the main one first."""
    found: list[GitWorktree] = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            fields[key] = value
        if "worktree" not in fields or "bare" in fields:
            continue
        branch = fields.get("branch")
        found.append(
            GitWorktree(
                Path(fields["worktree"]),
                fields.get("HEAD", ""),
                branch.removeprefix("refs/heads/") if branch else None,
                main=not found,
                prunable="prunable" in fields,
            )
        )
    return found


def worktrees(folder: Path) -> list[GitWorktree]:
    return parse_porcelain(git(folder, "worktree", "list", "--porcelain"))


def add(folder: Path, path: Path, branch: str | None) -> None:
    """A new checkout at `path`: on a new branch, or the current HEAD detached."""
    if branch:
        git(folder, "worktree", "add", "-b", branch, str(path))
    else:
        git(folder, "worktree", "add", "--detach", str(path))


def remove(folder: Path, path: Path, force: bool) -> None:
    git(folder, "worktree", "remove", *(["--force"] if force else []), str(path))


def prune(folder: Path) -> None:
    git(folder, "worktree", "prune")


def has_changes(path: Path) -> bool:
    """Whether git would refuse to remove the checkout: modified or untracked files."""
    return bool(git(path, "status", "--porcelain").strip())
