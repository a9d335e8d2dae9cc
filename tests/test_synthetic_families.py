"""Synthetic class families (the order-free relation classes above all) and difficulty knobs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from repro.data import registry
from repro.data.synthetic import (APPEARANCE_COLOURS, CLASSES, COLOURS, RGB, SHAPES, STOP_GAP,
                                  Difficulty, class_info, contact_distance, difficulty_from_config,
                                  masks_touch, render, shape_mask)
from repro.config import schema as S
from repro.config.loader import parse_set
from repro.config.schema import SpecError

INDEX = {c.template: i for i, c in enumerate(CLASSES)}
CHANGING, KEEPING = INDEX["[Something] changing colour"], INDEX["[Something] keeping its colour"]
MEETING, APART = INDEX["Two [things] meeting"], INDEX["Two [things] approaching without meeting"]
SEEDS = range(6)


def _actors(ci: int, seed: int, d: Difficulty = Difficulty()):
    """The class's objects, drawn the way render() draws them (look first, then background)."""
    rng = np.random.default_rng(seed)
    shape, colour = str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS)))
    return CLASSES[ci].scene(rng, d, shape, colour)


def _palette_colours(frame: np.ndarray) -> set[str]:
    """Palette colours present in a noise-free frame: background and distractors never reach them."""
    return {n for n, rgb in COLOURS.items() if (frame == rgb).all(-1).any()}


def _switches(names) -> int:
    return sum(a != b for a, b in zip(names, names[1:]))


def test_class_list_and_families():
    info = class_info()
    assert len(CLASSES) == 15 and info["classes"][11:] == [
        "Something changing colour", "Something keeping its colour", "Two things meeting",
        "Two things approaching without meeting"]
    assert info["families"][11:] == ["relation"] * 4
    assert set(info["families"]) == {"direction", "appear_disappear", "approach_recede",
                                     "pretending", "appearance", "relation"}
    assert info["reversal_pairs"] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert info["flip_swap"] == {"0": 1, "1": 0}  # relation classes are flip-invariant


@pytest.mark.parametrize("d", [Difficulty(), Difficulty(size=32, frames=9, noise=5.0)],
                         ids=["default", "small-odd-noisy"])
def test_every_class_renders(d):
    for ci, cls in enumerate(CLASSES):
        for seed in range(2):
            frames, thing = render(cls, np.random.default_rng([0, 0, ci, seed]), d)
            assert frames.shape == (d.frames, d.size, d.size, 3) and frames.dtype == np.uint8
            assert thing


def test_changing_colour_switches_once_and_its_reverse_does_too():
    d = Difficulty()
    lo = round(0.3 * d.frames)
    for seed in SEEDS:
        (actor,) = _actors(CHANGING, seed)
        names = actor.colours
        assert len(set(names)) == 2 and set(names) <= set(COLOURS) and _switches(names) == 1
        k = names.index(names[-1])  # first frame of the second colour
        # The reverse switches at F - k: inside the same window, so it is a changing-colour video.
        assert lo <= k <= d.frames - lo and lo <= d.frames - k <= d.frames - lo
        frames, _ = render(CLASSES[CHANGING], np.random.default_rng(seed), d)
        per_frame = [_palette_colours(f) for f in frames]
        assert all(len(c) == 1 for c in per_frame)
        seen = [c.pop() for c in per_frame]
        assert len(set(seen)) == 2 and _switches(seen) == 1 and _switches(seen[::-1]) == 1


def test_keeping_colour_has_one_palette_colour():
    for seed in SEEDS:
        (actor,) = _actors(KEEPING, seed)
        assert len(set(actor.colours)) == 1 and actor.colours[0] in COLOURS
        assert actor.colours[0] not in APPEARANCE_COLOURS  # else one frame would give it away
        frames, _ = render(CLASSES[KEEPING], np.random.default_rng(seed), Difficulty())
        assert set.union(*(_palette_colours(f) for f in frames)) == {actor.colours[0]}


def test_colour_pair_shares_its_first_frame():
    """Same seed, same numbers: the two classes differ only in the switch."""
    d = Difficulty()
    for seed in SEEDS:
        a, _ = render(CLASSES[CHANGING], np.random.default_rng(seed), d)
        b, _ = render(CLASSES[KEEPING], np.random.default_rng(seed), d)
        assert np.array_equal(a[0], b[0]) and not np.array_equal(a[-1], b[-1])


def _gap(a, b, i: int) -> float:
    """How much farther the two objects would have to move along their line to touch."""
    ta, tb = a.track, b.track
    axis = "x" if ta.y[i] == tb.y[i] else "y"
    assert (ta.y == tb.y).all() if axis == "x" else (ta.x == tb.x).all()  # one common line
    sep = (tb.x[i] - ta.x[i]) if axis == "x" else (tb.y[i] - ta.y[i])
    return sep - contact_distance(a.shape, ta.r[i], b.shape, tb.r[i], axis)


def _masks(actors, i: int, size: int):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return [shape_mask(a.shape, a.track.x[i], a.track.y[i], a.track.r[i], yy, xx) for a in actors]


