"""The post-filter networks (EDSR with SELU, no batch-norm, no upsampling) and their configs.

A model maps a decoded image to a restored one, both RGB in [0, 1], as N x 3 x H x W.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rcodec.errors import RcodecError
from rcodec.postfilter.jpeg_models import JPEG_ARCHITECTURES
from rcodec.postfilter.layers import ResidualBlock, conv, selu_init_
from rcodec.postfilter.layers import receptive_radius as _radius
from rcodec.postfilter.unet import LumaUNetSelu, UNetSelu

#: Scale of the residual branches and of the global shortcut (EDSR's res_scale).
RES_SCALE = 0.1


class EdsrSelu(nn.Module):
    """EDSR-style restoration net: head, B SELU residual blocks, body conv with a long skip,
    tail, and a global shortcut, output = input + 0.1 * tail(...).

    The head sees the input minus the training set's per-channel RGB mean (`rgb_mean`, a
    buffer saved with the weights); since the mean is added back, the net maps image to image.
    """

    def __init__(self, blocks: int, maps: int,
                 rgb_mean: Sequence[float] = (0.5, 0.5, 0.5)) -> None:
        super().__init__()
        if blocks < 0 or maps < 1:
            raise RcodecError(f"bad EdsrSelu size: {blocks} blocks x {maps} maps")
        self.blocks, self.maps = blocks, maps
        self.register_buffer("rgb_mean",
                             torch.tensor(list(rgb_mean), dtype=torch.float32).view(1, 3, 1, 1))
        self.head = conv(3, maps, 3)
        self.body = nn.Sequential(
            *(ResidualBlock(maps, nn.SELU(), RES_SCALE) for _ in range(blocks)), conv(maps, maps, 3)
        )
        self.tail = conv(maps, 3, 3)
        selu_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x - self.rgb_mean)
        features = features + self.body(features)
        # (x - mean) + 0.1 * tail + mean, written without the mean round trip.
        return x + RES_SCALE * self.tail(features)

    def receptive_radius(self) -> int:
        """Longest path: head, body (whose long skip is shorter), tail."""
        return _radius(self.head) + _radius(self.body) + _radius(self.tail)

    def widest(self) -> int:
        """Channels of the widest activation (for memory estimates)."""
        return self.maps


#: Named configurations: name -> (constructor, default keyword arguments).
ARCHITECTURES: dict[str, tuple[Callable[..., nn.Module], dict[str, Any]]] = {
    "edsr_selu": (EdsrSelu, {}),
    "A": (EdsrSelu, {"blocks": 32, "maps": 96}),  # 5,402,883 parameters
    "B": (EdsrSelu, {"blocks": 8, "maps": 96}),  # 1,416,963
    "C": (EdsrSelu, {"blocks": 32, "maps": 48}),  # 1,353,603
    "M": (EdsrSelu, {"blocks": 8, "maps": 48}),  # CPU-friendly, medium
    "S": (EdsrSelu, {"blocks": 4, "maps": 32}),  # CPU-friendly, small
    # Multi-scale (postfilter/unet.py): widths 32-64-128-192 at full, 1/2, 1/4, 1/8 size.
    "unet": (UNetSelu, {}),
    "UQ": (UNetSelu, {"conditioned": True}),  # told the QP: one net for a QP range
    # JPEG luma, told the quality: one net for qualities 10-60 (centred on 35).
    "UQY": (LumaUNetSelu, {"conditioned": True, "quantizer_centre": 35.0,
                           "quantizer_scale": 25.0}),
}
# The JPEG artifact-removal networks of the literature (postfilter/jpeg_models.py).
ARCHITECTURES.update(JPEG_ARCHITECTURES)


def build(arch: str, **config: Any) -> nn.Module:
    """A freshly initialised network of a named architecture; `config` overrides its defaults."""
    try:
        factory, defaults = ARCHITECTURES[arch]
    except KeyError:
        raise RcodecError(f"unknown post-filter architecture {arch!r} "
                          f"(known: {', '.join(ARCHITECTURES)})") from None
    try:
        return factory(**{**defaults, **config})
    except TypeError as error:
        raise RcodecError(f"bad configuration for architecture {arch!r}: {error}") from None


def input_kind(arch: str) -> str:
    """What a named architecture's input is: "rgb", "y" (luma) or "dct" (luma DCT
    coefficients); see postfilter/jpeg_models.py."""
    if arch not in ARCHITECTURES:
        build(arch)  # raises the usual unknown-architecture error
    return str(getattr(ARCHITECTURES[arch][0], "input_kind", "rgb"))


def revision(arch: str) -> int:
    """The implementation revision of a named architecture's forward pass: the same weights
    give the same pixels within one revision (1 unless the class says otherwise)."""
    if arch not in ARCHITECTURES:
        build(arch)  # raises the usual unknown-architecture error
    return int(getattr(ARCHITECTURES[arch][0], "revision", 1))


def accepts(arch: str, option: str) -> bool:
    """Whether a named architecture's constructor takes keyword `option` (e.g. rgb_mean)."""
    return option in inspect.signature(ARCHITECTURES[arch][0]).parameters


def receptive_radius(model: nn.Module) -> int:
    """Pixels each side that influence one output pixel: (k - 1) / 2 summed over the longest
    path of convolutions (l 3x3 convs give l), counted from the module structure."""
    return _radius(model)


def takes_quantizer(arch: str, config: Mapping[str, Any] | None = None) -> bool:
    """Whether a named architecture (with `config` over its defaults) is conditioned on the
    quantizer, without building it: such a network is only run inside its registered range,
    since the quantizer plane outside it is an input it never saw."""
    if arch not in ARCHITECTURES:
        build(arch)  # raises the usual unknown-architecture error
    return bool({**ARCHITECTURES[arch][1], **(config or {})}.get("conditioned", False))


def is_conditioned(model: nn.Module) -> bool:
    """Whether the network takes the quantizer as a second argument (postfilter/unet.py)."""
    return bool(getattr(model, "conditioned", False))


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters (buffers such as rgb_mean excluded)."""
    return sum(p.numel() for p in model.parameters())
