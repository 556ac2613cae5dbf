"""BPG (bellard.org/bpg) images: header, encoder, decoder and the Pillow plugin, in one file.

Files are byte-compatible with libbpg 0.9.8: the reference decoder reads what `encode_bpg`
writes, and `decode_bpg` reproduces `bpgdec`'s output exactly. HEVC coding goes through x265
and FFmpeg (see `codec.hevc`); the pixel pipeline is in `codec.bpg_pixels`.
"""

from __future__ import annotations

import dataclasses
from typing import IO, Any

import numpy as np
from PIL import Image, ImageFile

from rcodec.codec import bpg_pixels as px
from rcodec.codec import hevc_headers as hh
from rcodec.codec import limits
from rcodec.codec.base import Codec, CodecOption
from rcodec.codec.bitstream import read_ue7, split_annexb, write_ue7
from rcodec.codec.hevc import (
    TUNES,
    CompactHeader,
    compact_stream,
    frame_planes,
    hevc_decode,
    parameter_sets,
)
from rcodec.codec.hevc import x265_encode as _x265_encode
from rcodec.codec.limits import pixel_cap
from rcodec.errors import EncodeError, FormatError

MAGIC = b"BPG\xfb"

#: Largest width x height a decoder accepts; checked from the header, before any allocation.
MAX_IMAGE_PIXELS = pixel_cap(1 << 27)  # see rcodec.codec.limits

GRAY, YUV420, YUV422, YUV444, YUV420_VIDEO, YUV422_VIDEO = range(6)
FORMAT_NAMES = {GRAY: "gray", YUV420: "420", YUV422: "422", YUV444: "444",
                YUV420_VIDEO: "420_video", YUV422_VIDEO: "422_video"}
COLOR_SPACE_NAMES = {px.YCBCR: "ycbcr", px.RGB: "rgb", px.YCGCO: "ycgco",
                     px.YCBCR_BT709: "ycbcr_bt709", px.YCBCR_BT2020: "ycbcr_bt2020"}
EXTENSION_NAMES = {1: "EXIF", 2: "ICC profile", 3: "XMP", 4: "thumbnail", 5: "animation control"}
_CHROMA_FORMAT_IDC = {GRAY: 0, YUV420: 1, YUV422: 2, YUV444: 3, YUV420_VIDEO: 1, YUV422_VIDEO: 2}
_ANIMATION_CONTROL = 5


