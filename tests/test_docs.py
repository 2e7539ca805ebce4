"""The README and the docs travel with a clone: every file they name is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)")  # Markdown links: [text](target)
PATH_IN_CODE = re.compile(r"`((?:\.\./|docs/|triage_cli/|tests/|benchmarks/)[\w./-]+)`")


def test_the_architecture_document_is_in_the_repository_and_linked_from_the_readme():
    assert (ROOT / "docs" / "architecture.md").is_file()
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_file_the_docs_name_exists_inside_the_repository():
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        links = [(doc.parent, t) for t in LINK.findall(text) if "://" not in t]
        named = [(ROOT, t) for t in PATH_IN_CODE.findall(text)]  # `tests/x.py`: from the project's root
        for base, target in links + named:
            path = (base / target).resolve()
            assert path.is_relative_to(ROOT), f"{doc.name} points outside the repository: {target}"
            assert path.exists(), f"{doc.name} names a file that does not exist: {target}"
