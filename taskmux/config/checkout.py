"""Which checkout of its repository a project folder is: `TASKMUX_WORKTREE` (SPEC §14).

`main` for a repository's main checkout (or a project outside git), else the 4-hex id of
section 8 (`ProjectPaths.checkout_id`), so a task can keep its data apart, e.g.
`DATABASE_URL = "postgres:///app_${TASKMUX_WORKTREE}"`. Read from the file system alone
(a linked worktree's `.git` is a file pointing into `.git/worktrees/`): no `git` process
on every launch.
"""

from __future__ import annotations

from pathlib import Path

WORKTREE_VAR = "TASKMUX_WORKTREE"


def is_linked_worktree(folder: Path) -> bool:
    """Whether `folder` lies in a linked git worktree (not the main checkout)."""
    for place in (folder, *folder.parents):
        marker = place / ".git"
        if marker.is_dir():
            return False
        if marker.is_file():
            try:
                text = marker.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return False
            return "/worktrees/" in text.replace("\\", "/")  # a submodule's points elsewhere
    return False


def worktree_label(folder: Path, checkout_id: str) -> str:
    """`main`, or the checkout's 4-hex id when `folder` is in a linked worktree."""
    return checkout_id if is_linked_worktree(folder) else "main"
