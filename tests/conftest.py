"""Shared fixtures: a tiny generated dataset in the real SSv2 format, in a temporary cache."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    from repro.data.synthetic import SyntheticConfig, ensure_dataset

    cache = tmp_path_factory.mktemp("cache")
    return ensure_dataset(SyntheticConfig(train_per_class=2, val_per_class=1), cache, progress=False)
