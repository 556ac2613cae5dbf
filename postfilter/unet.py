"""A multi-scale post-filter: a small U-Net of SELU residual blocks, optionally told the QP.

EDSR-style nets (postfilter/models.py) spend every multiply at full resolution, so their
receptive field grows by one pixel per convolution. Here each level halves the resolution
and may double the width: a 3x3 convolution at level k sees 2^k times further for the same
cost per input pixel, and the lower levels carry most of the parameters. HEVC's artefacts
(block edges up to 64 pixels apart, ringing, flattened texture) reach further than an
8-block EDSR sees, which is what the lower levels are for.

A conditioned net (`conditioned=True`) also takes the quantizer the image was coded at, as
one constant input plane (FFDNet's noise-level map): one network then serves a whole
quantizer range and knows how strong the coding was instead of guessing it from the pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rcodec.errors import RcodecError
from rcodec.postfilter.layers import ResidualBlock, conv, selu_init_
from rcodec.postfilter.layers import receptive_radius as _radius

#: Scale of the residual branches and of the output (as EdsrSelu's).
RES_SCALE = 0.1


class UNetSelu(nn.Module):
    """U-Net restoration net: level k works at 1 / 2^k resolution with widths[k] maps,
    blocks[k] SELU residual blocks on the way down and up_blocks[k] on the way up (every
    level but the lowest; by default as many as on the way down).

    Down: 2x2 convolution with stride 2; up: 2x2 transposed convolution with stride 2, added
    to the skip of the same level. Output = input + 0.1 * tail(features). Inputs of any size
    are padded (edge replicated) to a multiple of the total stride and cropped back.
    """

    input_kind = "rgb"
    #: Bumped whenever the same weights give other output pixels (2: Downsample), so that
    #: no sweep cache serves a measurement of the older output.
    revision = 2
    #: Output tile side for decoding (memory permitting; inference.decode_tile). The
    #: receptive-radius bound (146 pixels for the shipped widths) makes 512-pixel tiles
    #: compute 2.5x the image; tiles change no pixel of this net, so larger ones are free.
    preferred_tile = 1024

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 192),
                 blocks: Sequence[int] = (1, 2, 2, 4), conditioned: bool = False,
                 quantizer_centre: float = 40.0, quantizer_scale: float = 10.0,
                 rgb_mean: Sequence[float] | None = None,
                 up_blocks: Sequence[int] | None = None) -> None:
        super().__init__()
        channels = 1 if self.input_kind == "y" else 3
        rgb_mean = [0.5] * channels if rgb_mean is None else [float(m) for m in rgb_mean]
        if len(rgb_mean) != channels:
            raise RcodecError(f"rgb_mean needs {channels} values, got {len(rgb_mean)}")
        widths, blocks = [int(w) for w in widths], [int(b) for b in blocks]
        up_blocks = blocks[:-1] if up_blocks is None else [int(b) for b in up_blocks]
        if (len(widths) != len(blocks) or len(widths) < 1 or min(widths) < 1
                or min(blocks) < 0 or len(up_blocks) != len(blocks) - 1
                or min(up_blocks, default=0) < 0):
            raise RcodecError(f"bad UNetSelu size: widths {widths}, blocks {blocks}, "
                              f"up_blocks {up_blocks}")
        if quantizer_scale <= 0:
            raise RcodecError(f"quantizer_scale must be positive, got {quantizer_scale}")
        self.widths, self.blocks = widths, blocks
        self.conditioned = bool(conditioned)
        self.quantizer_centre, self.quantizer_scale = float(quantizer_centre), float(
            quantizer_scale)
        self.register_buffer("rgb_mean",
                             torch.tensor(rgb_mean, dtype=torch.float32).view(1, channels, 1, 1))
        self.head = conv(channels + self.conditioned, widths[0], 3)
        self.down_blocks = nn.ModuleList(_blocks(w, b) for w, b in zip(widths, blocks,
                                                                        strict=True))
        self.downs = nn.ModuleList(Downsample(a, b)
                                   for a, b in zip(widths, widths[1:], strict=False))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(b, a, 2, stride=2)
                                 for a, b in zip(widths, widths[1:], strict=False))
        self.up_blocks = nn.ModuleList(_blocks(w, b) for w, b in zip(widths[:-1], up_blocks,
                                                                      strict=True))
        self.tail = conv(widths[0], channels, 3)
        selu_init_(self)
        with torch.no_grad():  # LeCun normal for the transposed convs too (fan-in = in maps)
            for up in self.ups:
                nn.init.normal_(up.weight, 0.0, math.sqrt(1.0 / up.in_channels))
                nn.init.zeros_(up.bias)

    def forward(self, x: torch.Tensor, quantizer: torch.Tensor | float | None = None,
                ) -> torch.Tensor:
        height, width = x.shape[-2:]
        stride = self.alignment()
        pad_h, pad_w = -height % stride, -width % stride
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        features = self.head(self._net_input(padded, quantizer))
        skips = []
        for level, block in enumerate(self.down_blocks):
            features = block(features)
            if level < len(self.downs):
                skips.append(features)
                features = self.downs[level](features)
        for level in reversed(range(len(self.ups))):
            features = self.up_blocks[level](self.ups[level](features) + skips[level])
        out = padded + RES_SCALE * self.tail(features)
        return out[..., :height, :width]

    def _net_input(self, x: torch.Tensor, quantizer: torch.Tensor | float | None,
                   ) -> torch.Tensor:
        """x minus the RGB mean, plus the normalised quantizer plane for a conditioned net."""
        centred = x - self.rgb_mean
        if not self.conditioned:
            return centred
        if quantizer is None:
            raise RcodecError("this post-filter is conditioned on the quantizer: give it")
        q = torch.as_tensor(quantizer, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        plane = ((q - self.quantizer_centre) / self.quantizer_scale).expand(
            x.shape[0], 1, *x.shape[-2:])
        return torch.cat([centred, plane.to(centred.dtype)], dim=1)

    def start_new_levels(self, missing: set[str]) -> set[str]:
        """Start the levels a grown net has below its source's lowest as nothing: each new
        level's way up (its 2x2 transposed convolution, added to the skip above) is zeroed,
        so that the net computes exactly what the source did while the loss still reaches
        the new weights through it. `missing` holds the tensor names the source lacks;
        returns those of the new levels (for layers.load_into_deeper)."""
        for level, up in enumerate(self.ups):
            if not {f"ups.{level}.{k}" for k in up.state_dict()} <= missing:
                continue
            up.weight.zero_()
            up.bias.zero_()
            below = ([f"downs.{k}." for k in range(level, len(self.downs))]
                     + [f"ups.{k}." for k in range(level, len(self.ups))]
                     + [f"down_blocks.{k}." for k in range(level + 1, len(self.down_blocks))]
                     + [f"up_blocks.{k}." for k in range(level + 1, len(self.up_blocks))])
            return {key for key in missing if key.startswith(tuple(below))}
        return set()

    def alignment(self) -> int:
        """Total stride: tile windows start on multiples of it."""
        return 2 ** (len(self.widths) - 1)

    def receptive_radius(self) -> int:
        """An upper bound over the deepest path: a 3x3 conv at level k reaches 2^k input
        pixels further; a 2x2 down or up step at most 2^(k+1) (counted generously, since
        the tiled decode only needs a bound)."""
        radius = _radius(self.head) + _radius(self.tail)
        for level, block in enumerate(self.down_blocks):
            scale = 2 ** level
            radius += scale * _radius(block)
            if level < len(self.ups):
                radius += 2 * (2 * scale) + scale * _radius(self.up_blocks[level])
        return radius

    def widest(self) -> int:
        """Widest activation, in full-resolution channel equivalents (level k holds
        widths[k] maps at a 4^k-th of the pixels); the level-0 maps plus a skip dominate."""
        return max(w / 4 ** k for k, w in enumerate(self.widths)).__ceil__() * 2


class Downsample(nn.Conv2d):
    """2x2 convolution with stride 2, computed as a 1x1 convolution of each 2x2 block laid
    out along the channels (the same weights and state-dict keys as nn.Conv2d's).

    In fp32 it gives nn.Conv2d's very sums. Under bf16 autocast, oneDNN picks strided kernels
    by input size that round differently, so tiled inference (smaller windows) changed about
    1% of the output pixels by one level; a 1x1 convolution computes every pixel alike
    whatever the size."""

    def __init__(self, in_maps: int, out_maps: int) -> None:
        super().__init__(in_maps, out_maps, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if h % 2 or w % 2:
            raise RcodecError(f"Downsample takes even sides, got {h}x{w}")
        # NHWC (a view of a channels_last tensor): each output pixel's 2x2 inputs become
        # one vector of 4c values ordered (row, column, channel), as the weights are below.
        blocks = (x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2 * c).transpose(2, 3)
                  .reshape(n, h // 2, w // 2, 4 * c).permute(0, 3, 1, 2))
        weight = self.weight.permute(0, 2, 3, 1).reshape(self.out_channels, 4 * c, 1, 1)
        return F.conv2d(blocks, weight, self.bias)


class LumaUNetSelu(UNetSelu):
    """The same U-Net on one luma plane (JPEG's Y networks, postfilter/jpeg_models.py):
    `rgb_mean` then holds the luma mean alone."""

    input_kind = "y"


def _blocks(maps: int, count: int) -> nn.Sequential:
    return nn.Sequential(*(ResidualBlock(maps, nn.SELU(), RES_SCALE) for _ in range(count)))
