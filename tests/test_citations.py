"""Citations name only what a clone of this repository has.

Every text file git tracks, plus untracked files git does not ignore, is scanned (binary files
and the result JSONs under results/ are skipped). A file fails if it cites

- the engineers' reference folder outside the repository (its papers/ or reference/ subfolders
  by relative path, or its absolute path), or
- the facts file by any path other than the one under docs/ (``docs/facts.md``), or
- a markdown file under docs/ that does not exist.

Papers are cited by arXiv id and section instead; facts by ``docs/facts.md section N``.

Generated reports (reports/) are checked as a separate case, so that a stale report shows up
on its own; regenerating it (``run_all.py --report-only``) brings it in line.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Built from parts so that this file does not match its own patterns.
_OUTSIDE_DIR = "sha" + "red"
_FACTS = "facts" + r"\.md"
OUTSIDE = re.compile(r"(?<![\w-])" + _OUTSIDE_DIR + r"/(?:papers|reference)\b"
                     + "|" + "/work/" + _OUTSIDE_DIR + r"\b")
# A path-like token ending in the facts file's name; retrieval-facts.md and the like are other
# files (the look-behind skips names that merely end in it).
FACTS_TOKEN = re.compile(r"[\w./-]*(?<![\w-])" + _FACTS)
DOCS_FACTS = "docs/" + "facts" + ".md"
DOCS_LINK = re.compile(r"(?<![\w-])" + "do" + r"cs/([\w-]+(?:/[\w-]+)*\.md)\b")

GROUPS = ("repository", "reports")


def _listed_files() -> list[str]:
    try:
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                                 check=True).stdout
        others = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard"],
                                cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the file list comes from git")
    names = {n for n in (tracked + others).decode("utf-8", "replace").split("\0") if n}
    return sorted(names)


def _text(rel: str) -> str | None:
    """The file's text, or None for a missing, unreadable or binary file."""
    if rel.startswith("results/") and rel.endswith(".json"):
        return None
    path = REPO / rel
    try:
        data = path.read_bytes()
    except OSError:  # listed by git but deleted or unreadable in the working tree
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _files(group: str) -> list[tuple[str, str]]:
    out = []
    for rel in _listed_files():
        if (group == "reports") != rel.startswith("reports/"):
            continue
        text = _text(rel)
        if text is not None:
            out.append((rel, text))
    return out


def _problems(rel: str, text: str) -> list[str]:
    found = []
    for no, line in enumerate(text.splitlines(), 1):
        for m in OUTSIDE.finditer(line):
            found.append(f"{rel}:{no}: cites a file outside the repository ({m.group(0)!r})")
        for m in FACTS_TOKEN.finditer(line):
            token = m.group(0)
            if not (token == DOCS_FACTS or token.endswith("/" + DOCS_FACTS)):
                found.append(f"{rel}:{no}: cites {token!r}; cite {DOCS_FACTS} (section N)")
        for m in DOCS_LINK.finditer(line):
            if not (REPO / "docs" / m.group(1)).is_file():
                found.append(f"{rel}:{no}: cites docs/{m.group(1)}, which does not exist")
    return found


@pytest.mark.parametrize("group", GROUPS)
def test_citations_stay_inside_the_repository(group):
    files = _files(group)
    if group == "repository":
        assert files, "no files found to check"
    problems = [p for rel, text in files for p in _problems(rel, text)]
    assert not problems, (f"{len(problems)} citation(s) of files a clone does not have"
                          + ("" if group == "repository" else
                             " (regenerate the reports: run_all.py --report-only)")
                          + ":\n" + "\n".join(problems))


def test_patterns_catch_what_they_should():
    """The patterns flag the forms they are meant for and let the allowed ones through."""
    outside = "/".join([_OUTSIDE_DIR, "papers", "gta.md"])
    bad = [
        f"see {outside} line 3",
        "see " + "/work/" + _OUTSIDE_DIR + "/x",
        "(" + "facts" + ".md)",
        _OUTSIDE_DIR + "/reference/" + "facts" + ".md",
        "do" + "cs/no-such-file-here.md",
    ]
    good = [
        DOCS_FACTS + " section 4",
        "do" + "cs/retrieval-" + "facts" + ".md section 7",
        "a " + _OUTSIDE_DIR + "/ folder of the device",
        "my-" + _OUTSIDE_DIR + "/papers",
    ]
    for line in bad:
        assert _problems("x", line), line
    for line in good:
        assert not _problems("x", line), line
