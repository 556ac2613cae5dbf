"""JPEG XL through imagecodecs' libjxl: quality 0..100 (libjxl's mapping to a Butteraugli
distance), effort 7, the raw codestream.

Effort 7 (libjxl's default) codes a 768x512 photo in about 0.3 s here; libjxl writes the
same bytes for any thread count. imagecodecs is imported on first use: its import takes a
sixth of a second, which codec-only commands on other formats should not pay.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rcodec.codec.base import Codec, check_image_array
from rcodec.codec.boxes import boxes
from rcodec.codec.limits import check_pixel_cap, pixel_cap
from rcodec.errors import EncodeError, FormatError

#: Largest width * height `decode` accepts, read from the header before decoding.
MAX_IMAGE_PIXELS: int = pixel_cap(2**28)  # see rcodec.codec.limits

EFFORT = 7
_CODESTREAM = b"\xff\x0a"
_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
#: Aspect ratios of the size header's 3-bit code (1..7): width = height * num / den.
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def _imagecodecs():
    import imagecodecs  # on use: see the module docstring

    return imagecodecs


class JxlCodec(Codec):
    """JPEG XL: quantizer = quality, higher means better quality."""

    name = "jxl"
    format_name = "JPEG XL"
    description = f"JPEG XL (libjxl via imagecodecs, effort {EFFORT})"
    quantizer_name = "quality"
    quantizer_range = (0, 100)
    quantizer_lowers_rate = False
    default_quantizer = 75
    typical_quantizer = 50
    magic = _CODESTREAM
    suffixes = (".jxl",)
    options = ()
    #: Modules the decoder needs besides this one (a submission's decoder carries them).
    decode_requires = ("imagecodecs",)

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, threads)

    @classmethod
    def accepts(cls, prefix: bytes) -> bool:
        return prefix.startswith(_CODESTREAM) or prefix.startswith(_CONTAINER)

    def encode(self, image: np.ndarray, quantizer: int) -> bytes:
        quantizer = self.check_quantizer(quantizer)
        check_image_array(image, self.format_name)
        if min(image.shape[:2]) < 1:
            raise EncodeError(f"JPEG XL cannot code an empty image ({image.shape})")
        codecs = _imagecodecs()
        try:
            return bytes(codecs.jpegxl_encode(np.ascontiguousarray(image), level=quantizer,
                                              effort=EFFORT, numthreads=self.threads))
        except Exception as error:  # (as for decoding)
            raise EncodeError(f"JPEG XL encode failed: {error}") from None

    def decode(self, data: bytes) -> np.ndarray:
        """HxWx3 uint8 RGB, or HxW gray; alpha dropped, deeper samples rounded to 8 bits."""
        width, height = self.checked_size(bytes(data))
        codecs = _imagecodecs()
        try:
            pixels = codecs.jpegxl_decode(bytes(data), numthreads=self.threads)
        except Exception as error:  # libjxl's errors come as several types on damaged data
            raise FormatError(f"cannot decode JPEG XL: {error}") from None
        if pixels.shape[:2] != (height, width):
            raise FormatError("JPEG XL: the header and the picture disagree on its size")
        if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
            pixels = pixels[..., :-1]  # alpha
        if pixels.ndim == 3 and pixels.shape[2] == 1:
            pixels = pixels[..., 0]
        if pixels.dtype != np.uint8:
            top = np.iinfo(pixels.dtype).max if pixels.dtype.kind == "u" else 1.0
            pixels = np.clip(np.rint(pixels.astype(np.float64) * 255 / top), 0, 255)
        return np.ascontiguousarray(pixels, dtype=np.uint8)

    def settings(self) -> dict[str, Any]:
        return {"effort": EFFORT}

    @classmethod
    def checked_size(cls, data: bytes) -> tuple[int, int]:
        width, height = picture_size(data)
        check_pixel_cap(width, height, MAX_IMAGE_PIXELS, __name__)
        return width, height

    @classmethod
    def info(cls, data: bytes) -> dict[str, Any]:
        width, height = cls.checked_size(bytes(data))
        return {"width": width, "height": height,
                "container": bytes(data).startswith(_CONTAINER), "bytes": len(data)}


def codestream(data: bytes) -> bytes:
    """The codestream of a bare one or of a container (its 'jxlc' box, or the start of its
    first 'jxlp' box)."""
    if data.startswith(_CODESTREAM):
        return data
    if not data.startswith(_CONTAINER):
        raise FormatError("not a JPEG XL file")
    for kind, payload, box_end in boxes(data, len(_CONTAINER), len(data), "JPEG XL"):
        if kind == b"jxlc":
            return data[payload:box_end]
        if kind == b"jxlp":  # its first word counts the parts
            return data[payload + 4 : box_end]
    raise FormatError("JPEG XL container holds no codestream")


def picture_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the codestream's size header (ISO/IEC 18181-1, SizeHeader)."""
    stream = codestream(data)
    bits = _LsbReader(stream[2:18])
    small = bits.read(1)
    height = (bits.read(5) + 1) * 8 if small else _u32_size(bits)
    ratio = bits.read(3)
    if ratio:
        num, den = _RATIOS[ratio]
        width = height * num // den
    else:
        width = (bits.read(5) + 1) * 8 if small else _u32_size(bits)
    return width, height


def _u32_size(bits: _LsbReader) -> int:
    """U32(BitsOffset(9, 1), BitsOffset(13, 1), BitsOffset(18, 1), BitsOffset(30, 1))."""
    return bits.read((9, 13, 18, 30)[bits.read(2)]) + 1


class _LsbReader:
    """JPEG XL's bit order: least significant bit of each byte first."""

    def __init__(self, data: bytes) -> None:
        self.value, self.size, self.pos = int.from_bytes(data, "little"), 8 * len(data), 0

    def read(self, count: int) -> int:
        if self.pos + count > self.size:
            raise FormatError("truncated JPEG XL size header")
        out = (self.value >> self.pos) & ((1 << count) - 1)
        self.pos += count
        return out
