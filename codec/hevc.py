"""HEVC for BPG: the compact header, parameter-set synthesis, and the x265 / FFmpeg calls.

BPG stores no VPS or SPS: it keeps a compact header with the few SPS fields that vary and
assumes the rest. Encoding parses x265's SPS, refuses anything the compact form cannot express,
and drops VPS and SPS; decoding synthesises a standard VPS and SPS so that FFmpeg's stock HEVC
decoder (through PyAV) reads the stream. Every x265 and decoder parameter is set here.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from rcodec.codec.bitstream import (
    BitReader,
    BitWriter,
    add_emulation_prevention,
    read_ue7,
    remove_emulation_prevention,
    split_annexb,
    write_ue7,
)
from rcodec.errors import EncodeError, FormatError

if TYPE_CHECKING:
    import av


@functools.cache
def _av():
    """PyAV, imported on first use: a training run fed with pairs decoded elsewhere (a GPU
    machine without PyAV) still imports the codec layer."""
    import av

    return av


def libavcodec_version() -> str:
    """FFmpeg's libavcodec version, which the decoded pixels depend on."""
    return ".".join(map(str, _av().library_versions["libavcodec"]))

NAL_VPS, NAL_SPS, NAL_PPS = 32, 33, 34

#: x265 preset for each BPG compression level, as the reference encoder maps them.
PRESETS = {
    1: "superfast",
    2: "veryfast",
    3: "faster",
    4: "fast",
    5: "medium",
    6: "slow",
    7: "slower",
    8: "veryslow",
    9: "placebo",
}

#: Encoder tunings, each an x265 tune and extra x265 parameters. "ssim" is the reference
#: encoder's. "psnr" is for PSNR over RGB samples: x265's psnr tune alone codes exactly what
#: ssim does here (constant QP turns adaptive quantisation off, and both tunes turn psy-rd
#: off), but RGB error is mostly chroma error at BPG's rates, so the chroma QPs sit 5 below
#: luma's (the PPS carries the offsets, which every HEVC decoder, bpgdec's included, reads):
#: -3.5% BD-rate on bsds500 val (scripts in the closing notes of issue 14).
TUNES: dict[str, tuple[str, tuple[str, ...]]] = {
    "psnr": ("psnr", ("cbqpoffs=-5", "crqpoffs=-5")),
    "ssim": ("ssim", ()),
}

#: FFmpeg's libx265 wrapper refuses smaller pictures.
MIN_PICTURE_SIZE = 16

#: Range-extension flags the reference refuses: explicit rdpcm, extended precision,
#: high-precision offsets, cabac bypass alignment (bit 8 is the first flag).
_REFUSED_RANGE_FLAGS = (1 << 5) | (1 << 4) | (1 << 2) | (1 << 0)


