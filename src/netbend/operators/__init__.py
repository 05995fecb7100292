"""Operators: pure tensor functions that bend a latent or an activation.

Each operator is registered by name with its family, the shape of its audio-driven
parameter ``r``, the range audio features are mapped onto by default (the paper's ranges
where it states one), the value of ``r`` that leaves the input unchanged, and a one-line
description. The command line listing, the audio mapping and the documentation all read
this one table.

>>> from netbend import operators
>>> op = operators.get("rotate_r1")
>>> y = op(torch.randn(4, 64, 64), 1.2)                  # (4, 64, 64)
>>> y = op(torch.randn(8, 4, 64, 64), torch.rand(8))     # one angle per sample
>>> operators.get("reflect", channel=2)(x)               # no parameter
>>> bend = operators.parse("dilate:k=4 | normalize_mean:axis=0")
>>> bend = operators.get("rotate_r1") | operators.get("normalize_max")  # the same in Python

Families live in their own modules; importing this package registers them all.
"""

# registration, in the order `netbend ops` lists the families
from . import pointwise, tensor, morphological, motion, normalisation  # noqa: F401, I001
from .listing import describe
from .registry import (
    FAMILIES,
    Chain,
    Operator,
    OperatorSpec,
    get,
    names,
    parse,
    register,
    spec,
)
from .tensor import apply_channel_matrix, plane_rotation

__all__ = [
    "FAMILIES", "Chain", "Operator", "OperatorSpec", "apply_channel_matrix", "describe", "get", "names", "parse",
    "plane_rotation", "register", "spec",
]
