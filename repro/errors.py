"""Every error the harness raises on purpose: one hierarchy under :class:`ReproError`.

An entry point catches ``ReproError`` and prints its message as one line per problem with exit
code 2 (bad input) instead of a traceback. They live here, free of heavy imports, so that the
command line can catch them without importing torch. Each also derives from the builtin its
callers caught before the hierarchy existed (ValueError, RuntimeError).
"""
from __future__ import annotations

from pathlib import Path


class ReproError(Exception):
    """Base of every error that is the user's input or environment, not a bug of the harness."""


class SpecError(ReproError, ValueError):
    """A spec, recipe or profile file that cannot be used; the message names file and key path."""

    def __init__(self, path: Path | str, problems: list[str], origins: list[str] | None = None) -> None:
        self.path, self.problems = str(path), problems
        # One line per problem, each naming the file (or flag) that set the value, and the key.
        where = origins or [str(path)] * len(problems)
        super().__init__("\n".join(f"{w}: {p}" for w, p in zip(where, problems)))


class UsageError(ReproError, RuntimeError):
    """Bad command-line input (a flag or its value); the message names the flag."""


class DatasetError(ReproError, RuntimeError):
    """A dataset root, annotation file or video that cannot be used; the message says what to do."""


class DecodeError(ReproError, RuntimeError):
    """A video that is missing, truncated or undecodable; the message names the file."""


class TrainingError(ReproError, RuntimeError):
    """A run that cannot go on (e.g. a NaN loss); the message names the step and checkpoint."""


class ModuleError(TrainingError):
    """A video module (often the user's own) raised or changed the shape; names module and place."""


class WeightsError(ReproError, RuntimeError):
    """ImageNet weights requested but not available; the message says how to provide them."""


class CheckpointError(WeightsError):
    """A checkpoint that does not convert to a row; the message lists the keys and their shapes."""


class EnsembleError(ReproError, RuntimeError):
    """Member scores missing, stale or for other videos; the message says which and what to do."""


class LaunchError(ReproError, RuntimeError):
    """Bad launcher input or a missing tool (repro.launch)."""


class ProbeUsageError(UsageError, ValueError):
    """Bad arguments of the probe command (repro.probe)."""


class Preempted(Exception):
    """Not an error: the run stopped at a step checkpoint on the cluster's warning signal; the
    same command resumes it. Kept out of :class:`ReproError`, which means bad input."""


class DiskFull(Exception):
    """No space left where the harness writes: names the folder and the bytes it needed. Not bad
    input (exit code 1, not 2); the file being written is left as it was, and finished work stays."""

    def __init__(self, folder: Path | str, need: int | None, free: int | None = None) -> None:
        self.folder, self.need, self.free = str(folder), need, free
        want = f"{_size(need)} needed" if need else "more space needed"
        have = f", {_size(free)} free" if free is not None else ""
        super().__init__(f"no space left on the device of {folder} ({want}{have}); free space there or point the "
                         "run elsewhere (--results-dir, --reports-dir, --runs-dir, --cache-dir), then re-run: "
                         "finished work is kept")

    def __reduce__(self):  # crosses process boundaries (a --jobs or prepare worker) intact
        return DiskFull, (self.folder, self.need, self.free)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
