"""Image quality metrics: exact squared error, PSNR (per image and pooled), SSIM, MS-SSIM, PSNR-B.

All metrics take 8-bit images as numpy arrays, HxW (gray) or HxWxC (RGB), on a 0..255 scale.
The conventions are the ones of the papers and challenges they come from, and every
departure forced by a tiny image is a documented rule rather than an exception, so that a
benchmark over a whole data set never stops on one odd file.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from rcodec.errors import RcodecError

if TYPE_CHECKING:
    import torch


@functools.cache
def _torch() -> SimpleNamespace:
    """torch, its functional API and pytorch_msssim, imported on the first SSIM computed, so
    that PSNR, squared error and PSNR-B (and the codec-only commands) never load torch."""
    import torch
    import torch.nn.functional as F
    from pytorch_msssim import ms_ssim, ssim

    return SimpleNamespace(torch=torch, F=F, ms_ssim=ms_ssim, ssim=ssim)

PEAK = 255
"""Largest sample value of an 8-bit image: the peak of PSNR and the data range of SSIM."""

SSIM_WIN_SIZE = 11
SSIM_WIN_SIGMA = 1.5
SSIM_K = (0.01, 0.03)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Wang, Simoncelli and Bovik 2003: the weights of the five scales, finest first."""


# --- input checks -------------------------------------------------------------------------


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise RcodecError(f"images differ in shape: {a.shape} and {b.shape}")


def _integer_pair(a: object, b: object) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays, checked to be of integer type and equal shape (for exact arithmetic)."""
    x, y = np.asarray(a), np.asarray(b)
    _same_shape(x, y)
    for arr in (x, y):
        if not np.issubdtype(arr.dtype, np.integer):
            raise RcodecError(f"expected integer samples (e.g. uint8), got dtype {arr.dtype}")
    return x, y


def _check_image(x: np.ndarray) -> None:
    if x.ndim not in (2, 3):
        raise RcodecError(f"expected an HxW or HxWxC image, got shape {x.shape}")
    if x.size == 0:
        raise RcodecError(f"image has no samples: shape {x.shape}")


def _image_pair(a: object, b: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as float64 tensors of shape (1, C, H, W), checked for shape and type."""
    x, y = np.asarray(a), np.asarray(b)
    _same_shape(x, y)
    _check_image(x)
    out = []
    for arr in (x, y):
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise RcodecError(f"expected integer or float samples, got dtype {arr.dtype}")
        arr3 = arr[:, :, None] if arr.ndim == 2 else arr
        t = _torch().torch.from_numpy(np.ascontiguousarray(arr3, dtype=np.float64))
        out.append(t.permute(2, 0, 1).unsqueeze(0).contiguous())
    return out[0], out[1]


# --- squared error and PSNR ---------------------------------------------------------------


def sse(a: np.ndarray, b: np.ndarray) -> int:
    """Total squared error over all samples, exact (int64), so that sums over a set add up."""
    x, y = _integer_pair(a, b)
    d = x.astype(np.int64) - y.astype(np.int64)
    return int(np.sum(d * d, dtype=np.int64))


def psnr_from_sse(sse: int, samples: int, peak: float = PEAK) -> float:
    """PSNR in dB of a total squared error over a number of samples; inf when the error is 0."""
    if samples <= 0:
        raise RcodecError(f"PSNR needs at least one sample, got {samples}")
    if sse < 0:
        raise RcodecError(f"a squared error cannot be negative, got {sse}")
    if sse == 0:
        return math.inf
    # peak**2 / (sse / samples), written so that integer inputs give one correctly rounded
    # division (Python's int / int) instead of two roundings.
    return 10.0 * math.log10(peak * peak * samples / sse)


def pooled_psnr(sse_total: int, samples_total: int, peak: float = PEAK) -> float:
    """PSNR of a whole image set, CLIC style: total squared error over all samples of all images.

    This is not the mean of per-image PSNRs: large images weigh more, and one perfect image
    does not make the result infinite.
    """
    return psnr_from_sse(sse_total, samples_total, peak)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = PEAK) -> float:
    """PSNR in dB of one image pair, from the mean over all samples (all channels)."""
    return psnr_from_sse(sse(a, b), int(np.size(a)), peak)


# --- SSIM and MS-SSIM ---------------------------------------------------------------------


def _gaussian_window(channels: int, size: int = SSIM_WIN_SIZE) -> torch.Tensor:
    """The 1-D Gaussian window in float64, in the (C, 1, 1, size) layout pytorch_msssim takes."""
    torch = _torch().torch
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2 * SSIM_WIN_SIGMA**2))
    g = g / g.sum()
    return g.reshape(1, 1, 1, size).repeat(channels, 1, 1, 1)


def _constants() -> tuple[float, float]:
    return (SSIM_K[0] * PEAK) ** 2, (SSIM_K[1] * PEAK) ** 2


