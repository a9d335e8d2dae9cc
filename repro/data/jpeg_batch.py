"""The GPU decode path (``data.decode: gpu``): loader workers read a clip's JPEG files and draw its
crop; the device decodes the whole batch at once and cuts and resizes there.

A worker's item is a :class:`JpegClip`: the bytes of the frames the sampler picked, and the boxes
and flips of :meth:`repro.data.transforms.ClipTransform.plan`, drawn from the same random stream
the CPU path draws from. So a clip is the same clip on either path. :func:`decode_batch` turns a
batch of them into the ``(B, 3, T, crop, crop)`` uint8 tensor that the CPU path's collate would
have made. It decodes with ``torchvision.io.decode_jpeg`` (nvJPEG on CUDA, batched), then cuts,
resizes and flips with :func:`repro.data.transforms.apply_cuts`.

On CUDA the resize runs in float and is rounded once: at most one level from the CPU path's
uint8 kernel. Without CUDA everything runs on the CPU, with the CPU path's kernel: identical to
it (tests/test_jpeg_batch.py). Frame-folder records only (prepared SSv2 frames, SSv1).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from repro.data.frames import checked_frame_files
from repro.data.transforms import Box, apply_cuts, stack_clips
from repro.errors import DecodeError


@dataclass(frozen=True)
class JpegClip:
    """One video's picked frames as JPEG bytes, split into ``len(plans)`` clips of equal length;
    each clip's plan is ``(cuts, flips)`` for a ``crop``-pixel output."""

    jpeg: list[bytes]  # bytes, not tensors: a worker sends a tensor through shared memory, one file each
    plans: list[tuple[list[Box], list[bool]]]
    crop: int
    label: int
    index: int


def read_picked(folder: Path, pick) -> tuple[list[bytes], tuple[int, int]]:
    """The bytes of the frames ``pick(num_frames)`` chooses, and the frames' ``(H, W)`` from the
    first one's header; the folder checks of :func:`repro.data.frames.decode_frames`."""
    files = checked_frame_files(Path(folder))
    data = []
    for i in pick(len(files)):
        try:
            data.append(files[int(i)].read_bytes())
        except OSError as e:
            raise DecodeError(f"cannot read frame {files[int(i)]}: {e}") from e
    return data, jpeg_size(data[0], files[0])


def jpeg_size(data: bytes, name: Path | str = "JPEG") -> tuple[int, int]:
    """``(height, width)`` from a JPEG's start-of-frame marker, without decoding it."""
    b = data[:65536]
    if b[:2] != b"\xff\xd8":
        raise DecodeError(f"{name} is not a JPEG")
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            i += 1
            continue
        marker = b[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(b[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
            return int.from_bytes(b[i + 5:i + 7], "big"), int.from_bytes(b[i + 7:i + 9], "big")
        i += 2 + length
    raise DecodeError(f"{name}: no frame header found (truncated JPEG?)")


def decode_batch(clips: list[JpegClip], device: torch.device) -> torch.Tensor:
    """A batch of :class:`JpegClip` -> ``(B, 3, T, crop, crop)`` (or ``(B, V, ...)`` for V views)
    uint8 on ``device``: every JPEG of the batch decoded in one call, then cut per clip."""
    from torchvision.io import ImageReadMode, decode_jpeg

    flat = [torch.frombuffer(bytearray(t), dtype=torch.uint8) for c in clips for t in c.jpeg]
    try:
        frames = decode_jpeg(flat, mode=ImageReadMode.RGB, device=device)
    except RuntimeError as e:  # one corrupt file fails the whole call: name it
        raise DecodeError(f"a JPEG of this batch does not decode ({str(e).strip().splitlines()[0]})") from e
    out, k = [], 0
    for c in clips:
        x = torch.stack(frames[k:k + len(c.jpeg)])  # (T * clips, 3, H, W)
        k += len(c.jpeg)
        parts = x.chunk(len(c.plans))
        views = [apply_cuts(part, cuts, flips, c.crop) for part, (cuts, flips) in zip(parts, c.plans)]
        if len(views) == 1:
            out.append(views[0])
        else:  # clip-major, as the CPU path stacks its views
            out.append(stack_clips([u for v in views for u in (v if v.dim() == 5 else v[None])]))
    return stack_clips(out)


def on_device(batch: dict, device: torch.device) -> dict:
    """A collated batch with its ``jpeg`` clips decoded on ``device`` into ``video`` (any other
    batch is returned as it is). A clip whose JPEGs do not decode is counted and named as an
    unreadable video, like one the CPU path could not read."""
    if "jpeg" not in batch:
        return batch
    clips, out = batch["jpeg"], {k: v for k, v in batch.items() if k != "jpeg"}
    try:
        video, good = decode_batch(clips, device), clips
    except DecodeError:  # find the culprit(s) clip by clip
        good, parts = [], []
        for c in clips:
            try:
                parts.append(decode_batch([c], device))
                good.append(c)
            except DecodeError as e:
                out["bad"] += 1
                out["bad_videos"] = [*out["bad_videos"], f"video {c.index}: {e}"]
        video = torch.cat(parts) if parts else None
    if video is None:
        return {k: v for k, v in out.items() if k not in ("label", "index")}
    keep = torch.tensor([c.index for c in good])
    return {**out, "video": video, "label": torch.tensor([c.label for c in good]), "index": keep}
