"""Official RSA checkpoints (KimManjin/RSA) -> our TSN ResNet with RSA in place of conv2.

The file is ``torch.save({'epoch', 'arch', 'state_dict', 'best_prec1'})`` of a ``DataParallel``
TSN (``module.`` prefix). Its ResNet-50 (``ops/ResNet.py``) is built from Conv3d with a temporal
kernel of 1 (``(out, in, 1, k, k)``) where ours has Conv2d, and its classifier ``new_fc`` is a
Conv1d ``(K, C, 1)``; both hold the same numbers as ours, only with unit dimensions. RSA's own
names (``ops/rsa.py``) -> ours (``repro.models.rsa``): projection -> proj, H1 -> key_relation,
P1 ``(1, dk, D)`` -> basic_kernel ``(dk, D)``, H2 -> value_embed, G -> value_mix,
I ``(1, dv, dv)`` -> mix_identity ``(dv, dv)``, under the block's ``conv2.module.``.
"""
from __future__ import annotations

from repro.convert.match import Move, Target, as_tensor, fit_unit_dims, rename

NAME = "rsa"
ARCHS = ("tsn",)
RSA_NAMES = {"projection": "proj", "H1": "key_relation", "P1": "basic_kernel", "H2": "value_embed",
             "G": "value_mix", "I": "mix_identity"}
RULES = [
    (r"^base_model\.", ""),
    (r"^new_fc\.", "fc."),
    (r"^fc1\.", "fc."),  # dropout 0: the ResNet's own Conv1d classifier
    (r"^(layer\d+\.\d+)\.conv2\.(projection|H1|P1|H2|G|I)\b",
     lambda m: f"{m.group(1)}.conv2.module.{RSA_NAMES[m.group(2)]}"),
]


def claims(keys: list[str]) -> bool:
    """RSA's layout: TSM's ``base_model.`` prefix with RSA modules (``conv2.projection``)."""
    return any(k.startswith("base_model.") and ".conv2.projection." in k for k in keys)


def shift(keys: list[str]) -> bool:
    return False


def moves(state: dict, target: Target) -> list[Move]:
    out = []
    for k, v in state.items():
        ours = rename(k, RULES)
        shape = target.shapes.get(ours, (None,))[0]
        out.append(Move(k, ours, fit_unit_dims(as_tensor(v), shape)))
    return out