@dataclasses.dataclass(frozen=True)
class CompactHeader:
    """The SPS fields a BPG file stores; everything else is fixed by the format."""

    log2_min_cb_size: int
    log2_diff_max_min_cb_size: int
    log2_min_tb_size: int
    log2_diff_max_min_tb_size: int
    max_transform_hierarchy_depth_intra: int
    sample_adaptive_offset: bool
    pcm: tuple[int, int, int, int, bool] | None  # bit depths-1, log2 min-3, log2 diff, lf off
    strong_intra_smoothing: bool
    range_extension_flags: int | None  # None: no sps_extension at all; -1: extension, no range

    def to_bytes(self) -> bytes:
        bits = BitWriter()
        _write_block_sizes(bits, self)
        bits.ue(self.max_transform_hierarchy_depth_intra)
        bits.flag(self.sample_adaptive_offset)
        _write_pcm(bits, self.pcm)
        bits.flag(self.strong_intra_smoothing)
        _write_sps_extension(bits, self.range_extension_flags)
        body = bits.align_zero()
        return write_ue7(len(body)) + body

    @classmethod
    def parse(cls, data: bytes | memoryview, pos: int) -> tuple[CompactHeader, int]:
        """Read a length-prefixed compact header at `pos`; return it and the position after it."""
        length, pos = read_ue7(data, pos, "HEVC header length")
        if pos + length > len(data):
            raise FormatError("truncated HEVC header")
        bits = BitReader(bytes(data[pos : pos + length]), "HEVC header")
        log2_min_cb, diff_cb, log2_min_tb, diff_tb = _read_block_sizes(bits)
        depth_intra = bits.ue()
        sao = bits.flag()
        pcm = _read_pcm(bits)
        strong = bits.flag()
        range_flags = _read_sps_extension(bits)
        header = cls(log2_min_cb, diff_cb, log2_min_tb, diff_tb, depth_intra, sao, pcm, strong,
                     range_flags)
        header.validate()
        return header, pos + length

    def validate(self) -> None:
        """Reject values no conforming stream has (and that would make the SPS absurd)."""
        max_cb = self.log2_min_cb_size + self.log2_diff_max_min_cb_size
        max_tb = self.log2_min_tb_size + self.log2_diff_max_min_tb_size
        if not (3 <= self.log2_min_cb_size <= max_cb <= 6 and 2 <= self.log2_min_tb_size
                <= max_tb <= 5 and max_tb <= max_cb and self.log2_min_tb_size
                < self.log2_min_cb_size and self.max_transform_hierarchy_depth_intra <= 4):
            raise FormatError("invalid block sizes in HEVC header")


def _write_block_sizes(bits: BitWriter, header: CompactHeader) -> None:
    """Coding- and transform-block sizes: the same four fields in the SPS and compact header."""
    bits.ue(header.log2_min_cb_size - 3)
    bits.ue(header.log2_diff_max_min_cb_size)
    bits.ue(header.log2_min_tb_size - 2)
    bits.ue(header.log2_diff_max_min_tb_size)


def _read_block_sizes(bits: BitReader) -> tuple[int, int, int, int]:
    return bits.ue() + 3, bits.ue(), bits.ue() + 2, bits.ue()


def _write_pcm(bits: BitWriter, pcm: tuple[int, int, int, int, bool] | None) -> None:
    """pcm_enabled_flag and, when set, the PCM fields: the same in the SPS and compact header."""
    bits.flag(pcm is not None)
    if pcm is not None:
        luma, chroma, log2_min, log2_diff, loop_filter_off = pcm
        bits.u(4, luma)
        bits.u(4, chroma)
        bits.ue(log2_min)
        bits.ue(log2_diff)
        bits.flag(loop_filter_off)


def _read_pcm(bits: BitReader) -> tuple[int, int, int, int, bool] | None:
    return (bits.u(4), bits.u(4), bits.ue(), bits.ue(), bits.flag()) if bits.flag() else None


def _write_sps_extension(bits: BitWriter, range_flags: int | None) -> None:
    bits.flag(range_flags is not None)
    if range_flags is not None:
        bits.flag(range_flags >= 0)
        bits.u(7, 0)
        if range_flags >= 0:
            bits.u(9, range_flags)


def _read_sps_extension(bits: BitReader) -> int | None:
    if not bits.flag():
        return None
    has_range = bits.flag()
    if bits.u(7):
        raise FormatError("unsupported SPS extension")
    return bits.u(9) if has_range else -1


def _skip_profile_tier_level(bits: BitReader) -> None:
    bits.skip(2 + 1 + 5 + 32 + 4 + 43 + 1 + 8)


