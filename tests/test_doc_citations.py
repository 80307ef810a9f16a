"""Code cites documents that are in the repository: a ``docs/x.md`` it names exists (and so
does the section it quotes), and nothing cites the seed documents that live outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("schemas", "processkit", "services", "bridge", "mdbridge", "scripts", "examples")
CITATION = re.compile(r'(docs/[\w/.-]+\.md)(?:,\s+"([^"]+)")?')
OUTSIDE = re.compile(r"design\.md|ARCHITECTURE\.md|requirements\.md|\blesson \d|\bR\d+\.\d+\b")


def _sources() -> list[Path]:
    return sorted(p for package in SOURCES for p in (ROOT / package).rglob("*.py"))


def _headings(doc: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in doc.read_text().splitlines() if line[:1] == "#"]


def test_cited_documents_and_sections_exist() -> None:
    cited = 0
    for path in _sources():
        text = " ".join(path.read_text().split())  # a citation may wrap across lines
        for doc_name, section in CITATION.findall(text):
            doc = ROOT / doc_name
            where = f"{path.relative_to(ROOT)} cites {doc_name}"
            assert doc.is_file(), where
            cited += 1
            if section:
                text_of_doc = doc.read_text()
                assert any(section in h for h in _headings(doc)) or (
                    f"**{section}" in text_of_doc
                ), f'{where}, "{section}": no such section'
    assert cited > 10


def test_nothing_cites_documents_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in _sources()
        for match in OUTSIDE.finditer(path.read_text())
    ]
    assert offenders == []
