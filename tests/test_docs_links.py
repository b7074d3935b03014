"""Every relative link in the repository's Markdown resolves to a file or folder that exists.

Why: README's results live in several files under docs/ that link to each other, to model cards
and to committed outputs; a file moved or renamed leaves links that a reader follows into a 404.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)


def _markdown_files() -> list[Path]:
    """The Markdown files git tracks (or, outside a git checkout, every one under the root)."""
    try:
        out = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
        files = [ROOT / f for f in out]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in ROOT.rglob("*.md") if ".venv" not in p.parts]
    return [f for f in files if f.exists() and "build" not in f.parts[len(ROOT.parts):][:2]]


def broken_links(path: Path) -> list[str]:
    """The relative link targets of ``path`` that do not exist (code blocks are skipped)."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    bad = []
    for match in LINK.finditer(text):
        target = match.group(1)
        if re.match(r"[a-zA-Z][a-zA-Z+.-]*:", target) or target.startswith("#"):
            continue  # URLs, mailto:, anchors within the file
        if not (path.parent / target.split("#", 1)[0]).exists():
            bad.append(target)
    return bad


def test_link_checker_finds_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md) [anchor](there.md#a) [web](https://example.org) "
                    "[gone](missing.md)\n```\n[in code](also-missing.md)\n```\n")
    assert broken_links(page) == ["missing.md"]


def test_relative_links_resolve() -> None:
    files = _markdown_files()
    assert any(f.name == "README.md" and f.parent == ROOT for f in files)
    bad = [f"{f.relative_to(ROOT)}: {t}" for f in files for t in broken_links(f)]
    assert bad == [], "links to missing files:\n" + "\n".join(bad)