def compact_sps(sps_nal: bytes) -> CompactHeader:
    """Parse x265's SPS and return its compact form, refusing what BPG cannot express."""
    bits = BitReader(remove_emulation_prevention(sps_nal)[2:], "SPS")

    def require(ok: bool, what: str) -> None:
        if not ok:
            raise EncodeError(f"x265 wrote an SPS that BPG cannot store: {what}")

    require(bits.u(4) == 0, "VPS id must be 0")
    require(bits.u(3) == 0, "one sub-layer expected")
    bits.skip(1)
    _skip_profile_tier_level(bits)
    require(bits.ue() == 0, "SPS id must be 0")
    if bits.ue() == 3:
        bits.skip(1)
    bits.ue()
    bits.ue()
    require(not bits.flag(), "conformance window")
    bits.ue()
    bits.ue()
    require(bits.ue() + 4 == 8, "log2_max_poc_lsb must be 8")
    if bits.flag():
        bits.ue()
        bits.ue()
        bits.ue()
    log2_min_cb, diff_cb, log2_min_tb, diff_tb = _read_block_sizes(bits)
    depth_inter = bits.ue()
    depth_intra = bits.ue()
    require(depth_inter == depth_intra, "inter and intra TU depths differ")
    require(not bits.flag(), "scaling lists")
    require(bits.flag(), "AMP must be on")
    sao = bits.flag()
    pcm = _read_pcm(bits)
    require(bits.ue() == 0, "short-term reference picture sets")
    require(not bits.flag(), "long-term reference pictures")
    require(bits.flag(), "temporal MVP must be on")
    strong = bits.flag()
    if bits.flag():
        _check_vui(bits, require)
    try:
        range_flags = _read_sps_extension(bits)
    except FormatError as error:
        raise EncodeError(f"x265 wrote an SPS that BPG cannot store: {error}") from None
    require(range_flags is None or range_flags < 0 or not range_flags & _REFUSED_RANGE_FLAGS,
            "unsupported range extensions")
    return CompactHeader(log2_min_cb, diff_cb, log2_min_tb, diff_tb, depth_intra, sao, pcm,
                         strong, range_flags)


def _check_vui(bits: BitReader, require) -> None:
    if bits.flag() and bits.u(8) == 255:
        bits.skip(32)
    if bits.flag():
        bits.skip(1)
    if bits.flag():
        # FFmpeg's libx265 wrapper always sets video_signal_type_present, and no x265 option
        # clears it. It only describes the samples and BPG drops the VUI with the SPS, so
        # "unspecified format, no colour description" is harmless; anything more is refused.
        video_format = bits.u(3)
        bits.skip(1)
        require(video_format == 5 and not bits.flag(), "VUI video signal type")
    if bits.flag():
        bits.ue()
        bits.ue()
    bits.skip(3)
    require(not bits.flag(), "VUI default display window")
    if bits.flag():
        bits.skip(64)
        if bits.flag():
            bits.ue()
        require(not bits.flag(), "VUI HRD parameters")
    if bits.flag():
        bits.skip(3)
        for _ in range(5):
            bits.ue()


# --- synthesis for the stock decoder -------------------------------------------------------


def _nal(nal_type: int, rbsp: bytes) -> bytes:
    return b"\x00\x00\x00\x01" + bytes([nal_type << 1, 1]) + add_emulation_prevention(rbsp)


def _write_profile_tier_level(bits: BitWriter, chroma_format_idc: int, bit_depth: int) -> None:
    if chroma_format_idc == 1 and bit_depth == 8:
        profile = 1  # Main
    elif chroma_format_idc == 1 and bit_depth == 10:
        profile = 2  # Main 10
    else:
        profile = 4  # format range extensions
    bits.u(2, 0)
    bits.u(1, 0)
    bits.u(5, profile)
    bits.u(32, 1 << (31 - profile))
    bits.u(4, 0b1001)  # progressive source, frame-only
    bits.u(43, 0)
    bits.u(1, 0)
    bits.u(8, 186)  # level 6.2: no limit the decoder should enforce on a still image


