"""Official TSM checkpoints (mit-han-lab/temporal-shift-module) -> our TSN ResNet.

The file is ``torch.save({'epoch', 'arch', 'state_dict', 'optimizer', 'best_prec1'})`` of a
``DataParallel`` model: keys ``module.base_model.<torchvision ResNet>``, the residual shift
wrapping each block's conv1 (``conv1.net.weight``), the classifier ``module.new_fc`` (dropout >
0; ``base_model.fc`` with dropout 0). With ``--non_local`` a wrapped block keeps its layers under
``.block.`` and its NL under ``.nl.``: theta, g and phi (the last two followed by a max-pool, hence
``.0.``), W = conv + BN. Our names: ``repro.models.resnet`` (torchvision's) and NonLocal's
``theta/phi/g/out.conv/out.bn`` under the block's ``post.module.``.
"""
from __future__ import annotations

import re

from repro.errors import CheckpointError
from repro.convert.match import Move, Target, as_tensor, rename

NAME = "tsm"
ARCHS = ("tsn",)
# ops/non_local.py: softmax of the plain dot products, g and phi max-pooled after their convs.
NONLOCAL = {"scaled": False, "pool_input": False}
BLOCK = r"^(layer\d+\.\d+)\."
RULES = [
    (r"^base_model\.", ""),
    (r"^new_fc\.", "fc."),
    (BLOCK + r"block\.", r"\1."),                      # NL3DWrapper: the wrapped bottleneck
    (BLOCK + r"conv1\.net\.", r"\1.conv1."),           # the shift has no weights of its own
    (BLOCK + r"nl\.(g|phi)\.0\.", r"\1.post.module.\2."),
    (BLOCK + r"nl\.theta\.", r"\1.post.module.theta."),
    (BLOCK + r"nl\.W\.0\.", r"\1.post.module.out.conv."),
    (BLOCK + r"nl\.W\.1\.", r"\1.post.module.out.bn."),
]


def claims(keys: list[str]) -> bool:
    """TSM's layout: ``base_model.`` trunk, torchvision names (RSA's shares the prefix; it is
    tried first)."""
    return any(k.startswith("base_model.") for k in keys) and "base_model.conv1.weight" in keys


def shift(keys: list[str]) -> bool:
    return any(".conv1.net." in k for k in keys)


def moves(state: dict, target: Target) -> list[Move]:
    if any(re.match(BLOCK + r"net\.", k.removeprefix("base_model.")) for k in state):
        raise CheckpointError(
            "TSM checkpoint was trained with shift_place 'block' (the shift wraps the whole block, "
            "identity path included); our TSM shifts the residual branch only ('blockres'), so "
            "this file would compute another function. Use a blockres checkpoint.")
    return [Move(k, rename(k, RULES), as_tensor(v)) for k, v in state.items()]
