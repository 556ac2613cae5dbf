"""Building blocks of the EDSR-style post-filters: padded convolutions, residual blocks, init.

The design follows EDSR (Lim et al. 2017): residual blocks without batch-norm whose output is
scaled down before the skip addition, which keeps deep stacks stable to train.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def conv(in_ch: int, out_ch: int, k: int) -> nn.Conv2d:
    """A k x k convolution with bias and 'same' zero padding (k odd), so sizes are kept."""
    if k % 2 != 1:
        raise ValueError(f"kernel size must be odd for 'same' padding, got {k}")
    return nn.Conv2d(in_ch, out_ch, k, padding=k // 2, bias=True)


class ResidualBlock(nn.Module):
    """conv3x3 -> activation -> conv3x3, scaled by `res_scale` and added to the input."""

    def __init__(self, n: int, activation: nn.Module, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(n, n, 3), activation, conv(n, n, 3))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale

    def receptive_radius(self) -> int:
        """The skip has radius 0, so the longest path is the body's."""
        return receptive_radius(self.body)


def receptive_radius(module: nn.Module) -> int:
    """Half the effective kernel of `module`'s longest path, read from its structure.

    A convolution adds dilation * (k - 1) / 2 per axis; a Sequential adds up its children;
    a module with its own `receptive_radius()` (residual or multi-path) answers for itself;
    a module without parameters or children (an activation) adds 0. Anything else is refused
    rather than guessed, since tiled inference relies on this number being an upper bound.
    """
    if isinstance(module, nn.Conv2d):
        radii = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size, strict=True)]
        if any(r % 2 for r in radii):
            raise ValueError(f"{module}: even kernels have no centred radius")
        return max(radii) // 2
    own = getattr(module, "receptive_radius", None)
    if callable(own):
        return int(own())
    if isinstance(module, nn.Sequential):
        return sum(receptive_radius(child) for child in module)
    if not any(True for _ in module.children()) and not any(True for _ in module.parameters()):
        return 0
    raise TypeError(f"cannot tell the receptive radius of {type(module).__name__}")


@torch.no_grad()
def selu_init_(module: nn.Module) -> nn.Module:
    """LeCun normal init (std sqrt(1 / fan_in), zero bias) of every convolution in `module`.

    This is the init under which SELU keeps activations near zero mean and unit variance.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            fan_in = layer.in_channels // layer.groups * math.prod(layer.kernel_size)
            nn.init.normal_(layer.weight, 0.0, math.sqrt(1.0 / fan_in))
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


@torch.no_grad()
def load_into_deeper(model: nn.Module, state: dict[str, torch.Tensor]) -> int:
    """Load `state` into `model`, which may have residual blocks the source network lacks
    (the same net grown deeper), and return how many blocks are new.

    Every tensor of `state` must fit one of the model's; every model tensor `state` lacks
    must belong to a ResidualBlock that `state` lacks entirely. Those blocks start as the
    identity (their last convolution zero, the first one random so that gradients reach
    both), so the grown net computes exactly what the source did and training starts from
    the source's quality instead of relearning it. A model with a `start_new_levels(missing)`
    method (the U-Net) may also have grown whole levels below the source's: it starts them
    contributing nothing and names their tensors, which then keep their random start. Raises
    ValueError naming what does not fit.
    """
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if unexpected or misshapen:
        key = (unexpected or misshapen)[0]
        what = "has no tensor" if unexpected else f"has shape {tuple(own[key].shape)} for"
        raise ValueError(f"the network {what} {key}"
                         + ("" if unexpected else f" (given {tuple(state[key].shape)})"))
    missing = set(own) - set(state)
    start_new_levels = getattr(model, "start_new_levels", None)
    if start_new_levels is not None:  # a multi-scale net may have grown a lower level too
        missing -= start_new_levels(missing)
    new_blocks = 0
    for name, block in model.named_modules():
        if not isinstance(block, ResidualBlock):
            continue
        keys = {f"{name}.{k}" for k in block.state_dict()}
        if keys <= missing:
            last = block.body[-1]
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()
            missing -= keys
            new_blocks += 1
    if missing:
        raise ValueError(f"the weights lack {sorted(missing)[0]}, which no new residual "
                         "block holds")
    model.load_state_dict(state, strict=False)
    return new_blocks