@dataclasses.dataclass
class BpgHeader:
    """Everything before the HEVC data of a BPG file."""

    pixel_format: int
    bit_depth: int
    color_space: int
    width: int
    height: int
    alpha1: bool = False
    alpha2: bool = False
    limited_range: bool = False
    animation: bool = False
    picture_data_length: int = 0
    extensions: list[tuple[int, bytes]] = dataclasses.field(default_factory=list)
    loop_count: int = 0
    frame_period: tuple[int, int] = (0, 0)

    @property
    def has_alpha(self) -> bool:
        return self.alpha1 or self.alpha2

    @property
    def premultiplied_alpha(self) -> bool:
        return self.alpha1 and self.alpha2

    @property
    def has_w_plane(self) -> bool:
        return self.alpha2 and not self.alpha1

    @property
    def chroma_format_idc(self) -> int:
        return _CHROMA_FORMAT_IDC[self.pixel_format]

    @property
    def cosited(self) -> bool:
        return self.pixel_format in (YUV420_VIDEO, YUV422_VIDEO)

    def to_bytes(self) -> bytes:
        extension = b"".join(write_ue7(tag) + write_ue7(len(data)) + data
                             for tag, data in self.extensions)
        out = bytearray(MAGIC)
        out.append((self.pixel_format << 5) | (self.alpha1 << 4) | (self.bit_depth - 8))
        out.append((self.color_space << 4) | (bool(extension) << 3) | (self.alpha2 << 2)
                   | (self.limited_range << 1) | self.animation)
        out += write_ue7(self.width) + write_ue7(self.height)
        out += write_ue7(self.picture_data_length)
        if extension:
            out += write_ue7(len(extension)) + extension
        return bytes(out)

    @classmethod
    def parse(cls, data: bytes | memoryview) -> tuple[BpgHeader, int]:
        """Parse and validate the header; return it and the offset of the HEVC headers."""
        if len(data) < 6 or bytes(data[:4]) != MAGIC:
            raise FormatError("not a BPG file (bad magic)")
        flags1, flags2 = data[4], data[5]
        header = cls(pixel_format=flags1 >> 5, alpha1=bool(flags1 & 0x10),
                     bit_depth=(flags1 & 0x0F) + 8, color_space=flags2 >> 4,
                     alpha2=bool(flags2 & 0x04), limited_range=bool(flags2 & 0x02),
                     animation=bool(flags2 & 0x01), width=0, height=0)
        if header.pixel_format > YUV422_VIDEO:
            raise FormatError(f"unknown pixel format {header.pixel_format}")
        if header.bit_depth > 14:
            raise FormatError(f"unsupported bit depth {header.bit_depth}")
        if header.color_space > px.YCBCR_BT2020:
            raise FormatError(f"unknown colour space {header.color_space}")
        if header.pixel_format == GRAY and (header.color_space or header.has_w_plane):
            raise FormatError("gray image with a colour space or W plane")
        header.width, pos = read_ue7(data, 6, "width")
        header.height, pos = read_ue7(data, pos, "height")
        if not header.width or not header.height:
            raise FormatError("zero width or height")
        check_pixel_cap(header.width, header.height)
        header.picture_data_length, pos = read_ue7(data, pos, "picture data length")
        if flags2 & 0x08:
            pos = header._parse_extensions(data, pos)
        if header.animation and not header.frame_period[0]:
            raise FormatError("animation without an animation control extension")
        return header, pos

    def _parse_extensions(self, data: bytes | memoryview, pos: int) -> int:
        length, pos = read_ue7(data, pos, "extension length")
        end = pos + length
        if end > len(data):
            raise FormatError("truncated extension data")
        region = memoryview(data)[:end]  # ue7 reads must not run past the extension data
        while pos < end:
            tag, pos = read_ue7(region, pos, "extension tag")
            size, pos = read_ue7(region, pos, "extension size")
            if pos + size > end:
                raise FormatError("truncated extension data")
            payload = bytes(data[pos : pos + size])
            self.extensions.append((tag, payload))
            if tag == _ANIMATION_CONTROL and self.animation:
                self.loop_count, p = read_ue7(payload, 0, "loop count")
                num, p = read_ue7(payload, p, "frame period")
                den, p = read_ue7(payload, p, "frame period")
                if not (num and den and max(num, den, self.loop_count) < 1 << 16):
                    raise FormatError("invalid animation control extension")
                self.frame_period = (num, den)
            pos += size
        return end


def check_pixel_cap(width: int, height: int) -> None:
    """Refuse images larger than MAX_IMAGE_PIXELS before anything is allocated for them."""
    limits.check_pixel_cap(width, height, MAX_IMAGE_PIXELS, __name__)


@dataclasses.dataclass
class BpgStream:
    """A parsed BPG file: header, compact HEVC headers and the NAL units per layer."""

    header: BpgHeader
    color_header: CompactHeader
    alpha_header: CompactHeader | None
    color_nals: list[bytes]
    alpha_nals: list[bytes]


