"""``python -m repro.prepare DATASET --root PATH``: a dataset's videos as JPEG frame folders.

Writes the prepared form that a run reads with ``--set data.prepared=true``
(:mod:`repro.data.prepare`: frames as TSM extracts them, SSv2 at height 256 by
tools/vid2img_sthv2.py, Kinetics at height 331 by tools/vid2img_kinetics.py). One video per worker process (``--jobs``, default every core), a progress bar, and:

- resumable: a video whose folder exists is done; a killed run's temporary folders are removed;
- each video checked: it must decode to at least one frame; a failure is named in the summary
  (and in ``prepare-failures.txt`` beside the frames), and the others go on;
- the space needed is estimated from the first videos before the rest start, and a disk that
  cannot hold it stops the run there (exit code 1), as a full disk later does.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from repro.data.prepare import Prepared, extract_frames, remove_leftovers
from repro.data.registry import layout, prepared_datasets
from repro.errors import DiskFull, ReproError, UsageError
from repro.files import check_space, disk_full, free_bytes, write_atomic
from repro.progress import progress_bar

SAMPLE = 8  # videos prepared first, to estimate the space the rest need
FAILURES = "prepare-failures.txt"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m repro.prepare",
                                description="Turn a dataset's videos into the JPEG frame folders its reference "
                                            "pipeline trains from (read with --set data.prepared=true).")
    p.add_argument("dataset", help=f"dataset id ({', '.join(prepared_datasets())})")
    p.add_argument("--root", type=Path, required=True, help="the dataset's root, as --data-root gives it")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: every core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (a line a minute instead)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        return prepare(args.dataset, args.root, args.jobs, not args.no_progress)
    except DiskFull as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # ENOSPC in a worker comes back as the OSError it was
        full = disk_full(e)
        if full is None:
            raise
        print(f"error: {full}", file=sys.stderr)
        return 1
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished videos are kept, and the same command resumes", file=sys.stderr)
        return 130


def prepare(dataset: str, root: Path, jobs: int, progress: bool = True) -> int:
    """Prepare every video of ``dataset`` at ``root`` that has no frame folder yet."""
    if dataset not in prepared_datasets():
        raise UsageError(f"{dataset!r} has no prepared form; python -m repro.prepare knows "
                         f"{', '.join(prepared_datasets())}")
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: give at least 1")
    lay = layout(dataset)
    if lay.check_root is not None:
        lay.check_root(root)
    pairs = lay.prepare_jobs(Path(root))
    parents = sorted({f.parent for _, f, _ in pairs})
    frames_root = Path(os.path.commonpath(parents)) if parents else Path(root)
    stale = sum(remove_leftovers(p) for p in parents)
    todo = [(v, f, h) for v, f, h in pairs if not f.is_dir()]
    print(f"{dataset}: {len(pairs)} videos, {len(pairs) - len(todo)} already prepared, {len(todo)} to go"
          + (f"; removed {stale} unfinished folder(s) of a stopped run" if stale else "") + f" -> {frames_root}",
          flush=True)
    done: list[Prepared] = []
    bar = progress_bar(total=len(todo), desc="prepare", unit="video", enabled=progress, dynamic_ncols=True)
    with ProcessPoolExecutor(max(1, min(jobs, len(todo))), mp_context=mp.get_context("spawn")) as ex:
        first, rest = todo[:SAMPLE], todo[SAMPLE:]
        for r in ex.map(_one, first):
            done.append(r)
            bar.update(1)
        if rest:
            _check_room(done, len(rest), frames_root)
        for r in ex.map(_one, rest, chunksize=4):
            done.append(r)
            bar.update(1)
    bar.close()
    return _summary(dataset, done, frames_root)


def _one(job: tuple[Path, Path, int]) -> Prepared:
    return extract_frames(*job)


def _check_room(done: list[Prepared], left: int, frames_root: Path) -> None:
    """The rest's size, from the videos prepared so far, against the free space."""
    sizes = [r.bytes for r in done if r.frames]
    if not sizes:
        return
    need = int(sum(sizes) / len(sizes) * left * 1.1)  # 10% for file system overhead
    free = free_bytes(frames_root)
    print(f"estimated space for the other {left} videos: {need / 2**30:.2f} GiB"
          + (f" ({free / 2**30:.2f} GiB free)" if free is not None else ""), flush=True)
    check_space(frames_root, need)


def _summary(dataset: str, done: list[Prepared], frames_root: Path) -> int:
    ok = [r for r in done if r.frames]
    failed = [r for r in done if r.error]
    size = sum(r.bytes for r in ok)
    print(f"{dataset}: prepared {len(ok)} videos ({sum(r.frames for r in ok)} frames, {size / 2**30:.2f} GiB)"
          f"; {len(failed)} failed", flush=True)
    report = frames_root.parent / FAILURES
    if failed:
        write_atomic(report, "".join(f"{r.video}\t{r.error}\n" for r in failed), fsync=False)
        for r in failed[:10]:
            print(f"  failed: {r.video}: {r.error}", flush=True)
        print(f"  all {len(failed)} listed in {report}; a run counts them as unreadable videos", flush=True)
    elif report.is_file():
        report.unlink()  # from an earlier run: those videos are prepared now
    if failed and not ok:
        print(f"error: none of the {len(failed)} videos could be prepared: is {frames_root.parent} the "
              f"{dataset} root, and do its videos decode?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
