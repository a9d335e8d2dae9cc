"""Errors that the command line prints as one clear message instead of a traceback.

They live here, free of heavy imports, so that the CLI can catch them without importing torch.
"""
from __future__ import annotations


class TrainingError(RuntimeError):
    """A run that cannot go on (e.g. a NaN loss); the message names the step and checkpoint."""


class WeightsError(RuntimeError):
    """ImageNet weights requested but not available; the message says how to provide them."""


class UsageError(RuntimeError):
    """Bad command-line input (a flag or its value); the message names the flag."""


class ModuleError(TrainingError):
    """A video module (often the user's own) raised or changed the shape; names module and place."""


class EnsembleError(RuntimeError):
    """Member scores missing, stale or for other videos; the message says which and what to do."""
