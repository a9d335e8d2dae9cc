"""Real-dataset adapters (SSv1, Kinetics-400, file lists), smoke layouts, roots and the smoke profile.

Every adapter reads files the project generates in the real format (repro/data/smoke.py), in a
temporary cache, so no dataset and no network are needed.
"""
from __future__ import annotations

import csv
import re
import shutil
import warnings

import numpy as np
import pytest

from repro.data import filelist, kinetics, smoke, ssv1, ssv2
from repro.data.registry import build_datasets, dataset_root, prepare
from repro.data.ssv2 import DatasetError
from repro.data.synthetic import CLASSES, Difficulty, render
from repro.data.video import DecodeError, decode


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("smoke-cache")


@pytest.fixture(scope="module")
def roots(cache):
    return {layout: smoke.ensure_layout(layout, cache) for layout in smoke.layouts()}


@pytest.fixture(autouse=True)
def _no_user_roots(monkeypatch, tmp_path):
    """Keep the user's REPRO_*_ROOT variables and repro.yaml files out of these tests."""
    for name in ("SSV1", "SSV2", "K400", "DIVING48", "GYM99", "GYM288"):
        monkeypatch.delenv(f"REPRO_{name}_ROOT", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


N = len(CLASSES)


def test_smoke_layouts_are_cached(roots, cache):
    for layout, root in roots.items():
        assert root == cache / "smoke" / layout and (root / "DONE").is_file()
        mtime = (root / "DONE").stat().st_mtime_ns
        assert smoke.ensure_layout(layout, cache) == root
        assert (root / "DONE").stat().st_mtime_ns == mtime  # not rewritten


def test_ssv2_smoke_layout(roots):
    root = roots["ssv2"]
    ssv2.check_root(root)
    train, val = ssv2.read_split(root, "train"), ssv2.read_split(root, "val")
    assert len(train) == 2 * N and len(val) == N
    assert sorted(r.label for r in val) == list(range(N))
    assert all(r.path.suffix == ".webm" and r.path.is_file() for r in train + val)


def test_ssv1_layout_and_both_label_orders(roots):
    root = roots["ssv1"]
    ssv1.check_root(root)
    names = ssv1.read_classes(root)
    assert names == smoke.class_names() and names != sorted(names)
    first = (root / ssv1.SPLIT_FILES["train"]).read_text().splitlines()[0]
    assert first == f"1;{names[0]}"  # '<id>;<class name>'
    alpha, file_ = ssv1.read_split(root, "val", "alphabetical"), ssv1.read_split(root, "val", "file")
    assert len(ssv1.read_split(root, "train")) == 2 * N and len(alpha) == N
    assert [r.path for r in alpha] == [r.path for r in file_]
    assert [r.label for r in alpha] != [r.label for r in file_]  # not interchangeable
    for a, f in zip(alpha, file_):
        assert a.label == sorted(names).index(names[f.label])
        assert a.path.is_dir() and (a.path / "00001.jpg").is_file()
    with pytest.raises(DatasetError, match="label_order"):
        ssv1.read_split(root, "val", "mmaction")


def test_ssv1_flip_swap_translated_by_name(roots):
    root = roots["ssv1"]
    names = ssv1.read_classes(root)
    # The map of docs/facts.md section 8 is in file order; with 15 classes only the 2<->4 pair
    # exists here.
    assert ssv1.flip_swap(root, "file") == {2: 4, 4: 2}
    a, b = sorted(names).index(names[2]), sorted(names).index(names[4])
    assert ssv1.flip_swap(root, "alphabetical") == {a: b, b: a}


def test_frame_folder_decoding(roots):
    rec = ssv1.read_split(roots["ssv1"], "train")[0]  # class 0, rng [seed, split, class, j] = 0
    frames = ssv1.decode_frames(rec.path)
    expect, _ = render(CLASSES[0], np.random.default_rng([0, 0, 0, 0]), Difficulty())
    assert frames.shape == expect.shape == (24, 64, 64, 3) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - expect.astype(int)).mean() < 4  # JPEG q95 loss
    picked = ssv1.decode_frames(rec.path, lambda n: np.array([0, n - 1]))
    assert np.array_equal(picked, frames[[0, -1]])
    assert decode(rec.path).shape == frames.shape  # video.decode dispatches folders here


