"""Every relative link in README.md resolves: to a file of the repository, and to a heading
of the page when it names one (the docs site's own links are checked by `mkdocs build
--strict`)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)(?: \{#([\w-]+)\})?\s*$")


def _slug(text: str) -> str:
    """The anchor Python-Markdown's toc (and so MkDocs) gives a heading."""
    text = re.sub(r"`|\*\*|\[|\]\([^)]*\)", "", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    anchors = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match:
            anchors.add(match.group(2) or _slug(match.group(1)))
    return anchors


def test_every_relative_readme_link_resolves() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [link for link in LINK.findall(readme) if not re.match(r"[a-z]+:", link)]
    assert links, "README.md has no relative links: the pattern is wrong"
    broken = []
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else ROOT / "README.md"
        missing_anchor = bool(anchor) and target.suffix == ".md" and target.exists()
        if not target.exists() or (missing_anchor and anchor not in _anchors(target)):
            broken.append(link)
    assert broken == []


def test_slugs_match_the_docs_sites() -> None:
    assert _slug("A broken `taskmux.toml` does not lock you out") == (
        "a-broken-taskmuxtoml-does-not-lock-you-out"
    )
    assert _slug("Probes: when a task is healthy") == "probes-when-a-task-is-healthy"
