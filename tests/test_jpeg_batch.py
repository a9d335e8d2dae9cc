"""The GPU decode path (data.decode=gpu) on CPU: workers read JPEG bytes and plan the crops, the
device decodes, cuts and resizes. Without CUDA it must give exactly the CPU path's clips, with
the same crops drawn; the float resize CUDA uses stays within one level of the uint8 kernel."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from repro.data import smoke
from repro.data.dataset import VideoClipDataset, collate_clips
from repro.data.frames import frame_files
from repro.data.jpeg_batch import JpegClip, decode_batch, jpeg_size, on_device
from repro.data.transforms import ClipTransform, cut_and_resize

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


class Rec:
    def __init__(self, path: Path, label: int) -> None:
        self.path, self.label = path, label


@pytest.fixture(scope="module")
def folders() -> list[Path]:
    """The smoke SSv1 copy's frame folders (100-pixel JPEGs) and the SSv2 copy's prepared ones."""
    v1 = smoke.ensure_layout("ssv1", REPO / ".cache")
    v2 = smoke.ensure_layout("ssv2", REPO / ".cache")
    pick = lambda root: sorted(p for p in root.rglob("*") if p.is_dir() and frame_files(p))[:6]  # noqa: E731
    return pick(v1) + pick(v2 / "20bn-something-something-v2-frames")


def _pair(folders, transform, train, clips=1):
    recs = [Rec(f, k % 3) for k, f in enumerate(folders)]
    kw = {"sampling": "tsn", "clips": clips}
    return (VideoClipDataset(recs, 8, transform, train, seed=3, **kw),
            VideoClipDataset(recs, 8, transform, train, seed=3, jpeg=True, **kw))


@pytest.mark.parametrize("transform, train, clips", [
    (ClipTransform(64, 56, True, crop_mode="multiscale", flip_swap={0: 1, 1: 0}), True, 1),
    (ClipTransform(64, 56, True, crop_mode="jitter", jitter=[56, 80], flip_swap={}, flip_keep=[2]), True, 1),
    (ClipTransform(64, 56, False, crops=3), False, 2),
])
def test_without_cuda_the_gpu_path_gives_the_cpu_paths_clips(folders, transform, train, clips):
    cpu, jpeg = _pair(folders, transform, train, clips)
    for epoch in (0, 1):
        cpu.set_epoch(epoch), jpeg.set_epoch(epoch)
        for i in range(len(folders)):
            a, b = cpu[i], jpeg[i]
            assert isinstance(b, JpegClip) and a.label == b.label and a.index == b.index
            assert torch.equal(decode_batch([b], CPU)[0], a.video), (epoch, i)


def test_a_loader_batch_decoded_on_the_device_equals_the_cpu_batch(folders):
    t = ClipTransform(64, 56, True, crop_mode="multiscale", flip_swap={0: 1})
    cpu, jpeg = _pair(folders, t, True)
    loaders = [torch.utils.data.DataLoader(d, batch_size=4, collate_fn=collate_clips) for d in (cpu, jpeg)]
    for a, b in zip(*loaders):
        b = on_device(b, CPU)
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["label"], b["label"])
        assert torch.equal(a["index"], b["index"]) and a["bad"] == b["bad"] == 0


def test_a_clip_whose_jpeg_does_not_decode_is_a_bad_video_and_the_rest_stay(folders, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(folders[0], broken)
    for f in frame_files(broken):
        f.write_bytes(f.read_bytes()[:300])  # the header survives, the image data does not
    t = ClipTransform(64, 56, False)
    ds = VideoClipDataset([Rec(broken, 0), Rec(folders[1], 1)], 8, t, False, jpeg=True)
    b = on_device(collate_clips([ds[0], ds[1]]), CPU)
    assert b["bad"] == 1 and len(b["bad_videos"]) == 1 and b["video"].shape[0] == 1 and b["label"].tolist() == [1]


def test_frame_size_is_read_from_the_jpeg_header(folders):
    for f in frame_files(folders[0])[:2] + frame_files(folders[-1])[:2]:
        w, h = Image.open(f).size
        assert jpeg_size(f.read_bytes(), f) == (h, w)


def test_the_float_resize_cuda_uses_is_within_one_level_of_the_uint8_kernel():
    """On CUDA the antialiased bilinear kernel takes floats: cut_and_resize rounds it once."""
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (8, 100, 133, 3), dtype=np.uint8)).permute(0, 3, 1, 2)
    box = (5, 7, 90, 120)
    uint8 = cut_and_resize(x, box, (56, 56))
    v = x[..., 5:95, 7:127].float()
    floats = F.interpolate(v, size=(56, 56), mode="bilinear", align_corners=False, antialias=True)
    floats = floats.round().clamp(0, 255).to(torch.uint8)
    assert (uint8.int() - floats.int()).abs().max() <= 1


def test_gpu_decode_of_a_video_file_dataset_says_what_to_set(tmp_path):
    from repro.config.loader import load_spec, resolve
    from repro.data.registry import build_datasets
    from repro.errors import DatasetError

    root = smoke.ensure_layout("ssv2", REPO / ".cache")
    cfg = resolve(load_spec("gta_table1"), "tsm_8f", "paper", {"data": {"decode": "gpu"}})
    with pytest.raises(DatasetError, match="data.prepared=true"):
        build_datasets(cfg, root, {})
    cfg = resolve(load_spec("gta_table1"), "tsm_8f", "paper", {"data": {"decode": "gpu", "prepared": True}})
    train, val = build_datasets(cfg, root, {})
    assert train.jpeg and val.jpeg and isinstance(train[0], JpegClip)
