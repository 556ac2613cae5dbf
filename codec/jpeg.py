"""JPEG through Pillow (libjpeg-turbo) with the standard IJG tables, plus a strict header check.

`read_header` walks the marker structure without decoding pixels, so both the pixel decoder here
and the coefficient reader in `codec.jpeg_dct` refuse truncated files and absurd sizes before
anything large is allocated, whatever Pillow's global settings are.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, JpegImagePlugin

from rcodec.codec.base import Codec, CodecOption, check_image_array
from rcodec.codec.limits import pixel_cap
from rcodec.errors import EncodeError, FormatError

#: Largest width * height that `decode` and `read_coefficients` accept, checked from the header.
MAX_IMAGE_PIXELS: int = pixel_cap(2**28)  # see rcodec.codec.limits

#: Most scans a JPEG may have. libjpeg walks every block of the image in every scan, so a small
#: progressive file of thousands of near-empty scans takes minutes; real files have at most a
#: few dozen (libjpeg's default progression has 10). libjpeg-turbo's TJPARAM_SCANLIMIT guards
#: the same way.
MAX_SCANS: int = 100

#: libjpeg's JPEG_MAX_DIMENSION: the encoder refuses anything wider or taller.
MAX_DIMENSION = 65500

#: Pillow's `subsampling` save option for each of our names.
SUBSAMPLING = {"444": 0, "422": 1, "420": 2}

#: The IJG (libjpeg) luminance table of Annex K, natural order: what `quality` scales.
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])

# SOF markers of DCT-based frames that libjpeg decodes: baseline, extended, progressive (Huffman),
# and their arithmetic-coded counterparts.
_DCT_SOF = {0xC0, 0xC1, 0xC2, 0xC9, 0xCA}
# Every other SOFn (lossless or hierarchical): libjpeg, and so Pillow, cannot decode them.
_OTHER_SOF = {0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE_SOF = {0xC2, 0xCA}
_ARITHMETIC_SOF = {0xC9, 0xCA}
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or RST0-7; fill bytes are 0xFF.
# Anything else after 0xFF is the marker that ends the scan.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


@dataclass(frozen=True)
class JpegHeader:
    """What a JPEG's frame header says, read without decoding: enough to size and vet a decode."""

    width: int
    height: int
    #: Per component (vertical, horizontal) sampling factors, i.e. (rows, cols) like numpy.
    sampling: tuple[tuple[int, int], ...]
    #: Per component quantisation table slot (0..3) from the frame header.
    qtable_slots: tuple[int, ...]
    progressive: bool
    arithmetic: bool

    @property
    def components(self) -> int:
        return len(self.sampling)


def read_header(data: bytes) -> JpegHeader:
    """Validate a JPEG's marker structure from SOI to EOI and return its frame header.

    Raises FormatError for anything that is not one complete 8-bit DCT JPEG frame, whose
    header claims more than MAX_IMAGE_PIXELS pixels (checked before the scans are walked), that
    has more than MAX_SCANS scans, or whose sequential Huffman-coded scans are too short to
    hold the blocks the header claims (a tiny file posing as a huge image).
    """
    data = bytes(data)
    size = len(data)
    if not data.startswith(b"\xff\xd8"):
        raise FormatError("not a JPEG file (no SOI marker)")
    header: JpegHeader | None = None
    scans = 0
    scan_bytes = 0
    pos = 2
    while True:
        if pos >= size:
            raise FormatError("truncated JPEG: data ends before the EOI marker")
        if data[pos] != 0xFF:
            # libjpeg skips stray bytes between segments with a warning; be no stricter.
            pos = data.find(b"\xff", pos)
            if pos < 0:
                raise FormatError("truncated JPEG: data ends before the EOI marker")
        while pos < size and data[pos] == 0xFF:  # fill bytes may precede any marker
            pos += 1
        if pos >= size:
            raise FormatError("truncated JPEG: data ends before the EOI marker")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            break
        if marker == 0xD8:
            raise FormatError("corrupt JPEG: second SOI marker")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn and TEM carry no length
            continue
        if pos + 2 > size:
            raise FormatError("truncated JPEG: data ends inside a marker segment")
        length = int.from_bytes(data[pos : pos + 2], "big")
        end = pos + length
        if length < 2:
            raise FormatError(f"corrupt JPEG: marker 0xFF{marker:02X} has length {length}")
        if end > size:
            raise FormatError("truncated JPEG: data ends inside a marker segment")
        if marker in _DCT_SOF or marker in _OTHER_SOF:
            if header is not None:
                raise FormatError("unsupported JPEG: more than one frame header")
            header = _parse_sof(marker, data[pos + 2 : end])
        elif marker == 0xDA:  # SOS: the entropy-coded data runs to the next real marker
            if header is None:
                raise FormatError("corrupt JPEG: scan before the frame header")
            scans += 1
            if scans > MAX_SCANS:
                raise FormatError(f"unsupported JPEG: more than {MAX_SCANS} scans "
                                  "(codec.jpeg.MAX_SCANS)")
            match = _SCAN_END.search(data, end)
            if match is None:
                raise FormatError("truncated JPEG: data ends inside a scan")
            scan_bytes += match.start() - end
            end = match.start()
        pos = end
    if header is None or scans == 0:
        raise FormatError("corrupt JPEG: no image (missing frame header or scan)")
    _check_scan_size(header, scan_bytes)
    return header


