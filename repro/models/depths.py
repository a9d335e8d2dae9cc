"""Blocks per stage of the ResNet depths the backbones are built at: the one table of them.

Free of torch, so that specs can be resolved and checked (block indices against the stage
depths) without importing a model.
"""
from __future__ import annotations

# torchvision's layer1..layer4 are the papers' res2..res5.
STAGES = ("layer1", "layer2", "layer3", "layer4")
DEPTHS: dict[int, list[int]] = {
    26: [2, 2, 2, 2],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}
