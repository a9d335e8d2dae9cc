"""The report section saying which copy of each dataset the results were computed on
(:mod:`repro.data.fingerprint`): one line per distinct copy, with the results that used it."""
from __future__ import annotations

import json

from repro.data.fingerprint import short


def dataset_section(results: list[dict]) -> list[str]:
    """Markdown lines; none when no result records a fingerprint."""
    copies: dict[str, tuple[dict, list[str]]] = {}
    for r in results:
        fp = r["provenance"].get("dataset_fingerprint")
        if not fp:
            continue
        key = json.dumps({k: fp[k] for k in ("annotations", "videos", "decoder", "sample")}, sort_keys=True)
        copies.setdefault(key, (fp, []))[1].append(f"{r['row']} ({r['provenance']['profile']})")
    if not copies:
        return []
    out = ["", "## Dataset copies", "",
           "Which copy of the dataset each result saw: sha256 of the annotation files, videos found of "
           "those listed, the decoder, and the mean length and size of a fixed sample of validation "
           "videos. Results on different lines were computed on different copies.", "",
           "| dataset copy | results |", "|---|---|"]
    for fp, rows in copies.values():
        shown = ", ".join(rows[:6]) + (f", and {len(rows) - 6} more" if len(rows) > 6 else "")
        out.append(f"| {short(fp)} | {shown} |")
    return out
