"""Templated captions of the synthetic videos, for the caption-retrieval probe (SSAN Tables 7-8).

Every video gets captions built from what its entry in the split file records: the class
template (what happens) and the placeholder (colour and shape of the object, or of both objects
for the two-object classes). Object size and speed are drawn by the generator but not recorded
in the split files, so no caption names them.

Kinds:
- ``order``: names what happens in time, for the classes whose validation partner is the exact
  time reverse of the same draw (left/right, up/down, appear/disappear, towards/away). The video
  and its reverse look alike frame by frame, so only an order-aware feature retrieves the right
  one: the probe reports R@1 on these captions against that one distractor.
- ``event``: names what happens, for the other classes (pretending, holding still, changing or
  keeping colour, meeting); their look-alikes are not exact reverses.
- ``appearance``: only what is seen ("a green circle"): several videos may match.

Captions are a deterministic function of (video id, template, placeholder, seed).
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from repro.data.synthetic import CLASSES

KINDS = ("order", "event", "appearance")
# Phrasings per class template; {thing} is "green circle", or "green circle and yellow square".
# A class and its reverse differ in their words, not only in word order: HowTo100M's sentence
# encoder max-pools over words, so "from left to right" and "from right to left" would be the
# same bag of words to it, and no video feature could help it tell them apart.
PHRASES: dict[str, tuple[str, ...]] = {
    "Moving [something] from left to right": ("a {thing} moving rightwards",
                                             "the {thing} goes towards the right"),
    "Moving [something] from right to left": ("a {thing} moving leftwards",
                                             "the {thing} goes towards the left"),
    "Moving [something] down": ("a {thing} moving downwards", "the {thing} sinks towards the bottom"),
    "Moving [something] up": ("a {thing} moving upwards", "the {thing} rises towards the top"),
    "[Something] disappearing": ("a {thing} disappearing", "the {thing} vanishes"),
    "[Something] appearing": ("a {thing} appearing", "a {thing} shows up"),
    "Moving [something] away from the camera": ("a {thing} moving away from the camera",
                                               "the {thing} shrinks"),
    "Moving [something] towards the camera": ("a {thing} moving towards the camera",
                                             "the {thing} grows"),
    "Pretending to move [something]": ("pretending to move a {thing}",
                                       "a {thing} that starts to move and stops"),
    "Holding [something red] still": ("holding a {thing} still", "a {thing} that does not move"),
    "Holding [something blue] still": ("holding a {thing} still", "a {thing} that does not move"),
    "[Something] changing colour": ("a {thing} changing colour", "the {thing} turns another colour"),
    "[Something] keeping its colour": ("a {thing} keeping its colour", "the {thing} stays the same colour"),
    "Two [things] meeting": ("{thing} meeting", "the {thing} move until they touch"),
    "Two [things] approaching without meeting": ("{thing} approaching without meeting",
                                                 "the {thing} come close but do not touch"),
}
APPEARANCE = ("a {thing}", "a video of a {thing}", "there is a {thing}")
_ORDERED = {c.template for c in CLASSES if c.partner_of} | {c.partner_of for c in CLASSES if c.partner_of}


@dataclass(frozen=True)
class Caption:
    video_id: str
    kind: str
    text: str


def thing_text(placeholder: str) -> str:
    """The generator's placeholder as words: "green circle", or for two objects
    "things (green circle and yellow square)" -> "green circle and yellow square"."""
    m = re.fullmatch(r"things \((.*)\)", placeholder)
    return m.group(1) if m else placeholder


def captions_for(entry: dict, seed: int = 0) -> list[Caption]:
    """An ``order`` or ``event`` caption and an ``appearance`` caption of one split-file entry
    (``id``, ``template``, ``placeholders``), phrasings drawn from (seed, video id)."""
    template, vid = entry["template"], str(entry["id"])
    if template not in PHRASES:
        raise ValueError(f"video {vid}: no captions for template {template!r}")
    thing = thing_text(entry["placeholders"][0])
    rng = np.random.default_rng([seed, zlib.crc32(vid.encode())])  # str hash() varies per process
    happens = PHRASES[template][int(rng.integers(len(PHRASES[template])))]
    seen = APPEARANCE[int(rng.integers(len(APPEARANCE)))]
    if " and " in thing:  # two objects: "a green circle and yellow square" reads as two things
        seen = seen.replace("a {thing}", "{thing}")
    kind = "order" if template in _ORDERED else "event"
    return [Caption(vid, kind, happens.format(thing=thing)), Caption(vid, "appearance", seen.format(thing=thing))]
