"""Tiny MSR-VTT and YouCook2 roots in their official layouts (see repro/retrieval/datasets.py),
from synthetic videos and their SSv2-style labels as captions, so that the retrieval loaders and
the smoke profile run without the real data."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from repro.data.smoke import write_mp4
from repro.data.synthetic import CLASSES, Difficulty, fill_template, render
from repro.retrieval import datasets as D

SIZE, FRAMES, FPS = 32, 12, 12


def _videos(n: int, seed: int):
    """``n`` (frames, caption) pairs, cycling through the synthetic classes."""
    d = Difficulty(size=SIZE, frames=FRAMES)
    for i in range(n):
        cls = CLASSES[i % len(CLASSES)]
        frames, thing = render(cls, np.random.default_rng([seed, i]), d)
        yield frames, fill_template(cls.template, thing)


def write_msrvtt(root: Path, train: int = 6, test: int = 3, captions: int = 2) -> Path:
    """``train`` + ``test`` videos; each training video has ``captions`` captions."""
    root = Path(root)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    sentences, videos, rows = [], [], []
    for i, (frames, caption) in enumerate(_videos(train + test, 0)):
        vid = f"video{i}"
        write_mp4(root / "videos" / f"{vid}.mp4", frames, FPS)
        videos.append({"video_id": vid, "split": "train" if i < train else "test"})
        sentences += [{"video_id": vid, "caption": caption if k == 0 else f"{caption} (take {k + 1})",
                       "sen_id": len(sentences)} for k in range(captions)]
        if i >= train:
            rows.append({"key": f"ret{i - train}", "vid_key": f"msr{i}", "video_id": vid, "sentence": caption})
    (root / D.MSRVTT_DATA).write_text(json.dumps({"videos": videos, "sentences": sentences}))
    with open(root / D.MSRVTT_TRAIN, "w", newline="") as f:
        f.write("video_id\n" + "".join(f"video{i}\n" for i in range(train)))
    with open(root / D.MSRVTT_TEST, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["key", "vid_key", "video_id", "sentence"])
        w.writeheader()
        w.writerows(rows)
    return root


def write_youcook(root: Path, videos: int = 4, segments: int = 2) -> Path:
    """``videos`` long videos (half training, half validation) of ``segments`` captioned segments,
    each segment a different synthetic clip, one second long."""
    root = Path(root)
    db = {}
    clips = _videos(videos * segments, 1)
    for v in range(videos):
        subset = "training" if v < videos // 2 else "validation"
        vid, recipe = f"yc{v:03d}", "101"
        parts, notes = [], []
        for k in range(segments):
            frames, caption = next(clips)
            parts.append(frames)
            notes.append({"id": k, "segment": [k * FRAMES / FPS, (k + 1) * FRAMES / FPS], "sentence": caption})
        folder = root / "raw_videos" / subset / recipe
        folder.mkdir(parents=True, exist_ok=True)
        write_mp4(folder / f"{vid}.mp4", np.concatenate(parts), FPS)
        db[vid] = {"subset": subset, "recipe_type": recipe, "duration": segments * FRAMES / FPS,
                   "video_url": f"https://www.youtube.com/watch?v={vid}", "annotations": notes}
    (root / D.YOUCOOK_ANNOTATIONS).write_text(json.dumps({"database": db}))
    return root


def write_word2vec(path: Path, words: list[str], dim: int = 16, seed: int = 0) -> Path:
    """A word2vec binary of random unit vectors for ``words`` (the smoke profile's stand-in for
    GoogleNews, read by the paper profile's :func:`repro.retrieval.text.read_word2vec`)."""
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((len(words), dim)).astype("<f4")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    with open(path, "wb") as f:
        f.write(f"{len(words)} {dim}\n".encode())
        for w, v in zip(words, vecs):
            f.write(w.encode("utf-8") + b" " + v.tobytes() + b"\n")
    return Path(path)
