"""The documentation: a README that fits on a screen or two, links that lead somewhere, no issue numbers, and the
variant table of docs/security.md equal to what `python -m core compare-variants` prints from the committed files."""
import re
import tomllib
from pathlib import Path

import pytest

from core.data.uploads import MAX_BYTES
from core.hardening.variants import variants_table
from core.io.paths import MAKE_COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted([README, *(ROOT / "docs").glob("*.md")])
README_MAX_LINES = 150

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
ISSUE_NUMBER = re.compile(r"\bissues?\s*(?:#|no\.?\s*)?\d+", re.I)


def prose(text: str) -> str:
    """The text without fenced code blocks: links and headings inside them are not links or headings."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (letters, digits, `_`, `-` kept), spaces
    to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's `-1`, `-2` … for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(prose(path.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def relative_links(path: Path) -> list[str]:
    """The links of a Markdown file that point inside the repository (not to the web, not inside code)."""
    text = INLINE_CODE.sub("", prose(path.read_text()))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.I)]


def test_readme_fits_on_a_screen_or_two() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    """Every link to a file (and to a heading in it) in README.md and docs/*.md leads to something that exists."""
    broken = []
    for target in relative_links(path):
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no such heading in {dest.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_link_checker_sees_links_and_anchors(tmp_path: Path) -> None:
    """The checker itself: it finds links outside code only and builds GitHub's anchors."""
    doc = tmp_path / "a.md"
    doc.write_text("# Speed — `python -m core bench`\n## Speed — `python -m core bench`\n[x](b.md#y) "
                   "`[not](c.md)` ![img](d.png) [web](https://example.org)\n```\n[code](e.md)\n```\n")
    assert relative_links(doc) == ["b.md#y", "d.png"]
    assert anchors(doc) == {"speed--python--m-core-bench", "speed--python--m-core-bench-1"}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_issue_numbers_in_the_documentation(path: Path) -> None:
    """The product speaks of what it does, not of the tracker that asked for it."""
    found = ISSUE_NUMBER.findall(path.read_text())
    assert not found, f"{path.relative_to(ROOT)} cites {found}"


def test_security_doc_compares_every_variant_in_one_table() -> None:
    """docs/security.md's variant table is `python -m core compare-variants` on the committed files, verbatim,
    under its heading, and the README's verdict links to the security page."""
    security = (ROOT / "docs" / "security.md").read_text()
    section = security.split("### Every variant, one table", 1)[1].split("\n## ", 1)[0]
    assert MAKE_COMMANDS["variants_table"] in section
    assert variants_table(["mnist", "cifar10"]) in section
    assert "(docs/security.md)" in README.read_text()


def test_the_quick_start_opens_the_dashboard_without_a_question() -> None:
    """`make app` runs Streamlit with a browser (headless false); Streamlit would first ask a new user for an email
    address and wait on the terminal unless the project's config turns that prompt off."""
    assert "make app" in README.read_text()
    assert "--server.headless false" in (ROOT / "Makefile").read_text()
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["showEmailPrompt"] is False
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == MAX_BYTES