def parameter_sets(header: CompactHeader, width: int, height: int, chroma_format_idc: int,
                   bit_depth: int, animated: bool = False) -> bytes:
    """A VPS and SPS (Annex B) equivalent to the compact header under the reference's rules."""
    dpb_minus1 = 1 if animated else 0
    vps = BitWriter()
    vps.u(4, 0)
    vps.u(2, 0b11)  # base layer internal and available
    vps.u(6, 0)
    vps.u(3, 0)
    vps.u(1, 1)
    vps.u(16, 0xFFFF)
    _write_profile_tier_level(vps, chroma_format_idc, bit_depth)
    vps.flag(True)
    vps.ue(dpb_minus1)
    vps.ue(0)
    vps.ue(0)
    vps.u(6, 0)
    vps.ue(0)
    vps.flag(False)
    vps.flag(False)

    cb = 1 << header.log2_min_cb_size
    sps = BitWriter()
    sps.u(4, 0)
    sps.u(3, 0)
    sps.u(1, 1)
    _write_profile_tier_level(sps, chroma_format_idc, bit_depth)
    sps.ue(0)
    sps.ue(chroma_format_idc)
    if chroma_format_idc == 3:
        sps.flag(False)
    sps.ue(-(-width // cb) * cb)
    sps.ue(-(-height // cb) * cb)
    sps.flag(False)
    sps.ue(bit_depth - 8)
    sps.ue(bit_depth - 8)
    sps.ue(8 - 4)
    sps.flag(True)
    sps.ue(dpb_minus1)
    sps.ue(0)
    sps.ue(0)
    _write_block_sizes(sps, header)
    sps.ue(header.max_transform_hierarchy_depth_intra)
    sps.ue(header.max_transform_hierarchy_depth_intra)
    sps.flag(False)
    sps.flag(True)
    sps.flag(header.sample_adaptive_offset)
    _write_pcm(sps, header.pcm)
    sps.ue(0)
    sps.flag(False)
    sps.flag(True)
    sps.flag(header.strong_intra_smoothing)
    sps.flag(False)
    _write_sps_extension(sps, header.range_extension_flags)
    return _nal(NAL_VPS, vps.rbsp_trailing()) + _nal(NAL_SPS, sps.rbsp_trailing())


# --- x265 ------------------------------------------------------------------------------------


def pixel_format(chroma_format_idc: int, bit_depth: int) -> str:
    """FFmpeg's name for planar YCbCr (or gray) at this chroma format and bit depth."""
    base = {0: "gray", 1: "yuv420p", 2: "yuv422p", 3: "yuv444p"}[chroma_format_idc]
    return base if bit_depth == 8 else f"{base}{bit_depth}le"


def x265_encode(planes: list[np.ndarray], chroma_format_idc: int, bit_depth: int, qp: int,
                level: int, threads: int = 1, picture_hash: bool = False,
                tune: str = "psnr") -> bytes:
    """Encode one picture's padded planes with x265 as the reference encoder configures it
    (with tune "ssim"; see TUNES).

    Threads come from x265's pool size, never `pools=none`: that also turns wavefront off and
    changes the stream, so every thread count must give the same bytes.
    """
    av = _av()
    height, width = planes[0].shape
    if min(height, width) < MIN_PICTURE_SIZE:
        raise EncodeError(f"BPG through FFmpeg's x265 needs at least {MIN_PICTURE_SIZE}x"
                          f"{MIN_PICTURE_SIZE} pixels (after padding to 8), got {width}x{height}")
    context = av.CodecContext.create("libx265", "w")
    context.width = width
    context.height = height
    context.pix_fmt = pixel_format(chroma_format_idc, bit_depth)
    context.time_base = Fraction(1, 25)
    context.framerate = Fraction(25, 1)
    params = [f"qp={qp}", "keyint=1", "min-keyint=1", "rect=1", "amp=1", "info=0",
              "repeat-headers=1", f"hash={1 if picture_hash else 0}", "log-level=none",
              f"pools={max(1, threads)}", "frame-threads=1"]
    try:
        x265_tune, extra = TUNES[tune]
    except KeyError:
        raise EncodeError(f"unknown tune {tune!r} (choose from {', '.join(TUNES)})") from None
    params += extra
    context.options = {"preset": PRESETS[level], "tune": x265_tune,
                       "x265-params": ":".join(params)}
    frame = av.VideoFrame(width, height, context.pix_fmt)
    dtype = np.dtype(np.uint8) if bit_depth == 8 else np.dtype("<u2")
    for plane, samples in zip(frame.planes, planes, strict=True):
        stride = plane.line_size // dtype.itemsize
        buffer = np.zeros((plane.height, stride), dtype)
        buffer[:, : samples.shape[1]] = samples
        plane.update(buffer.tobytes())
    try:
        packets = context.encode(frame) + context.encode(None)
    except av.FFmpegError as error:
        raise EncodeError(f"x265 failed: {error}") from None
    return b"".join(bytes(packet) for packet in packets)


def compact_stream(stream: bytes) -> tuple[CompactHeader, list[tuple[bytes, bytes]]]:
    """Split x265's Annex B output into the compact header and the NAL units BPG keeps."""
    units = split_annexb(stream)
    types = [(nal[0] >> 1) & 0x3F for _, nal in units]
    if types[:2] != [NAL_VPS, NAL_SPS]:
        raise EncodeError(f"x265 output starts with NAL types {types[:2]}, expected VPS, SPS")
    return compact_sps(units[1][1]), units[2:]


# --- FFmpeg's HEVC decoder --------------------------------------------------------------------


def hevc_decode(stream: bytes, parse: bool = False, index: int = 0) -> av.VideoFrame:
    """Decode picture number `index` of an Annex B stream (parameter sets included) with
    FFmpeg's HEVC decoder.

    `parse` runs the stream through FFmpeg's parser first: needed when it holds several
    pictures, since one packet yields only the first. Decoding stops at picture `index` and
    drops the earlier ones as they come, so memory holds one picture and the time is that of
    `index + 1` pictures, however many the stream holds.
    """
    av = _av()
    context = av.CodecContext.create("hevc", "r")
    # One thread: FFmpeg's wavefront threads race on damaged rows (the same damaged file
    # decoded to different pictures from call to call). The entry-point check that the
    # threaded path made is done by the BPG reader itself (codec.hevc_headers).
    context.thread_count = 1
    # Without these FFmpeg conceals damage and returns a picture from a truncated file.
    context.options = {"err_detect": "careful+explode"}
    wanted, count = None, 0
    try:
        packets = context.parse(stream) + context.parse(None) if parse else [av.Packet(stream)]
        for packet in [*packets, None]:
            for frame in context.decode(packet):
                if count == index:
                    wanted = frame
                count += 1
            if wanted is not None:
                break
    except av.FFmpegError as error:
        raise FormatError(f"HEVC payload rejected by the decoder: {error}") from None
    if wanted is None:
        if not count:
            raise FormatError("HEVC payload holds no picture")
        raise FormatError(f"frame {index} requested, the file has {count}")
    return wanted


def frame_planes(frame: av.VideoFrame, bit_depth: int) -> list[np.ndarray]:
    """The frame's planes as 2-D arrays (uint8, or uint16 above 8 bits), padding included."""
    dtype = np.dtype(np.uint8) if bit_depth == 8 else np.dtype("<u2")
    planes = []
    for plane in frame.planes:
        stride = plane.line_size // dtype.itemsize
        data = np.frombuffer(memoryview(plane), dtype, count=stride * plane.height)
        planes.append(data.reshape(plane.height, stride)[:, : plane.width])
    return planes


@functools.lru_cache(maxsize=1)
def x265_version() -> str | None:
    """x265's version string, read from the info SEI it writes when asked."""
    av = _av()
    context = av.CodecContext.create("libx265", "w")
    context.width = context.height = 16
    context.pix_fmt = "gray"
    context.time_base = Fraction(1, 25)
    context.options = {"x265-params": "info=1:log-level=none"}
    frame = av.VideoFrame(16, 16, "gray")
    frame.planes[0].update(bytes(frame.planes[0].buffer_size))
    stream = b"".join(bytes(p) for p in context.encode(frame) + context.encode(None))
    match = re.search(rb"x265 \(build \d+\) - ([\w.+\-]+)", stream)
    return match.group(1).decode() if match else None