def test_frame_folder_errors_name_the_path(tmp_path):
    with pytest.raises(DecodeError, match=re.escape(str(tmp_path / "nope"))):
        ssv1.decode_frames(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DecodeError, match="no numbered .jpg"):
        ssv1.decode_frames(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "00001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DecodeError, match="00001.jpg"):
        ssv1.decode_frames(tmp_path / "bad")


def test_frame_folders_through_clip_dataset(roots):
    """Frame-folder records go through the dataset as they are (video.decode dispatches them)."""
    import repro.data.dataset as ds
    from repro.data.transforms import ClipTransform

    recs = ssv1.read_split(roots["ssv1"], "val")
    clip = ds.VideoClipDataset(recs, 8, ClipTransform(32, 28, False), False)[0]
    assert tuple(clip.video.shape) == (3, 8, 28, 28) and clip.label == recs[0].label


def test_kinetics_layout(roots):
    root = roots["k400"]
    kinetics.check_root(root)
    with open(root / "annotations" / "train.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[:5] == ["label", "youtube_id", "time_start", "time_end", "split"]
    classes = kinetics.read_classes(root)
    assert classes == sorted(classes) and len(classes) == N
    train, val = kinetics.read_split(root, "train"), kinetics.read_split(root, "val")
    assert len(train) == 2 * N and len(val) == N
    for r in train + val:
        assert r.path.is_file() and r.path.suffix == ".mp4" and r.path.stem == r.video_id
        yt, start, end = r.video_id.rsplit("_", 2)
        assert len(start) == len(end) == 6
    lab = {r.video_id: r.label for r in val}
    with open(root / "annotations" / "val.csv", newline="") as f:
        for row in csv.DictReader(f):
            stem = kinetics.clip_name(row["youtube_id"], row["time_start"], row["time_end"])
            assert lab[stem] == classes.index(row["label"])
    assert decode(val[0].path).shape == (24, 64, 64, 3)  # H.264 mp4 through decord


def test_kinetics_missing_clips_warn_once_with_count(roots, tmp_path):
    src = roots["k400"]
    root = tmp_path / "k400"
    shutil.copytree(src / "annotations", root / "annotations")
    # class-folder layout (train/<class>/<clip>.mp4) also works: the split folder is indexed.
    for split in ("train", "val"):
        for p in (src / split).iterdir():
            dest = root / split / "someclass" / p.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(p)
    with open(root / "annotations" / "val.csv", "a", newline="") as f:
        w = csv.writer(f)
        label = kinetics.read_classes(src)[0]
        w.writerow([label, "gone0000001", 5, 15, "val"])
        w.writerow([label, "gone0000002", 5, 15, "val"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = kinetics.read_split(root, "val")
    assert len(recs) == N
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and f"2 of {N + 2} clips" in msgs[0]
    # every clip gone: a wrong root, not a few takedowns
    shutil.rmtree(root / "val")
    (root / "val").mkdir()
    with pytest.raises(DatasetError, match=f"none of the {N + 2} clips"):
        kinetics.read_split(root, "val")


def test_filelist_layout_and_lines(roots, tmp_path):
    root = roots["filelist"]
    filelist.check_root(root)
    train, val = filelist.read_split(root, "train", 48), filelist.read_split(root, "val", 48)
    assert len(train) == 2 * N and sorted(r.label for r in val) == list(range(N))
    assert all(r.path.is_file() and r.num_frames == 24 for r in train + val)
    assert decode(val[0].path).shape == (24, 64, 64, 3)
    # frame folders and paths with spaces are allowed; the last two fields are split off
    (tmp_path / "train_list.txt").write_text("frames/a b 30 7\n/abs/clip.mp4 12 0\n")
    recs = filelist.read_split(tmp_path, "train", 48)
    assert recs[0].path == tmp_path / "frames/a b" and recs[0].num_frames == 30 and recs[0].label == 7
    assert str(recs[1].path) == "/abs/clip.mp4"
    (tmp_path / "val_list.txt").write_text("x.mp4 10 48\n")
    with pytest.raises(DatasetError, match=r"val_list.txt:1: label 48"):
        filelist.read_split(tmp_path, "val", 48)
    (tmp_path / "val_list.txt").write_text("x.mp4 ten 4\n")
    with pytest.raises(DatasetError, match="path> <num_frames> <label>"):
        filelist.read_split(tmp_path, "val", 48)


@pytest.mark.parametrize("module,needs", [
    (ssv1, ssv1.FRAME_DIR), (ssv2, ssv2.VIDEO_DIR), (kinetics, "annotations/train.csv"),
    (filelist, "train_list.txt")])
def test_bad_roots_name_the_path(module, needs, tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(DatasetError, match=f"{re.escape(str(missing))}.*does not exist") as e:
        module.check_root(missing)
    assert "--data-root" in str(e.value)  # says how to point at it
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=needs):
        module.check_root(tmp_path / "empty")


def test_ssv1_root_without_csvs_names_the_file(roots, tmp_path):
    root = tmp_path / "v1"
    (root / ssv1.FRAME_DIR).mkdir(parents=True)
    with pytest.raises(DatasetError, match=f"{re.escape(str(root))}.*something-something-v1-labels.csv"):
        ssv1.check_root(root)
    with pytest.raises(DatasetError, match=re.escape(str(root / ssv1.LABELS_FILE))):
        ssv1.read_split(root, "train")


def test_root_precedence(tmp_path, monkeypatch):
    xdg, cwd = tmp_path / "xdg", tmp_path  # the autouse fixture chdirs to tmp_path
    assert dataset_root("ssv1") is None
    xdg.mkdir(exist_ok=True)
    (xdg / "repro.yaml").write_text("data_roots: {ssv1: /from/home, k400: rel/k400}\n")
    assert dataset_root("ssv1") == tmp_path.joinpath("/from/home")
    assert dataset_root("k400") == xdg / "rel/k400"  # relative to the config file
    (cwd / "repro.yaml").write_text("data_roots: {ssv1: /from/cwd}\n")
    assert str(dataset_root("ssv1")) == "/from/cwd"
    assert dataset_root("k400") == xdg / "rel/k400"  # falls through to the next file
    monkeypatch.setenv("REPRO_SSV1_ROOT", "/from/env")
    assert str(dataset_root("ssv1")) == "/from/env"
    assert str(dataset_root("ssv1", {"ssv1": "/from/cli"})) == "/from/cli"
    (cwd / "repro.yaml").write_text("data_roots: [oops]\n")
    with pytest.raises(DatasetError, match="repro.yaml: data_roots must be a mapping"):
        dataset_root("k400")


def test_smoke_profile_resolves_to_paper_pipeline():
    from repro.config.loader import load_spec, resolve

    cfg = resolve(load_spec("ssa_table2"), "ssa", "smoke")
    bb = cfg["model"]["backbone"]
    assert bb["depth"] == 50 and bb["layers"] == [3, 4, 6, 3] and bb["pretrained"] == "none"
    assert cfg["data"]["crop"] == 224 and cfg["data"]["resize"] == [256, 256]
    assert cfg["data"]["dataset"] == "ssv2" and cfg["data"]["smoke"] is True
    assert cfg["train"]["max_iters"] == 2 and cfg["train"]["batch_size"] == 2
    assert cfg["train"]["nesterov"] is True and cfg["meta"]["recipe"] == "ssan_ss"


@pytest.mark.parametrize("table,dataset,layout", [
    ("ssa_table2", "ssv2", "ssv2"), ("ssa_table1", "ssv1", "ssv1"), ("ssa_table4", "k400", "k400")])
def test_prepare_serves_smoke_layout(table, dataset, layout, cache, roots):
    from repro.config.loader import load_spec, resolve

    spec = load_spec(table)
    cfg = resolve(spec, next(r.id for r in spec.rows if r.built), "smoke")
    root, info = prepare(cfg, None, cache, progress=False)
    assert cfg["data"]["dataset"] == dataset and root == roots[layout] and len(info["flip_swap"]) == 2
    train, val = build_datasets(cfg, root, info)
    assert len(train) == 2 * N and len(val) == N
    assert all(r.path.exists() for r in train.records + val.records)


def test_prepare_real_roots(roots):
    cfg = {"data": {"dataset": "ssv1", "label_order": "file"}, "model": {}, "train": {}}
    root, info = prepare(cfg, {"ssv1": str(roots["ssv1"])})
    assert root == roots["ssv1"] and info["flip_swap"] == {2: 4, 4: 2}
    root, info = prepare({"data": {"dataset": "k400"}}, {"k400": str(roots["k400"])})
    assert info["flip_swap"] == {}  # Kinetics: flip freely, no swap
    root, info = prepare({"data": {"dataset": "ssv2"}}, {"ssv2": str(roots["ssv2"])})
    assert info["flip_swap"][86] == 87
    with pytest.raises(DatasetError, match="--data-root diving48="):
        prepare({"data": {"dataset": "diving48"}})
    with pytest.raises(DatasetError, match="REPRO_SSV1_ROOT"):
        prepare({"data": {"dataset": "ssv1"}})
