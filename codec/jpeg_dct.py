"""Read a JPEG's quantised DCT coefficients and quantisation tables exactly as the file stores them.

Artifact-removal models work in the DCT domain (and need the tables to know each coefficient's
rounding interval), so this reads coefficients through `jpeglib` without any pixel decode.
Orientation, verified against Pillow in tests/test_jpeg.py: block [by, bx] at pixel rows
8*by.., columns 8*bx..; within a block [u, v] is vertical frequency u, horizontal frequency v.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from rcodec.codec import jpeg
from rcodec.errors import FormatError


def _jpeglib():
    """jpeglib, imported on first use: only the DCT-domain networks read coefficients, and
    its 23 MB of libjpeg builds need not load (or travel) for anything else."""
    import jpeglib

    return jpeglib


@dataclass(frozen=True)
class JpegCoefficients:
    """One JPEG's coefficients per component (Y, Cb, Cr[, K] or just Y), as stored in the file."""

    width: int
    height: int
    #: Per component int16 array (blocks_y, blocks_x, 8, 8), natural (row-major) order within a
    #: block. blocks_y = ceil(component height / 8): no MCU padding blocks.
    coefficients: tuple[np.ndarray, ...]
    #: Per component 8x8 uint16 table in natural order (components may share a table).
    qtables: tuple[np.ndarray, ...]
    #: Per component (vertical, horizontal) sampling factors, i.e. (rows, cols) like the arrays.
    sampling: tuple[tuple[int, int], ...]
    progressive: bool

    @property
    def components(self) -> int:
        return len(self.coefficients)

    def component_size(self, index: int) -> tuple[int, int]:
        """(height, width) in pixels of component `index`, rounded up as libjpeg does."""
        v, h = self.sampling[index]
        v_max = max(s[0] for s in self.sampling)
        h_max = max(s[1] for s in self.sampling)
        return math.ceil(self.height * v / v_max), math.ceil(self.width * h / h_max)

    def component_pixels(self, index: int) -> np.ndarray:
        """Component `index` decoded to float pixels (before upsampling and colour conversion).

        Matches libjpeg's output up to its integer IDCT's rounding (about +-1).
        """
        blocks = idct_blocks(dequantize(self.coefficients[index], self.qtables[index]))
        return blocks_to_image(blocks, self.component_size(index))


def read_coefficients(data: bytes) -> JpegCoefficients:
    """Read the quantised DCT coefficients and tables of a JPEG given as bytes.

    Raises FormatError when the data is not a complete 8-bit DCT JPEG, is truncated, or claims
    more than codec.jpeg.MAX_IMAGE_PIXELS pixels (checked before any coefficient is allocated).
    """
    data = bytes(data)
    header = jpeg.read_header(data)
    if header.arithmetic:
        # jpeglib's default libjpeg (6b) has no arithmetic decoder.
        raise FormatError("unsupported JPEG: arithmetic coding (coefficient reader)")
    try:
        # jpeglib only reads from a path: its C side opens the file itself.
        with tempfile.TemporaryDirectory(prefix="rcodec-jpeg-") as folder:
            path = os.path.join(folder, "input.jpg")
            with open(path, "wb") as file:
                file.write(data)
            # jpeglib print()s the temp file names on failure; keep them out of our stdout.
            with contextlib.redirect_stdout(io.StringIO()):
                stored = _jpeglib().read_dct(path)
                stored.load()
    except Exception as error:
        # jpeglib raises OSError (messages name its temp files, so are not passed on).
        raise FormatError("libjpeg cannot read the JPEG's coefficients (corrupt data)") from error

    planes = [stored.Y]
    if stored.has_chrominance:
        planes += [stored.Cb, stored.Cr]
    if stored.has_black:
        planes.append(stored.K)
    if len(planes) != header.components:
        raise FormatError("unsupported JPEG: component count differs between header and data")
    # quant_tbl_no holds each component's table slot; jpeglib's qt is indexed by slot.
    tables = [np.ascontiguousarray(stored.qt[k], dtype=np.uint16) for k in stored.quant_tbl_no]
    coefficients = JpegCoefficients(
        width=header.width,
        height=header.height,
        coefficients=tuple(np.ascontiguousarray(p, dtype=np.int16) for p in planes),
        qtables=tuple(tables),
        sampling=header.sampling,
        progressive=header.progressive,
    )
    for i, plane in enumerate(coefficients.coefficients):
        rows, cols = coefficients.component_size(i)
        if plane.shape != (math.ceil(rows / 8), math.ceil(cols / 8), 8, 8):
            raise FormatError("corrupt JPEG: coefficient array does not match the frame size")
    return coefficients


def dequantize(coefficients: np.ndarray, qtable: np.ndarray) -> np.ndarray:
    """Multiply (..., 8, 8) quantised coefficients by an 8x8 table; int32 holds any product."""
    return coefficients.astype(np.int32) * qtable.astype(np.int32)


def _idct_matrix() -> np.ndarray:
    """Orthonormal DCT-II basis C (C @ x is the DCT of x), so the IDCT is C.T @ X."""
    k = np.arange(8)
    basis = np.sqrt(2 / 8) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16)
    basis[0] /= np.sqrt(2)
    return basis


#: The orthonormal 8x8 DCT-II matrix (read-only): C @ x @ C.T is a block's DCT.
DCT_MATRIX = _idct_matrix()
DCT_MATRIX.setflags(write=False)


def idct_blocks(dequantized: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D IDCT of (..., 8, 8) blocks plus JPEG's +128 level shift: float pixels."""
    # (Stacked 8x8 products: ten times faster than the equivalent einsum here.)
    return DCT_MATRIX.T @ dequantized.astype(np.float64) @ DCT_MATRIX + 128.0


def dct_blocks(pixels: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D DCT of (..., 8, 8) pixel blocks after JPEG's -128 level shift: float64
    coefficients on the scale `dequantize` gives (idct_blocks undoes it)."""
    return DCT_MATRIX @ (pixels.astype(np.float64) - 128.0) @ DCT_MATRIX.T


def image_to_blocks(image: np.ndarray, blocks_shape: tuple[int, int]) -> np.ndarray:
    """An HxW image as (blocks_y, blocks_x, 8, 8) blocks, the last row and column repeated
    into the partial edge blocks as libjpeg's encoder pads them (blocks_to_image undoes it)."""
    blocks_y, blocks_x = blocks_shape
    height, width = image.shape
    padded = np.pad(image, ((0, blocks_y * 8 - height), (0, blocks_x * 8 - width)), mode="edge")
    return padded.reshape(blocks_y, 8, blocks_x, 8).transpose(0, 2, 1, 3)


def blocks_to_image(blocks: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Lay (blocks_y, blocks_x, 8, 8) blocks out as one image, cropped to (height, width)."""
    blocks_y, blocks_x = blocks.shape[:2]
    image = blocks.transpose(0, 2, 1, 3).reshape(blocks_y * 8, blocks_x * 8)
    if size is not None:
        image = image[: size[0], : size[1]]
    return image