@pytest.mark.parametrize("d", [Difficulty(), Difficulty(size=32, frames=9)], ids=["default", "small-odd"])
def test_meeting_objects_touch_at_closest_approach(d):
    for seed in SEEDS:
        a, b = _actors(MEETING, seed, d)
        assert a.shape != b.shape and a.colours[0] != b.colours[0]
        gaps = np.array([_gap(a, b, i) for i in range(d.frames)])
        i = int(np.argmin(gaps))
        assert -1.5 <= gaps[i] <= 1e-9  # geometric contact, pushed in at most a pixel or so
        assert gaps[0] > 0 and gaps[-1] > 0
        m1, m2 = _masks((a, b), i, d.size)
        assert masks_touch(m1, m2) and (m1 & m2).sum() <= 4  # the drawn pixels meet
        # Out-and-back: the video is its own time reverse (frame order carries nothing).
        assert np.allclose(a.track.x, a.track.x[::-1]) and np.allclose(b.track.y, b.track.y[::-1])


def test_never_meeting_objects_keep_a_gap():
    d = Difficulty()
    for seed in SEEDS:
        a, b = _actors(APART, seed, d)
        rmax = max(a.track.r[0], b.track.r[0])
        gaps = np.array([_gap(a, b, i) for i in range(d.frames)])
        assert gaps.min() >= STOP_GAP[0] * rmax - 1e-6
        for i in range(d.frames):
            assert not masks_touch(*_masks((a, b), i, d.size))
        assert np.allclose(a.track.x, a.track.x[::-1]) and np.allclose(a.track.y, a.track.y[::-1])


def test_meeting_pair_shares_its_first_frame():
    d = Difficulty()
    for seed in SEEDS:
        a, _ = render(CLASSES[MEETING], np.random.default_rng(seed), d)
        b, _ = render(CLASSES[APART], np.random.default_rng(seed), d)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[-1], b[-1])
        assert not np.array_equal(a, b)


def test_meeting_objects_use_palette_colours():
    frames, thing = render(CLASSES[MEETING], np.random.default_rng(3), Difficulty())
    assert thing.startswith("things (") and " and " in thing
    assert len(set.union(*(_palette_colours(f) for f in frames))) == 2
    assert not any((frames == RGB[c]).all(-1).any() for c in APPEARANCE_COLOURS)


def test_default_difficulty_is_unchanged():
    d = Difficulty()
    assert (d.size, d.frames, d.distractors, d.travel, d.object_size, d.noise) == \
        (64, 24, (1, 3), (0.35, 0.6), (0.10, 0.17), 0.0)
    assert difficulty_from_config(None) == difficulty_from_config({}) == d


def test_noise_is_added_to_every_frame():
    cls = CLASSES[KEEPING]
    clean, _ = render(cls, np.random.default_rng(1), Difficulty())
    noisy, _ = render(cls, np.random.default_rng(1), Difficulty(noise=20.0))
    diff = noisy.astype(float) - clean.astype(float)
    assert all(15 < diff[i].std() < 25 for i in range(len(diff)))  # clipping trims a little
    assert not np.array_equal(diff[0], diff[1])  # fresh noise each frame


def test_difficulty_from_a_config_reaches_the_generator(tmp_path):
    from repro.config.loader import complete

    cfg = complete({"data": {"dataset": "synthetic", "train_per_class": 1, "val_per_class": 1,
                             "difficulty": {"size": 32, "frames": 9, "noise": 12, "distractors": [0, 0]}}})
    root, info = registry.prepare(cfg, cache_dir=tmp_path, progress=False)
    d = json.loads((root / "DONE").read_text())["difficulty"]
    assert (d["size"], d["frames"], d["noise"], d["distractors"]) == (32, 9, 12.0, [0, 0])
    assert info["families"][MEETING] == "relation"
    from repro.data.ssv2 import read_split
    from repro.data.video import decode

    frames = decode(read_split(root, "train")[0].path)
    assert frames.shape == (9, 32, 32, 3)
    # A different difficulty is a different dataset.
    del cfg["data"]["difficulty"]["noise"]
    assert registry.prepare(cfg, cache_dir=tmp_path, progress=False)[0] != root


def test_bad_difficulty_keys_and_values_are_named():
    with pytest.raises(SpecError) as e:  # --set is checked as it is parsed
        parse_set(["data.difficulty.speed=2"])
    assert e.value.problems[0].startswith("data.difficulty.speed: unknown key")
    assert "travel" in e.value.problems[0]  # the allowed keys are listed
    problems: list[str] = []
    S.check(parse_set(["data.difficulty.noise=20"]), S.CONFIG, "", problems)
    assert problems == []
    from repro.config.loader import complete

    cfg = complete({"data": {"dataset": "synthetic", "difficulty": {"speed": 2}}})
    with pytest.raises(SpecError, match=r"data\.difficulty\.speed: unknown key"):
        registry.prepare(cfg)
    for bad, key in (({"travel": [0.6]}, "travel"), ({"object_size": [0.2, 0.1]}, "object_size"),
                     ({"frames": 1}, "frames"), ({"noise": -1}, "noise"),
                     ({"distractors": [0.5, 2]}, r"distractors\[0\]")):
        with pytest.raises(SpecError, match=rf"data\.difficulty\.{key}"):
            difficulty_from_config(bad)
