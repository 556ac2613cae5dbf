"""Training losses beyond plain MSE.

The edge-emphasised loss is the one of Svoboda et al. 2016 (L4/L8): MSE plus the MSE of the
horizontal and vertical Sobel derivatives, which penalises blurred or displaced edges more
than MSE alone does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Horizontal Sobel kernel (d/dx); its transpose is d/dy.
SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(d/dx, d/dy) of every channel of an N x C x H x W tensor, 'valid' (H-2 x W-2).

    Valid rather than padded: zero padding would invent edges along the crop border that
    the loss would then train the network to reproduce.
    """
    channels = x.shape[1]
    kx = torch.tensor(SOBEL_X, dtype=x.dtype, device=x.device)
    weight = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(channels, 1, 1, 1)  # 2C x 1 x 3 x 3
    grads = F.conv2d(x, weight, groups=channels)  # channel c -> (2c: d/dx, 2c+1: d/dy)
    return grads[:, 0::2], grads[:, 1::2]


def sobel_edge_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of the horizontal plus MSE of the vertical Sobel derivatives (no pixel term)."""
    out_x, out_y = sobel(output)
    tgt_x, tgt_y = sobel(target)
    return F.mse_loss(out_x, tgt_x) + F.mse_loss(out_y, tgt_y)


def edge_emphasised_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE + the Sobel edge loss: the optional L4/L8 training objective (`--edge-loss`)."""
    return F.mse_loss(output, target) + sobel_edge_loss(output, target)
