"""This process's place in a torchrun group, read from the environment: free of torch, so that
the command line knows whether it runs under torchrun before it imports anything heavy."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def env_world() -> DistInfo:
    """Rank, world size and local rank from the torchrun environment (one process without it)."""
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))


def say(*a, **kw) -> None:
    """print on rank 0 only: N processes would print every line N times."""
    if env_world().is_main:
        print(*a, **kw)