def _global_ssim(x: torch.Tensor, y: torch.Tensor) -> float:
    """SSIM with one window covering the whole image (uniform weights, population moments)."""
    c1, c2 = _constants()
    xf, yf = x.flatten(2), y.flatten(2)
    mx, my = xf.mean(-1), yf.mean(-1)
    dx, dy = xf - mx[..., None], yf - my[..., None]
    vx, vy, cxy = (dx * dx).mean(-1), (dy * dy).mean(-1), (dx * dy).mean(-1)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    cs = (2 * cxy + c2) / (vx + vy + c2)
    return float((lum * cs).mean())


def _ssim_and_cs(
    x: torch.Tensor, y: torch.Tensor, win: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and contrast-structure terms, valid Gaussian convolution.

    The same computation as pytorch_msssim's, needed here because its ms_ssim refuses
    images that cannot take all five scales.
    """
    F = _torch().F
    c1, c2 = _constants()
    channels = x.shape[1]

    def blur(t: torch.Tensor) -> torch.Tensor:
        t = F.conv2d(t, win.transpose(2, 3), groups=channels)  # along H
        return F.conv2d(t, win, groups=channels)  # along W

    mu1, mu2 = blur(x), blur(y)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = blur(x * x) - mu1_sq
    s2 = blur(y * y) - mu2_sq
    s12 = blur(x * y) - mu12
    cs_map = (2 * s12 + c2) / (s1 + s2 + c2)
    ssim_map = (2 * mu12 + c1) / (mu1_sq + mu2_sq + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def _ms_ssim_loop(x: torch.Tensor, y: torch.Tensor, weights: tuple[float, ...]) -> float:
    """MS-SSIM over len(weights) scales, pytorch_msssim's algorithm (2x2 average pooling,
    odd sides padded, negative terms clipped to 0), for any number of scales."""
    torch, F = _torch().torch, _torch().F
    win = _gaussian_window(x.shape[1])
    w = torch.tensor(weights, dtype=torch.float64)
    terms = []
    for level in range(len(weights)):
        ssim_c, cs_c = _ssim_and_cs(x, y, win)
        if level < len(weights) - 1:
            terms.append(torch.relu(cs_c))
            padding = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(ssim_c))
    per_channel = torch.prod(torch.stack(terms) ** w.view(-1, 1, 1), dim=0)
    return float(per_channel.mean())


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales an image of this size takes (0 to 5).

    A scale needs a side of at least the 11-pixel window, and each scale halves the sides
    (rounding up, as the odd-side padding does): so 5 scales need a short side of at least 161,
    4 need 81, 3 need 41, 2 need 21, 1 needs 11.
    """
    side, scales = min(height, width), 0
    while side >= SSIM_WIN_SIZE and scales < len(MS_SSIM_WEIGHTS):
        scales += 1
        side = (side + 1) // 2
    return scales


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Single-scale SSIM, the convention of Wang et al. 2004, averaged over channels.

    Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, data range 255, 'valid'
    convolution (no padding: the map covers only windows fully inside the image), float64.
    Images whose short side is under 11 pixels cannot hold one window; for them this returns
    the global SSIM, a single window over the whole image with uniform weights. Never raises
    on a small image (a 1x1 image works).
    """
    x, y = _image_pair(a, b)
    if min(x.shape[-2:]) < SSIM_WIN_SIZE:
        return _global_ssim(x, y)
    win = _gaussian_window(x.shape[1])
    return float(_torch().ssim(x, y, data_range=PEAK, win=win, K=SSIM_K))


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (Wang et al. 2003) with pytorch_msssim: data range 255, 5 scales, standard weights.

    Settings as in ssim(); computed in float64 and averaged over channels. Small images:
    pytorch_msssim needs a short side of at least 161 for 5 scales. A smaller image is scored
    on as many scales as it holds (see ms_ssim_scales) with the first weights renormalised to
    sum to 1; one under 11 pixels gets max(0, global SSIM) (see ssim()). Scores from different
    scale counts are not comparable with each other, but none of these cases raises.
    """
    x, y = _image_pair(a, b)
    scales = ms_ssim_scales(x.shape[2], x.shape[3])
    if scales == 0:
        return max(_global_ssim(x, y), 0.0)
    if scales == len(MS_SSIM_WEIGHTS):
        win = _gaussian_window(x.shape[1])
        value = _torch().ms_ssim(
            x, y, data_range=PEAK, win=win, weights=list(MS_SSIM_WEIGHTS), K=SSIM_K
        )
        return float(value)
    weights = MS_SSIM_WEIGHTS[:scales]
    total = sum(weights)
    return _ms_ssim_loop(x, y, tuple(w / total for w in weights))


# --- PSNR-B -------------------------------------------------------------------------------


