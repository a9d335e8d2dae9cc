"""Rewrite the README's table list (between its header line and the next blank line) from the specs.

Usage: .venv/bin/python scripts/readme_tables.py
"""
from pathlib import Path

from repro.config.loader import list_tables, load_spec

HEADER = "| table | source | rows | built (can run) | reported only |"
README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    lines = [HEADER, "|---|---|---|---|---|"]
    for t in list_tables():
        s = load_spec(t)
        runs = [r.label + (" (ensemble)" if r.is_ensemble else " (retrieval)" if r.is_retrieval else "")
                for r in s.rows if r.runnable]
        lines.append(f"| [`{t}`](reports/{t}.md) | {s.paper.upper()} {s.table} ({s.dataset} {s.split}) "
                     f"| {len(s.rows)} | {'; '.join(runs) if runs else '-'} | {len(s.rows) - len(runs)} |")
    text = README.read_text()
    start = text.index(HEADER)
    end = text.index("\n\n", start)
    README.write_text(text[:start] + "\n".join(lines) + text[end:])


if __name__ == "__main__":
    main()
