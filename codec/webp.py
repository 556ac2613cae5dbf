"""WebP (lossy, VP8) through Pillow's libwebp: quality 0..100, compression method 6.

Method 6 is libwebp's slowest, best-compressing search: about 0.2 s for a 768x512 photo
here, within the second a sweep can afford per encode.
"""

from __future__ import annotations

from typing import Any

from rcodec.codec.limits import pixel_cap
from rcodec.codec.pillow_codec import PillowCodec
from rcodec.errors import FormatError

#: Largest width * height `decode` accepts, read from the header before decoding.
MAX_IMAGE_PIXELS: int = pixel_cap(2**28)  # see rcodec.codec.limits

#: libwebp's search effort (0 fast .. 6 best), pinned so that a quality means one bitstream.
METHOD = 6


class WebpCodec(PillowCodec):
    """Lossy WebP: quantizer = quality, higher means better quality."""

    name = "webp"
    format_name = "WebP"
    description = f"WebP (lossy VP8 via Pillow / libwebp, method {METHOD})"
    quantizer_name = "quality"
    quantizer_range = (0, 100)
    quantizer_lowers_rate = False
    default_quantizer = 75
    typical_quantizer = 50
    magic = b"RIFF"
    suffixes = (".webp",)
    pillow_format = "WEBP"
    plugin = "PIL.WebPImagePlugin:WebPImageFile"
    max_side = 16383
    options = ()

    @classmethod
    def accepts(cls, prefix: bytes) -> bool:
        return prefix[:4] == b"RIFF" and prefix[8:12] == b"WEBP"

    def save_options(self, quantizer: int, gray: bool) -> dict[str, Any]:
        del gray  # WebP codes gray as colour; it decodes to RGB
        return {"quality": quantizer, "method": METHOD, "lossless": False, "exact": False}

    def settings(self) -> dict[str, Any]:
        return {"method": METHOD}

    @classmethod
    def picture_size(cls, data: bytes) -> tuple[int, int]:
        """From the first chunk: VP8 (lossy), VP8L (lossless) or VP8X (extended)."""
        if len(data) < 30 or not cls.accepts(data[:16]):
            raise FormatError("truncated or not a WebP file")
        chunk, body = data[12:16], data[20:]
        if chunk == b"VP8 ":
            if body[3:6] != b"\x9d\x01\x2a":
                raise FormatError("WebP VP8 frame has no start code")
            return (int.from_bytes(body[6:8], "little") & 0x3FFF,
                    int.from_bytes(body[8:10], "little") & 0x3FFF)
        if chunk == b"VP8L":
            if body[0] != 0x2F:
                raise FormatError("WebP VP8L stream has no signature")
            bits = int.from_bytes(body[1:5], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            return (int.from_bytes(body[4:7], "little") + 1,
                    int.from_bytes(body[7:10], "little") + 1)
        raise FormatError(f"unknown WebP chunk {chunk!r}")
