"""Keep a luma network's output consistent with the JPEG it restores.

A baseline JPEG encoder (libjpeg-turbo, which rcodec's JPEG codec uses) rounds every DCT
coefficient of the original to the nearest multiple of its quantisation step. So the
original's coefficient k of a block lies in [(c - 1/2) q, (c + 1/2) q] for the stored c
and step q: a box, known exactly from the file. A network's output can stray outside it;
clipping each coefficient back into its interval is the projection onto that box, and
since the original lies in the box and the DCT is orthonormal, the projected output is never
farther from the original than the output was (projections onto convex sets are
non-expansive towards their members). Measured on bsds500 val luma, it adds +0.007 to +0.010
dB at quality 10 and +0.008 to +0.013 at 30-50 to the U-Nets, for about 7 ms per 768x512
photo on one thread (benchmarks/projection.py).

Partial blocks at the right and bottom edges hold the last column and row repeated (the
encoder pads them so): the projected block's copies of an edge pixel are averaged back into
it, which is again a projection (onto "the copies are equal") that the padded original
satisfies. So the guarantee holds for each padded block as coded, where an edge pixel counts
once per copy; an edge region alone, counting each pixel once, can come out slightly worse.

Training can see it too (`rcodec train --consistency`): project_tensor is the same
projection on a batch of crops on the block grid, differentiable, so the loss scores what
decoding will write and the network stops spending itself on what the file already fixes.

The interval is exact only for encoders that round to nearest: a trellis-quantising
encoder (mozjpeg) moves coefficients out of their intervals on purpose. rcodec applies the
projection to JPEGs of its own JPEG codec, which are libjpeg-turbo's.
"""

from __future__ import annotations

import numpy as np
import torch

from rcodec.codec.jpeg_dct import (
    DCT_MATRIX,
    JpegCoefficients,
    blocks_to_image,
    dct_blocks,
    idct_blocks,
    image_to_blocks,
)

#: Bumped when the projection changes the pixels it gives (part of the sweep's cache key).
REVISION = 1

#: Block rows projected at a time, so that each float64 work array holds 256 rows (2 MB per
#: thousand columns) however tall the image is (the result is the same for any band).
BAND_BLOCK_ROWS = 32


def project_luma(luma: np.ndarray, coefficients: JpegCoefficients) -> np.ndarray:
    """A float HxW luma estimate of the JPEG whose coefficients these are, each block's DCT
    clipped into the rounding intervals of its stored luma (component 0) coefficients:
    float32 HxW. `luma` must be component 0's size (the full image for rcodec's gray and
    4:2:0 / 4:4:4 colour JPEGs); otherwise it is returned unchanged, as nothing ties it to
    those blocks."""
    if luma.shape != coefficients.component_size(0):
        return luma
    height, width = luma.shape
    stored = coefficients.coefficients[0]
    out = np.empty((height, width), np.float32)
    for top in range(0, stored.shape[0], BAND_BLOCK_ROWS):
        band = stored[top:top + BAND_BLOCK_ROWS]
        rows = slice(8 * top, min(8 * (top + len(band)), height))
        out[rows] = _project_blocks(luma[rows], *_intervals(band, coefficients.qtables[0]))
    return out


def interval_plane(coefficients: JpegCoefficients) -> np.ndarray:
    """The rounding intervals of the luma coefficients laid out as postfilter.dct's plane
    (block (by, bx)'s coefficient [u, v] at row 8 by + u, column 8 bx + v): float32
    (8 blocks_y, 8 blocks_x, 2), lower and upper bound, on the dequantised scale. Training
    crops carry it beside their pixels (postfilter.data), flipped as the pixels are."""
    bounds = _intervals(coefficients.coefficients[0], coefficients.qtables[0])
    return np.stack([blocks_to_image(b) for b in bounds], axis=-1).astype(np.float32)


def _intervals(stored: np.ndarray, qtable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[(c - 1/2) q, (c + 1/2) q] for (..., 8, 8) stored coefficients c and their table:
    (lower, upper) bounds, float64."""
    stored, step = stored.astype(np.float64), qtable.astype(np.float64)
    return (stored - 0.5) * step, (stored + 0.5) * step


def project_onto_intervals(luma: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """`project_luma` for a luma window and its `interval_plane` window (the blocks that
    cover it, the window's origin on the block grid): float32 HxW."""
    blocks_shape = (intervals.shape[0] // 8, intervals.shape[1] // 8)
    lower, upper = (image_to_blocks(intervals[..., k], blocks_shape).astype(np.float64)
                    for k in (0, 1))
    return _project_blocks(luma, lower, upper)


def _project_blocks(luma: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Clip the DCT of the blocks covering an HxW luma into (blocks_y, blocks_x, 8, 8)
    bounds; fold the edge padding back: float32 HxW."""
    blocks = dct_blocks(image_to_blocks(luma, lower.shape[:2]))
    np.clip(blocks, lower, upper, out=blocks)
    return _fold_padding(blocks_to_image(idct_blocks(blocks)), luma.shape).astype(np.float32)


def project_tensor(luma: torch.Tensor, intervals: torch.Tensor) -> torch.Tensor:
    """The projection on a batch, differentiably (for a loss that sees what decoding keeps):
    N x 1 x H x W luma on the networks' [0, 1] scale and the N x 2 x H x W interval planes of
    whole 8x8 blocks (H, W multiples of 8) -> the projected luma, N x 1 x H x W. The
    gradient reaches only the coefficients inside their intervals: the others are set by the
    file."""
    n, _, height, width = luma.shape
    if height % 8 or width % 8 or intervals.shape != (n, 2, height, width):
        raise ValueError(f"whole 8x8 blocks and one interval pair per pixel needed, got luma "
                         f"{tuple(luma.shape)} and intervals {tuple(intervals.shape)}")
    matrix = torch.tensor(DCT_MATRIX, dtype=torch.float32, device=luma.device)

    def blocks(plane: torch.Tensor) -> torch.Tensor:  # N x C x H x W -> N x C x By x Bx x 8 x 8
        shape = (n, plane.shape[1], height // 8, 8, width // 8, 8)
        return plane.reshape(shape).permute(0, 1, 2, 4, 3, 5)

    coefficients = matrix @ (blocks(luma.float()) * 255.0 - 128.0) @ matrix.T
    bounds = blocks(intervals.float())
    clipped = torch.clamp(coefficients, bounds[:, :1], bounds[:, 1:])
    pixels = (matrix.T @ clipped @ matrix + 128.0) / 255.0
    return pixels.permute(0, 1, 2, 4, 3, 5).reshape(n, 1, height, width)


def _fold_padding(padded: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The HxW image whose edge-padded blocks are nearest `padded`: each last-column (and
    then last-row) pixel the mean of itself and its copies in the padding."""
    height, width = size
    columns = padded[:, :width].copy()
    columns[:, width - 1] = padded[:, width - 1:].mean(axis=1)
    rows = columns[:height].copy()
    rows[height - 1] = columns[height - 1:].mean(axis=0)
    return rows
