"""SSv1's left/right classes: the indices the GTA and RSA recipes keep unflipped (data.flip_keep,
written from SSv2's label list) name exactly the classes whose label has the word "left" or
"right" under SSv1's alphabetical order too, and the file-order swap pairs name partners.

The fixture is SSv1's class list in file order (mmaction2's label map; see its header)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from repro.data.ssv1 import FLIP_SWAP_FILE_ORDER, class_index

FIXTURE = Path(__file__).parent / "fixtures" / "labels" / "ssv1_labels_file_order.txt"
RECIPES = Path(__file__).resolve().parents[1] / "experiments" / "recipes"
SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def _names() -> list[str]:
    return [ln.rstrip() for ln in FIXTURE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def test_fixture_is_the_174_classes():
    names = _names()
    assert len(names) == 174 == len(set(names))


def test_flip_keep_names_the_left_right_classes_under_alphabetical_order():
    names = _names()
    index = class_index(names, "alphabetical")
    sided = sorted(index[n] for n in names if SIDE.search(n))
    assert sided == [50, 86, 87, 93, 94, 166, 167]
    # GTA's rule is the word: every such class.
    assert sorted(yaml.safe_load((RECIPES / "gta.yaml").read_text())["data"]["flip_keep"]) == sided
    # RSA's code lists the six classes with a left/right partner (not class 50, whose "right"
    # means "at once"): all of them name a side under SSv1's alphabetical order as under SSv2's.
    rsa = yaml.safe_load((RECIPES / "rsa.yaml").read_text())["data"]["flip_keep"]
    assert set(rsa) <= set(sided) and sorted(set(sided) - set(rsa)) == [50]


def test_file_order_swap_pairs_are_mirror_images():
    names = _names()
    for a, b in FLIP_SWAP_FILE_ORDER.items():
        swapped = re.sub(r"\b(left|right)\b", lambda m: {"left": "right", "right": "left"}[m.group(1)], names[a])
        # "from left to right" <-> "from right to left", "camera left" <-> "camera right"
        assert swapped == names[b] or sorted(SIDE.findall(names[a])) == sorted(SIDE.findall(names[b])), (a, b)
        assert names[a] != names[b] and SIDE.search(names[a]) and SIDE.search(names[b])