def parse_bpg(data: bytes) -> BpgStream:
    """Split a BPG file into its parts without decoding any picture."""
    header, pos = BpgHeader.parse(data)
    alpha_header = None
    if header.has_alpha:
        alpha_header, pos = CompactHeader.parse(data, pos)
    color_header, pos = CompactHeader.parse(data, pos)
    end = len(data)
    if header.picture_data_length:
        end = pos + header.picture_data_length
        if end > len(data):
            raise FormatError("truncated picture data")
    color_nals, alpha_nals = [], []
    for nal in _split_nal_units(data[pos:end]):
        layer = ((nal[0] & 1) << 5) | (nal[1] >> 3)
        if header.has_alpha and layer == 1:
            alpha_nals.append(bytes([nal[0], nal[1] & 0x07]) + nal[2:])
        else:
            color_nals.append(nal)
    if not color_nals:
        raise FormatError("no picture data")
    return BpgStream(header, color_header, alpha_header, color_nals, alpha_nals)


def _split_nal_units(payload: bytes) -> list[bytes]:
    """The first NAL unit has no start code; the others keep 3- or 4-byte ones."""
    units = [nal for _, nal in split_annexb(b"\x00\x00\x01" + payload)]
    if any(len(nal) < 2 for nal in units):
        raise FormatError("truncated NAL unit")
    return units


# --- decoding ---------------------------------------------------------------------------------


def decode_bpg(data: bytes, out_bit_depth: int = 8, frame: int = 0) -> np.ndarray:
    """Decode a BPG file to HxWx3 RGB (HxWx4 with alpha), uint8 or uint16 for 16-bit output.

    Animated files decode to their frame number `frame` (the first by default).
    """
    if out_bit_depth not in (8, 16):
        raise ValueError("out_bit_depth must be 8 or 16")
    stream = parse_bpg(data)
    header = stream.header
    planes = _decode_layer(stream.color_header, stream.color_nals, header,
                           header.chroma_format_idc, frame)
    alpha = None
    if header.has_alpha:
        if not stream.alpha_nals or stream.alpha_header is None:
            raise FormatError("alpha flagged but no alpha picture data")
        alpha = _decode_layer(stream.alpha_header, stream.alpha_nals, header, 0, frame)[0]
    return planes_to_rgb(header, planes, alpha, out_bit_depth)


def _decode_layer(compact: CompactHeader, nals: list[bytes], header: BpgHeader,
                  chroma_format_idc: int, frame: int) -> list[np.ndarray]:
    _check_slices(compact, nals, header, chroma_format_idc)
    stream = parameter_sets(compact, header.width, header.height, chroma_format_idc,
                            header.bit_depth, header.animation)
    stream += b"".join(b"\x00\x00\x01" + nal for nal in nals)
    picture = hevc_decode(stream, parse=header.animation, index=frame)
    planes = frame_planes(picture, header.bit_depth)
    expected = 1 if chroma_format_idc == 0 else 3
    if len(planes) < expected or planes[0].shape[0] < header.height \
            or planes[0].shape[1] < header.width:
        raise FormatError("decoded picture does not match the header")
    return planes[:expected]


