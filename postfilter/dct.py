"""Input of the DCT-domain networks (HR-CNN): a JPEG's luma coefficients, read from the file.

The plane is the Y component's quantised coefficients as the file stores them, multiplied by
their quantisation table (dequantised) and laid out in their 8x8 block positions: block
(by, bx)'s coefficient [u, v] at row 8 by + u, column 8 bx + v. Nothing here decodes pixels.

Dequantised rather than raw: a raw integer means a different amplitude at every quality (it
counts steps of that quality's table), while a dequantised coefficient is, through the
orthonormal DCT, a fixed linear function of the pixels. So the network's spectral layers can
learn one inverse transform for every quality, and a multi-quality model (10-60) sees one
input scale. Networks get the plane divided by DCT_SCALE = 255, the scale of the pixel
networks' [0, 1] inputs: a block's DC is 8 (mean - 128) / 255, within +-4.
"""

from __future__ import annotations

import numpy as np
import torch

from rcodec.codec.jpeg_dct import JpegCoefficients, dequantize, read_coefficients

#: Divisor from dequantised coefficients to network input (the pixel networks' 255).
DCT_SCALE = 255.0


def coefficient_plane(coefficients: JpegCoefficients) -> np.ndarray:
    """The luma (component 0) coefficients, dequantised, laid out in block positions:
    float32 (8 blocks_y, 8 blocks_x), at least the image size (partial edge blocks whole)."""
    blocks = dequantize(coefficients.coefficients[0], coefficients.qtables[0])
    blocks_y, blocks_x = blocks.shape[:2]
    # The same layout as codec.jpeg_dct.blocks_to_image, on coefficients instead of pixels.
    plane = blocks.transpose(0, 2, 1, 3).reshape(blocks_y * 8, blocks_x * 8)
    return plane.astype(np.float32)


def read_plane(data: bytes) -> tuple[np.ndarray, tuple[int, int]]:
    """The coefficient plane of JPEG bytes and the luma's (height, width) in pixels."""
    coefficients = read_coefficients(data)
    return coefficient_plane(coefficients), coefficients.component_size(0)


def hrcnn_input(data: bytes) -> torch.Tensor:
    """The DCT-domain network's input for JPEG bytes: float32 1 x 1 x 8By x 8Bx, the
    coefficient plane / DCT_SCALE. (Decoding passes the plane on the 0..255 scale to
    postfilter.inference.restore_array, which divides by 255 like for pixels: the same.)"""
    plane, _ = read_plane(data)
    return torch.from_numpy(plane / np.float32(DCT_SCALE))[None, None]


def basis_images() -> np.ndarray:
    """The 64 orthonormal 8x8 DCT-II basis images, float32 (64, 8, 8): image 8u + v is the
    pixel pattern of coefficient [u, v] (vertical u, horizontal v), so a block's pixels are
    sum_k coefficient_k * image_k + 128 (the IDCT of codec.jpeg_dct.idct_blocks)."""
    k = np.arange(8)
    basis = np.sqrt(2 / 8) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16)
    basis[0] /= np.sqrt(2)  # [frequency, sample]
    return np.einsum("ui,vj->uvij", basis, basis).reshape(64, 8, 8).astype(np.float32)


#: (-1)^k: flipping an 8-sample block reverses it, which negates the odd DCT-II frequencies.
_ALTERNATING = np.where(np.arange(8) % 2 == 0, 1.0, -1.0).astype(np.float32)


def augment_plane(plane: np.ndarray, flip_y: bool, flip_x: bool,
                  transpose: bool) -> np.ndarray:
    """The coefficient plane of the flipped / transposed pixels, exactly, for a block-aligned
    plane (flips first, then the transpose, as postfilter.data's pixel augmentation):
    blocks change places, each block's odd frequencies along a flipped axis change sign, and a
    transpose also transposes every block's coefficients."""
    height, width = plane.shape[:2]
    if height % 8 or width % 8:
        raise ValueError(f"coefficient plane must be block-aligned, got {plane.shape}")
    blocks = plane.reshape(height // 8, 8, width // 8, 8)  # [by, u, bx, v]
    if flip_y:
        blocks = blocks[::-1] * _ALTERNATING[None, :, None, None]
    if flip_x:
        blocks = blocks[:, :, ::-1] * _ALTERNATING[None, None, None, :]
    if transpose:
        blocks = blocks.transpose(2, 3, 0, 1)
    out_h, out_w = (width, height) if transpose else (height, width)
    return np.ascontiguousarray(blocks.reshape(out_h, out_w), dtype=np.float32)
