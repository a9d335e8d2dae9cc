"""Atomic file writes, and a full disk as one error.

Every file the harness writes for a user (results, scores, checkpoints, reports, cache state)
goes through :func:`write_atomic`: the bytes are made first, the free space is checked, then
they go to a temp file in the same folder (a unique name: several ``--jobs`` workers may write
the same file), are fsynced and renamed. A kill leaves the old file or the new one; a full disk
(ENOSPC) leaves neither a partial nor a 0-byte file and raises :class:`repro.errors.DiskFull`,
naming the folder and the bytes needed.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
from pathlib import Path

from repro.errors import DiskFull


def free_bytes(folder: Path) -> int | None:
    """Free bytes on ``folder``'s device (its nearest existing parent), or None if unknown."""
    p = Path(folder)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def check_space(folder: Path, need: int) -> None:
    """DiskFull before a long write of ``need`` bytes under ``folder`` that would not fit."""
    free = free_bytes(folder)
    if free is not None and free < need:
        raise DiskFull(folder, need, free)


def write_atomic(path: Path, data: bytes | str, fsync: bool = True) -> None:
    """``data`` at ``path``, all of it or (killed, or the disk full) none of it."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_space(path.parent, len(raw))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if fsync:
            _fsync_dir(path.parent)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise DiskFull(path.parent, len(raw), free_bytes(path.parent)) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def reserve(path: Path, size: int) -> None:
    """Allocate ``size`` bytes of the file at ``path`` now, so that a memory map of it cannot
    meet a full disk later: that would be SIGBUS, which kills the process without a word."""
    check_space(path.parent, size)
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise DiskFull(path.parent, size, free_bytes(path.parent)) from None
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it: go on unreserved
            raise
    finally:
        os.close(fd)


def disk_full(e: OSError) -> DiskFull | None:
    """The one-line error for an ENOSPC raised by a write that did not go through this module."""
    if e.errno != errno.ENOSPC:
        return None
    where = Path(e.filename).parent if e.filename else Path("the folder being written")
    return DiskFull(where, None, free_bytes(where) if e.filename else None)


_THREAD_FULL: list[DiskFull] = []


def watch_threads() -> None:
    """A full disk met by a background thread (TensorBoard's event writer) is kept for
    :func:`thread_disk_full` instead of printed as a traceback; other exceptions print as before."""
    previous = threading.excepthook

    def hook(args) -> None:
        full = disk_full(args.exc_value) if isinstance(args.exc_value, OSError) else None
        if full is None:
            previous(args)
        else:
            _THREAD_FULL.append(full)

    threading.excepthook = hook


def thread_disk_full() -> DiskFull | None:
    """The first full disk a background thread met since :func:`watch_threads`, if any."""
    return _THREAD_FULL[0] if _THREAD_FULL else None


def _fsync_dir(folder: Path) -> None:
    """The rename itself reaches the disk (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