def _ctbs_in_picture(compact: CompactHeader, header: BpgHeader) -> int:
    ctb = 1 << (compact.log2_min_cb_size + compact.log2_diff_max_min_cb_size)
    return -(-header.width // ctb) * -(-header.height // ctb)


def _slice_headers(compact: CompactHeader, nals: list[bytes], header: BpgHeader,
                   chroma_format_idc: int) -> list[tuple[bytes, hh.SliceHeader]]:
    """(NAL unit, its slice header) for each intra slice of an IDR picture in a layer."""
    pps = hh.parse_pps(nals[0])
    ctbs = _ctbs_in_picture(compact, header)
    # Headers are short: reading a bounded prefix keeps the bit reader off the slice data.
    prefix = 256 + 5 * ctbs
    out = []
    for nal in nals[1:]:
        parsed = hh.parse_slice_header(nal[:prefix], pps, compact.sample_adaptive_offset,
                                       chroma_format_idc != 0, ctbs)
        if parsed is not None:
            out.append((nal, parsed))
    return out


def _check_slices(compact: CompactHeader, nals: list[bytes], header: BpgHeader,
                  chroma_format_idc: int) -> None:
    """Refuse slices whose substreams run past their data (see codec.hevc_headers)."""
    for nal, parsed in _slice_headers(compact, nals, header, chroma_format_idc):
        hh.check_entry_points(nal, parsed)


#: x265 codes an intra slice at the constant QP minus 3 (its I/P ratio, 6 log2 1.4, rounded).
_X265_INTRA_QP_OFFSET = 3


def bitstream_qp(data: bytes) -> int | None:
    """The qp a BPG file was encoded at by this encoder (its first slice's QP + 3), or None
    when its first picture has no intra slice header this reader follows."""
    stream = parse_bpg(data)
    slices = _slice_headers(stream.color_header, stream.color_nals, stream.header,
                            stream.header.chroma_format_idc)
    return slices[0][1].qp + _X265_INTRA_QP_OFFSET if slices else None


def planes_to_rgb(header: BpgHeader, planes: list[np.ndarray], alpha: np.ndarray | None,
                  out_bit_depth: int = 8) -> np.ndarray:
    """The reference decoder's output stage: crop, upsample chroma, convert, handle alpha."""
    h, w = header.height, header.width
    convert = px.OutputConverter(header.bit_depth, out_bit_depth, header.color_space,
                                 header.limited_range)
    y = planes[0][:h, :w]
    if header.pixel_format == GRAY:
        gray = convert.luma(y)
        rgb = np.stack([gray, gray, gray], axis=-1)
    else:
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        chroma = []
        for plane in planes[1:3]:
            if header.chroma_format_idc == 1:
                plane = px.upsample_420(plane[:h2, :w2], h, w, header.bit_depth, header.cosited)
            elif header.chroma_format_idc == 2:
                plane = px.upsample_422(plane[:h, :w2], w, header.bit_depth, header.cosited)
            else:
                plane = plane[:h, :w]
            chroma.append(plane)
        rgb = convert.rgb(y, chroma[0], chroma[1])
    if alpha is None:
        return rgb
    alpha = alpha[:h, :w]
    if header.has_w_plane:
        return px.combine_w_plane(rgb, alpha, header.bit_depth)
    rgba = np.concatenate([rgb, convert.alpha(alpha)[..., None]], axis=-1)
    return px.unpremultiply(rgba) if header.premultiplied_alpha else rgba


# --- encoding ---------------------------------------------------------------------------------

_FORMAT_BY_NAME = {name: number for number, name in FORMAT_NAMES.items()}
_COLOR_SPACE_BY_NAME = {name: number for number, name in COLOR_SPACE_NAMES.items()}
_COLOR_SPACE_BY_NAME.update({"bt601": px.YCBCR, "bt709": px.YCBCR_BT709,
                             "bt2020": px.YCBCR_BT2020})


def encode_bpg(image: np.ndarray | Image.Image, qp: int = 29, level: int = 8,
               pixel_format: str = "420", bit_depth: int = 8, color_space: str = "ycbcr",
               limited_range: bool = False, threads: int = 1, tune: str = "psnr") -> bytes:
    """Encode an 8- or 16-bit gray, RGB or RGBA image to BPG bytes as `bpgenc` would.

    Gray input stays gray whatever `pixel_format` says; `pixel_format="gray"` codes only the
    luma of a colour image. The same arguments give the same bytes for any `threads`.
    `tune`: "psnr" (lower chroma QPs, for PSNR over RGB) or "ssim" (the reference encoder's
    settings); see codec.hevc.TUNES.
    """
    samples = as_samples(image)
    if not 0 <= qp <= 51:
        raise EncodeError(f"qp {qp} is outside 0..51")
    if level not in range(1, 10):
        raise EncodeError(f"compression level {level} is outside 1..9")
    if bit_depth not in (8, 10):
        raise EncodeError(f"bit depth {bit_depth} not supported (8 or 10)")
    if pixel_format not in _FORMAT_BY_NAME:
        raise EncodeError(f"unknown pixel format {pixel_format!r}; "
                          f"choose from {', '.join(_FORMAT_BY_NAME)}")
    if color_space not in _COLOR_SPACE_BY_NAME:
        raise EncodeError(f"unknown colour space {color_space!r}")
    height, width = samples.shape[:2]
    check_pixel_cap(width, height)
    if min(height, width) <= 8:  # checked here too, to name the image's own size
        raise EncodeError(f"a {width}x{height} image is too small for BPG: FFmpeg's x265 needs "
                          "at least 16x16 after padding to a multiple of 8")
    in_depth = 16 if samples.dtype == np.uint16 else 8
    fmt = _FORMAT_BY_NAME[pixel_format]
    space = _COLOR_SPACE_BY_NAME[color_space]
    color, alpha = _split_alpha(samples)
    if color.ndim == 3 and fmt == GRAY:
        color = px.rgb_to_planes(color, in_depth, bit_depth, px.YCBCR, limited_range)[0]
        planes = [color]
    elif color.ndim == 2:
        planes = [px.gray_to_plane(color, in_depth, bit_depth, limited_range)]
    else:
        if space == px.RGB:
            fmt = YUV444  # the reference codes RGB only at full chroma resolution
        planes = px.rgb_to_planes(color, in_depth, bit_depth, space, limited_range)
        planes = _subsample_chroma(planes, fmt, bit_depth)
    if len(planes) == 1:
        fmt, space = GRAY, px.YCBCR
    header = BpgHeader(pixel_format=fmt, bit_depth=bit_depth, color_space=space, width=width,
                       height=height, alpha1=alpha is not None, limited_range=limited_range)
    chroma_idc = _CHROMA_FORMAT_IDC[fmt]
    color_compact, color_nals = _encode_layer(planes, chroma_idc, bit_depth, qp, level, threads,
                                              tune)
    out = header.to_bytes()
    if alpha is None:
        return out + color_compact.to_bytes() + _join_nals(color_nals)
    alpha_plane = px.gray_to_plane(alpha, in_depth, bit_depth, False, is_alpha=True)
    alpha_compact, alpha_nals = _encode_layer([alpha_plane], 0, bit_depth, qp, level, threads,
                                              tune)
    if len(alpha_nals) != len(color_nals):
        raise EncodeError("x265 wrote different NAL counts for colour and alpha")
    alpha_nals = [(start, bytes([nal[0], nal[1] | 0x08]) + nal[2:])
                  for start, nal in alpha_nals]
    interleaved = [unit for pair in zip(alpha_nals, color_nals, strict=True) for unit in pair]
    return out + alpha_compact.to_bytes() + color_compact.to_bytes() + _join_nals(interleaved)


def _join_nals(units: list[tuple[bytes, bytes]]) -> bytes:
    """The first NAL unit goes without its start code, the rest keep x265's."""
    return units[0][1] + b"".join(start + nal for start, nal in units[1:])


def _split_alpha(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if samples.ndim == 3 and samples.shape[2] in (2, 4):
        color = samples[..., :-1]
        return (color[..., 0] if color.shape[2] == 1 else color), samples[..., -1]
    return samples, None


def _subsample_chroma(planes: list[np.ndarray], fmt: int, bit_depth: int) -> list[np.ndarray]:
    cosited = fmt in (YUV420_VIDEO, YUV422_VIDEO)
    if _CHROMA_FORMAT_IDC[fmt] == 1:
        return [planes[0]] + [px.decimate_420(p, bit_depth, cosited) for p in planes[1:]]
    if _CHROMA_FORMAT_IDC[fmt] == 2:
        return [planes[0]] + [px.decimate_422(p, bit_depth, cosited) for p in planes[1:]]
    return planes


def _encode_layer(planes: list[np.ndarray], chroma_idc: int, bit_depth: int, qp: int,
                  level: int, threads: int, tune: str,
                  ) -> tuple[CompactHeader, list[tuple[bytes, bytes]]]:
    """Pad to a multiple of 8 as the reference does, encode, and compact the parameter sets."""
    height, width = planes[0].shape
    padded_h, padded_w = -(-height // 8) * 8, -(-width // 8) * 8
    sub_w = 2 if chroma_idc in (1, 2) else 1
    sub_h = 2 if chroma_idc == 1 else 1
    padded = [px.pad_plane(planes[0], padded_h, padded_w)]
    padded += [px.pad_plane(p, padded_h // sub_h, padded_w // sub_w) for p in planes[1:]]
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    stream = _x265_encode([p.astype(dtype) for p in padded], chroma_idc, bit_depth, qp, level,
                          threads, tune=tune)
    return compact_stream(stream)


def as_samples(image: np.ndarray | Image.Image) -> np.ndarray:
    """Gray (HxW), gray+alpha, RGB or RGBA samples (uint8 or uint16) from an array or image."""
    if isinstance(image, Image.Image):
        image = _pil_to_array(image)
    array = np.asarray(image)
    if array.dtype not in (np.uint8, np.uint16):
        raise EncodeError(f"unsupported sample type {array.dtype} (need uint8 or uint16)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4))):
        raise EncodeError(f"unsupported image shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise EncodeError("empty image")
    return array


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.clip(np.asarray(image, dtype=np.int64), 0, 65535).astype(np.uint16)
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image)
    if image.mode == "P" and "transparency" in image.info or image.mode in ("PA", "RGBa"):
        return np.asarray(image.convert("RGBA"))
    if image.mode in ("1",):
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGB"))


class BpgCodec(Codec):
    """BPG behind the common codec interface: quantizer = qp, lower means better quality."""

    name = "bpg"
    format_name = "BPG"
    description = "BPG (HEVC intra via x265), bit-exact with libbpg 0.9.8"
    quantizer_name = "qp"
    quantizer_range = (0, 51)
    quantizer_lowers_rate = True
    default_quantizer = 29
    typical_quantizer = 38
    magic = MAGIC
    suffixes = (".bpg",)
    decode_requires = ("av",)  # FFmpeg's HEVC decoder, imported on first use (codec.hevc)
    options = (
        CodecOption("level", "--level", "BPG compression level 1..9 (default 8)", int,
                    tuple(range(1, 10)), sweep=True),
        CodecOption("tune", "--tune", "BPG encoder tuning: psnr (lower chroma QPs, the "
                    "default) or ssim (the reference bpgenc's settings)", str,
                    tuple(TUNES), sweep=True),
        CodecOption("pixel_format", "--format", "chroma format (BPG: default 420)", str,
                    tuple(_FORMAT_BY_NAME)),
        CodecOption("bit_depth", "--bit-depth", "BPG bit depth", int, (8, 10)),
        CodecOption("color_space", "--color-space", "BPG colour space (default ycbcr, BT.601)",
                    str, tuple(_COLOR_SPACE_BY_NAME)),
        CodecOption("limited_range", "--limited-range", "BPG: code with the limited (video) "
                    "range", bool),
    )

    def __init__(self, level: int = 8, pixel_format: str = "420", bit_depth: int = 8,
                 color_space: str = "ycbcr", limited_range: bool = False,
                 threads: int = 1, tune: str = "psnr") -> None:
        self.options = dict(level=level, pixel_format=pixel_format, bit_depth=bit_depth,
                            color_space=color_space, limited_range=limited_range, tune=tune)
        self.threads = threads

    def encode(self, image: np.ndarray, quantizer: int) -> bytes:
        return encode_bpg(image, qp=self.check_quantizer(quantizer), threads=self.threads,
                          **self.options)

    def decode(self, data: bytes) -> np.ndarray:
        rgb = decode_bpg(data)
        return rgb[..., :3] if rgb.shape[-1] == 4 else rgb

    def settings(self) -> dict[str, Any]:
        return dict(self.options)

    @classmethod
    def decode_image(cls, data: bytes) -> np.ndarray:
        return decode_bpg(data)  # alpha kept

    @classmethod
    def bitstream_quantizer(cls, data: bytes) -> int | None:
        return bitstream_qp(data)

    @classmethod
    def info(cls, data: bytes) -> dict[str, Any]:
        return read_bpg_info(data)

    @classmethod
    def samples(cls, image: Image.Image) -> np.ndarray:
        return as_samples(image)


# --- Pillow plugin ----------------------------------------------------------------------------


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == MAGIC


class BpgImageFile(ImageFile.ImageFile):
    """Pillow reads BPG through this: `_open` parses the header only, `load` decodes."""

    format = "BPG"
    format_description = "Better Portable Graphics"

    def _open(self) -> None:
        head = self.fp.read(4096)
        try:
            header, _ = BpgHeader.parse(head)
        except FormatError as error:
            if len(head) < 4096:
                raise SyntaxError(f"not a readable BPG file: {error}") from None
            # A long EXIF, ICC or XMP extension: the header runs past the first read.
            try:
                header, _ = BpgHeader.parse(head + self.fp.read())
            except FormatError as error:
                raise SyntaxError(f"not a readable BPG file: {error}") from None
        self._size = (header.width, header.height)
        self._mode = "RGBA" if header.has_alpha and not header.has_w_plane else "RGB"
        self.info["bit_depth"] = header.bit_depth
        self.info["pixel_format"] = FORMAT_NAMES[header.pixel_format]
        self.n_frames = 1
        self.is_animated = header.animation
        self.tile = []

    def load(self) -> Any:
        if self._im is None:
            self.fp.seek(0)
            array = decode_bpg(self.fp.read())
            self.im = Image.fromarray(array, self.mode).im
            if self._exclusive_fp and hasattr(self.fp, "close"):
                self.fp.close()
            self.fp = None
        return Image.Image.load(self)


def _save(image: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    options = image.encoderinfo
    data = encode_bpg(image, qp=int(options.get("qp", options.get("quality", 29))),
                      level=int(options.get("level", 8)),
                      pixel_format=str(options.get("pixel_format", "420")),
                      bit_depth=int(options.get("bit_depth", 8)),
                      color_space=str(options.get("color_space", "ycbcr")),
                      limited_range=bool(options.get("limited_range", False)),
                      tune=str(options.get("tune", "psnr")))
    fp.write(data)


def read_bpg_info(data: bytes) -> dict[str, Any]:
    """Header fields and NAL units of a BPG file, for `rcodec info`."""
    stream = parse_bpg(data)
    header = stream.header
    nal_types = [(nal[0] >> 1) & 0x3F for nal in stream.color_nals]
    return {
        "width": header.width,
        "height": header.height,
        "pixel_format": FORMAT_NAMES[header.pixel_format],
        "bit_depth": header.bit_depth,
        "color_space": COLOR_SPACE_NAMES[header.color_space],
        "limited_range": header.limited_range,
        "alpha": ("premultiplied" if header.premultiplied_alpha else
                  "W plane" if header.has_w_plane else header.has_alpha),
        "animation": header.animation,
        "loop_count": header.loop_count if header.animation else None,
        "frame_period": list(header.frame_period) if header.animation else None,
        "extensions": [{"tag": tag, "name": EXTENSION_NAMES.get(tag, "unknown"),
                        "bytes": len(payload)} for tag, payload in header.extensions],
        "hevc_header": dataclasses.asdict(stream.color_header),
        "nal_units": {"color": nal_types,
                      "alpha": [(nal[0] >> 1) & 0x3F for nal in stream.alpha_nals]},
        "bytes": len(data),
    }


Image.register_open(BpgImageFile.format, BpgImageFile, _accept)
Image.register_save(BpgImageFile.format, _save)
Image.register_extension(BpgImageFile.format, ".bpg")
Image.register_mime(BpgImageFile.format, "image/bpg")

__all__ = ["BpgCodec", "BpgHeader", "decode_bpg", "encode_bpg"]