def _blocking_sums(channel: np.ndarray, block: int) -> tuple[int, int, int, int]:
    """Squared differences of neighbouring pixels: (sum, count) across block boundaries, then
    (sum, count) of all other horizontal and vertical neighbour pairs."""
    x = channel.astype(np.int64)
    sq_h = np.diff(x, axis=1) ** 2  # column j: pair (j, j + 1)
    sq_v = np.diff(x, axis=0) ** 2  # row i: pair (i, i + 1)
    # Pairs (8k - 1, 8k) straddle a boundary: j = block - 1, 2 * block - 1, ...
    edge_h, edge_v = sq_h[:, block - 1 :: block], sq_v[block - 1 :: block, :]
    edge_sum = int(edge_h.sum()) + int(edge_v.sum())
    edge_n = edge_h.size + edge_v.size
    all_sum = int(sq_h.sum()) + int(sq_v.sum())
    all_n = sq_h.size + sq_v.size
    return edge_sum, edge_n, all_sum - edge_sum, all_n - edge_n


def _blocking_effect_factor(channel: np.ndarray, block: int) -> float:
    """BEF of Yim and Bovik 2011 for one 2-D channel of the decoded image."""
    edge_sum, edge_n, inner_sum, inner_n = _blocking_sums(channel, block)
    if edge_n == 0 or inner_n == 0:
        return 0.0
    d_b, d_bc = edge_sum / edge_n, inner_sum / inner_n
    if d_b <= d_bc:
        return 0.0
    eta = math.log2(block) / math.log2(min(channel.shape))
    return eta * (d_b - d_bc)


def psnr_b(decoded: np.ndarray, reference: np.ndarray, block: int = 8) -> float:
    """PSNR-B of Yim and Bovik 2011: PSNR with a penalty for visible block edges, in dB.

    PSNR-B = 10 log10(255^2 / (MSE + BEF)), the BEF taken from the decoded image alone (so
    the argument order matters): D_B is the mean squared difference over all horizontal and
    vertical neighbour pairs that straddle a block boundary (pixels 8k-1 and 8k), D_Bc the
    mean over all other neighbour pairs, and BEF = eta (D_B - D_Bc) when D_B > D_Bc, else 0,
    with eta = log2(block) / log2(min(H, W)).
    The paper is for grayscale; for HxWxC this uses the MSE over all samples and the mean of
    the per-channel BEFs, i.e. the mean over channels of MSE_c + BEF_c. An image without a
    block boundary, or only one pixel high or wide (where eta is undefined), has BEF 0, so its
    PSNR-B is its PSNR.
    """
    if block < 2:
        raise RcodecError(f"PSNR-B block size must be at least 2, got {block}")
    x, y = _integer_pair(decoded, reference)
    _check_image(x)
    mse = sse(x, y) / x.size
    planes = [x] if x.ndim == 2 else [x[:, :, c] for c in range(x.shape[2])]
    if min(x.shape[:2]) < 2:
        bef = 0.0
    else:
        bef = sum(_blocking_effect_factor(p, block) for p in planes) / len(planes)
    if mse + bef == 0:
        return math.inf
    return 10.0 * math.log10(PEAK * PEAK / (mse + bef))


# --- colour -------------------------------------------------------------------------------


def rgb_to_matlab_y(rgb: np.ndarray) -> np.ndarray:
    """Luma of MATLAB's rgb2ycbcr on uint8 (studio range, 16..235), as uint8 HxW.

    Y = round(16 + (65.481 R + 128.553 G + 24.966 B) / 255), rounding halves up (MATLAB's
    uint8 conversion rounds half away from zero). Used by the JPEG artifact-removal
    literature, which scores PSNR / PSNR-B on this Y. Computed exactly in integers
    (Y * 255000 = 4080000 + 65481 R + 128553 G + 24966 B): 194 of the 2^24 colours land exactly
    on a half, where any double-precision evaluation may fall either side depending on the
    order of its operations; exact arithmetic rounds all of them up, as the formula says.
    """
    x = np.asarray(rgb)
    if x.ndim != 3 or x.shape[2] != 3:
        raise RcodecError(f"expected an HxWx3 RGB image, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise RcodecError(f"expected uint8 RGB samples, got dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise RcodecError("RGB samples must lie in 0..255")
    c = x.astype(np.int64)
    scaled = 16 * 255_000 + 65_481 * c[..., 0] + 128_553 * c[..., 1] + 24_966 * c[..., 2]
    # floor(scaled / 255000 + 1/2), in integers
    return ((2 * scaled + 255_000) // 510_000).astype(np.uint8)


# --- registry -----------------------------------------------------------------------------

Metric = Callable[[np.ndarray, np.ndarray], float]

METRICS: dict[str, Metric] = {
    "psnr": psnr,
    "ms_ssim": ms_ssim,
    "ssim": ssim,
    "psnr_b": psnr_b,
}
"""Metrics by name, each called as metric(decoded, reference) -> float (psnr_b is asymmetric)."""
