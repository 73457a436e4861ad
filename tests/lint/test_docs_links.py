"""Every relative link in the README and the guides under docs/ points at a file that exists, and every in-page
anchor (`#section`) at a heading of its target: the README was split into docs/, and a moved section must not
leave a dead link behind."""

import re
from pathlib import Path

import pytest

from tests.harness.render import REPO_ROOT

pytestmark = pytest.mark.render

DOCUMENTS = [REPO_ROOT / "README.md", REPO_ROOT / "models" / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")),
             *sorted((REPO_ROOT / "charts").glob("*/README.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.DOTALL), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def dead_links(document: Path) -> list[str]:
    text = document.read_text()
    dead = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists():
            dead.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            dead.append(f"{target}: no heading #{anchor}")
    return dead


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_relative_links_resolve(document):
    assert dead_links(document) == []


def test_a_dead_link_and_a_dead_anchor_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## Getting started: now\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#getting-started-now) [gone](missing.md) [bad](other.md#nowhere) [web](https://x.y/z)\n")
    assert dead_links(page) == ["missing.md: no such file", "other.md#nowhere: no heading #nowhere"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_no_prose_pointer_to_a_readme_section_that_moved(document):
    """The feature sections live in docs/ now: "the top-level README, "Logging"" would send a reader nowhere."""
    assert not re.findall(r"(?:top-level|root) README[^.\n]{0,12}\(?\"", document.read_text())
