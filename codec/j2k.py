"""JPEG 2000 (irreversible 9/7 wavelet) through Pillow's OpenJPEG, as a raw codestream.

The quantizer is an integer grid over the compression ratio: step q asks OpenJPEG for a
ratio of 2^(q / 8) to 1 against the raw samples, so each step is about 9% in rate, like a
BPG QP or a few JPEG qualities, from 2:1 (q 8) to 512:1 (q 72).
"""

from __future__ import annotations

from typing import Any

from rcodec.codec.boxes import u32
from rcodec.codec.limits import pixel_cap
from rcodec.codec.pillow_codec import PillowCodec
from rcodec.errors import FormatError

#: Largest width * height `decode` accepts, read from the header before decoding.
MAX_IMAGE_PIXELS: int = pixel_cap(2**28)  # see rcodec.codec.limits

_CODESTREAM = b"\xff\x4f\xff\x51"  # SOC, then SIZ
_JP2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def ratio(step: int) -> float:
    """The compression ratio a quantizer step asks for."""
    return 2.0 ** (step / 8)


class J2kCodec(PillowCodec):
    """JPEG 2000: quantizer = ratio step, higher means fewer bytes."""

    name = "j2k"
    format_name = "JPEG 2000"
    description = "JPEG 2000 (OpenJPEG via Pillow, 9/7 wavelet, ratio 2^(step/8))"
    quantizer_name = "ratio_step"
    quantizer_range = (8, 72)
    quantizer_lowers_rate = True
    default_quantizer = 40
    typical_quantizer = 56
    magic = _CODESTREAM
    suffixes = (".j2k", ".j2c", ".jp2")
    pillow_format = "JPEG2000"
    plugin = "PIL.Jpeg2KImagePlugin:Jpeg2KImageFile"
    options = ()

    @classmethod
    def accepts(cls, prefix: bytes) -> bool:
        return prefix.startswith(_CODESTREAM) or prefix.startswith(_JP2)

    def save_options(self, quantizer: int, gray: bool) -> dict[str, Any]:
        del gray
        return {"quality_mode": "rates", "quality_layers": [ratio(quantizer)],
                "irreversible": True, "no_jp2": True}

    def settings(self) -> dict[str, Any]:
        return {"wavelet": "9/7", "layers": 1}

    @classmethod
    def picture_size(cls, data: bytes) -> tuple[int, int]:
        """From the SIZ marker of the codestream (inside the 'jp2c' box of a JP2 file)."""
        start = data.find(_CODESTREAM) if data.startswith(_JP2) else 0
        if start < 0 or not data[start:].startswith(_CODESTREAM) or len(data) < start + 24:
            raise FormatError("not a JPEG 2000 codestream (no SOC and SIZ)")
        # SIZ: Lsiz, Rsiz, then Xsiz, Ysiz (reference grid) and XOsiz, YOsiz (its offset).
        x, y = u32(data, start + 8), u32(data, start + 12)
        x0, y0 = u32(data, start + 16), u32(data, start + 20)
        if x0 >= x or y0 >= y:
            raise FormatError("JPEG 2000 SIZ gives an empty image")
        return x - x0, y - y0