def _check_scan_size(header: JpegHeader, scan_bytes: int) -> None:
    """Refuse sequential Huffman data too short for the frame size, before anything is decoded.

    Each block of each component costs at least two bits there (a DC and an end-of-block code
    of one bit each at the least), and every component has at least as many blocks as there are
    MCUs, so the scans need MCUs / 4 bytes. libjpeg would instead pad the missing blocks and
    allocate the whole image. Progressive and arithmetic coding have no such lower bound.
    """
    if header.progressive or header.arithmetic:
        return
    v_max = max(v for v, _ in header.sampling)
    h_max = max(h for _, h in header.sampling)
    mcus = -(-header.width // (8 * h_max)) * -(-header.height // (8 * v_max))
    if 4 * scan_bytes < mcus:
        raise FormatError(f"corrupt JPEG: {scan_bytes} bytes of scan data cannot code "
                          f"{header.width}x{header.height} pixels")


def _parse_sof(marker: int, body: bytes) -> JpegHeader:
    """Parse a frame header body (after the length) and apply the size cap."""
    if marker in _OTHER_SOF:
        raise FormatError(f"unsupported JPEG: lossless or hierarchical frame (0xFF{marker:02X})")
    if len(body) < 6:
        raise FormatError("corrupt JPEG: short frame header")
    precision = body[0]
    height = int.from_bytes(body[1:3], "big")
    width = int.from_bytes(body[3:5], "big")
    count = body[5]
    if precision != 8:
        raise FormatError(f"unsupported JPEG: {precision}-bit samples (only 8-bit is supported)")
    if count not in (1, 3, 4):
        raise FormatError(f"unsupported JPEG: {count} components (1, 3 or 4 are supported)")
    if len(body) != 6 + 3 * count:
        raise FormatError("corrupt JPEG: frame header length does not match its components")
    if width == 0 or height == 0:
        # Height 0 means "given later by a DNL marker", which libjpeg does not support.
        raise FormatError(f"unsupported JPEG: frame header gives size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:  # (worded as users and tests have known it)
        raise FormatError(
            f"JPEG claims {width}x{height} pixels, more than the limit of {MAX_IMAGE_PIXELS}"
        )
    sampling = []
    slots = []
    for i in range(count):
        factors, slot = body[7 + 3 * i], body[8 + 3 * i]
        h, v = factors >> 4, factors & 15
        if not (1 <= h <= 4 and 1 <= v <= 4) or slot > 3:
            raise FormatError("corrupt JPEG: bad sampling factor or table slot in frame header")
        sampling.append((v, h))
        slots.append(slot)
    return JpegHeader(
        width=width,
        height=height,
        sampling=tuple(sampling),
        qtable_slots=tuple(slots),
        progressive=marker in _PROGRESSIVE_SOF,
        arithmetic=marker in _ARITHMETIC_SOF,
    )


class JpegCodec(Codec):
    """JPEG via Pillow with libjpeg's standard quality-scaled tables; quality 1..100."""

    name = "jpeg"
    format_name = "JPEG"
    description = "JPEG (Pillow / libjpeg-turbo, standard IJG quantisation tables)"
    quantizer_name = "quality"
    quantizer_range = (1, 100)
    quantizer_lowers_rate = False
    default_quantizer = 75
    typical_quantizer = 50
    magic = b"\xff\xd8\xff"
    block_grid = 8
    suffixes = (".jpg", ".jpeg")
    # The DCT-domain networks read the coefficients with jpeglib (codec.jpeg_dct, first use).
    decode_requires = ("jpeglib",)
    options = (
        CodecOption("subsampling", "--format", "JPEG chroma subsampling: 420 (default), 422, "
                    "444, or gray (the luma alone, as Pillow converts)", str,
                    (*SUBSAMPLING, "gray")),
        CodecOption("optimize", "--optimize-huffman", "JPEG: optimised Huffman tables", bool),
        CodecOption("progressive", "--progressive", "JPEG: progressive scans", bool),
    )

    def __init__(
        self, subsampling: str = "420", optimize: bool = False, progressive: bool = False
    ) -> None:
        if subsampling not in SUBSAMPLING and subsampling != "gray":
            raise EncodeError(
                f"JPEG subsampling {subsampling!r} is not one of {', '.join(SUBSAMPLING)}, gray"
            )
        # Reject non-bools so a string such as "false" cannot silently mean True.
        for option, value in (("optimize", optimize), ("progressive", progressive)):
            if not isinstance(value, bool | np.bool_):
                raise EncodeError(f"JPEG option {option} must be true or false, not {value!r}")
        self.subsampling = subsampling
        self.optimize = bool(optimize)
        self.progressive = bool(progressive)

    def __repr__(self) -> str:
        return (
            f"JpegCodec(subsampling={self.subsampling!r}, optimize={self.optimize}, "
            f"progressive={self.progressive})"
        )

    def encode(self, image: np.ndarray, quantizer: int) -> bytes:
        """Encode HxWx3 RGB or HxW gray uint8 at `quantizer` (JPEG quality); same input, same bytes.

        Gray stays a one-component JPEG; the subsampling option only applies to colour.
        """
        quality = self.check_quantizer(quantizer)
        check_image_array(image, "JPEG")
        height, width = image.shape[:2]
        if not (1 <= height <= MAX_DIMENSION and 1 <= width <= MAX_DIMENSION):
            raise EncodeError(f"JPEG sides must be 1..{MAX_DIMENSION} pixels, got {width}x{height}")
        picture = Image.fromarray(np.ascontiguousarray(image), "L" if image.ndim == 2 else "RGB")
        if self.subsampling == "gray":
            picture = picture.convert("L")
        out = io.BytesIO()
        try:
            # No qtables: Pillow then lets libjpeg scale its standard tables by quality.
            picture.save(
                out,
                "JPEG",
                quality=quality,
                subsampling=SUBSAMPLING.get(self.subsampling, 0),
                optimize=self.optimize,
                progressive=self.progressive,
            )
        except (OSError, ValueError) as error:
            raise EncodeError(f"JPEG encode failed: {error}") from error
        return out.getvalue()

    def settings(self) -> dict[str, Any]:
        return {"subsampling": self.subsampling, "optimize": self.optimize,
                "progressive": self.progressive}

    @classmethod
    def info(cls, data: bytes) -> dict[str, Any]:
        header = read_header(data)
        return {"width": header.width, "height": header.height,
                "components": header.components, "sampling": header.sampling,
                "progressive": header.progressive, "bytes": len(data)}

    @classmethod
    def bitstream_quantizer(cls, data: bytes) -> int | None:
        """The IJG quality whose scaled luminance table is nearest the file's (exact for
        libjpeg and Pillow files; other encoders' tables get the quality of like strength)."""
        header = read_header(data)
        try:
            picture = JpegImagePlugin.JpegImageFile(io.BytesIO(bytes(data)))
            table = picture.quantization.get(header.qtable_slots[0])
        except Exception as error:  # Pillow's header errors, as in `decode`
            raise FormatError(f"cannot read the JPEG quantisation tables: {error}") from error
        if table is None or len(table) != 64:
            return None
        errors = ((ijg_luma_tables() - np.asarray(table, np.int64)) ** 2).sum(axis=1)
        return int(np.argmin(errors)) + 1

    def decode(self, data: bytes) -> np.ndarray:
        """Decode to HxWx3 uint8 RGB, or HxW uint8 for a grayscale JPEG; pixels as stored.

        EXIF orientation is not applied. A CMYK/YCCK JPEG (Adobe, inverted) becomes RGB by
        Pillow's profile-free formula R = (255 - C) * (255 - K) / 255 (same for G, B), ignoring
        any embedded ICC profile. Anything malformed, truncated or too large raises FormatError.
        """
        header = read_header(data)
        try:
            # JpegImageFile rather than Image.open: Pillow's own decompression-bomb limit would
            # otherwise overrule MAX_IMAGE_PIXELS, and no other format may be sniffed.
            picture = JpegImagePlugin.JpegImageFile(io.BytesIO(bytes(data)))
            if picture.size != (header.width, header.height):
                raise FormatError("corrupt JPEG: inconsistent frame headers")
            picture.load()
            if picture.mode not in ("L", "RGB"):
                picture = picture.convert("RGB")
            pixels = np.asarray(picture, dtype=np.uint8)
        except FormatError:
            raise
        except Exception as error:
            # Pillow reports bad data as OSError, SyntaxError, ValueError, struct.error, ...;
            # all of it means "this file is broken", which the caller must see as FormatError.
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise FormatError(f"cannot decode JPEG: {message}") from error
        return pixels


def ijg_luma_tables() -> np.ndarray:
    """100 x 64: the luminance table libjpeg writes at each quality 1..100 (jpeg_set_quality
    with force_baseline, as Pillow calls it)."""
    quality = np.arange(1, 101)[:, None]
    scale = np.where(quality < 50, 5000 // quality, 200 - 2 * quality)
    return np.clip((_IJG_LUMA[None, :] * scale + 50) // 100, 1, 255)
