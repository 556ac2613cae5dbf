"""The HEVC headers a BPG file carries as x265 wrote them: the picture parameter set and
the slice segment headers, read far enough for two things the decoder needs.

- The slice QP (26 + init_qp_minus26 + slice_qp_delta): what quantizer a file was coded at,
  told to the quantizer-conditioned post-filters and shown by `rcodec info`.
- The entry points of a wavefront (WPP) slice: x265 codes each CTB row as a substream and
  records where each starts. A file truncated or damaged inside its slice data may point
  past the data it holds; FFmpeg's single-threaded decoder does not check that (its
  two-thread wavefront path does, but races on damaged rows), so it is checked here and
  the decoder can run one thread, deterministically.

Syntax and semantics from ITU-T H.265, sections 7.3.2.3 (PPS) and 7.3.6.1 (slice segment
header); only intra (I) slices of IRAP pictures are read in full, which is every BPG still.
"""

from __future__ import annotations

import dataclasses
import math

from rcodec.codec.bitstream import BitReader, remove_emulation_prevention
from rcodec.errors import FormatError

NAL_PPS = 34
_IRAP = range(16, 24)
_IDR = (19, 20)
_SLICE_I = 2


@dataclasses.dataclass(frozen=True)
class PictureParameters:
    """The PPS fields slice headers depend on."""

    dependent_slice_segments: bool
    output_flag_present: bool
    extra_slice_header_bits: int
    init_qp: int
    slice_chroma_qp_offsets_present: bool
    tiles: bool
    entropy_coding_sync: bool
    loop_filter_across_slices: bool
    deblocking_override_enabled: bool
    deblocking_disabled: bool
    slice_header_extension: bool
    chroma_qp_offset_list: bool


def nal_type(nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F


def parse_pps(nal: bytes) -> PictureParameters:
    """The PPS NAL unit (with its 2-byte NAL header) of a BPG layer."""
    if len(nal) < 3 or nal_type(nal) != NAL_PPS:
        raise FormatError("HEVC picture data does not start with a PPS")
    bits = BitReader(remove_emulation_prevention(nal[2:]), "PPS")
    bits.ue()  # pps_pic_parameter_set_id
    bits.ue()  # pps_seq_parameter_set_id
    dependent, output_flag = bits.flag(), bits.flag()
    extra_bits = bits.u(3)
    bits.skip(2)  # sign_data_hiding_enabled, cabac_init_present
    bits.ue()
    bits.ue()  # num_ref_idx_l0/l1_default_active_minus1
    init_qp = 26 + bits.se()
    bits.skip(1)  # constrained_intra_pred
    transform_skip = bits.flag()
    if bits.flag():  # cu_qp_delta_enabled
        bits.ue()
    bits.se()
    bits.se()  # pps_cb_qp_offset, pps_cr_qp_offset
    chroma_offsets = bits.flag()
    bits.skip(3)  # weighted_pred, weighted_bipred, transquant_bypass_enabled
    tiles, sync = bits.flag(), bits.flag()
    if tiles:
        columns, rows = bits.ue() + 1, bits.ue() + 1
        if not bits.flag():  # uniform_spacing
            for _ in range(columns - 1 + rows - 1):
                bits.ue()
        bits.skip(1)  # loop_filter_across_tiles_enabled
    across_slices = bits.flag()
    override = disabled = False
    if bits.flag():  # deblocking_filter_control_present
        override, disabled = bits.flag(), bits.flag()
        if not disabled:
            bits.se()
            bits.se()  # beta and tc offsets
    if bits.flag():  # pps_scaling_list_data_present
        _skip_scaling_list(bits)
    bits.skip(1)  # lists_modification_present
    bits.ue()  # log2_parallel_merge_level_minus2
    extension = bits.flag()
    chroma_list = False
    if bits.flag():  # pps_extension_present
        range_extension = bits.flag()
        bits.skip(7)  # multilayer, 3d, scc, 4 bits: none of them in a BPG file
        if range_extension:
            if transform_skip:
                bits.ue()  # log2_max_transform_skip_block_size_minus2
            bits.skip(1)  # cross_component_prediction_enabled
            chroma_list = bits.flag()
    return PictureParameters(dependent, output_flag, extra_bits, init_qp, chroma_offsets, tiles,
                             sync, across_slices, override, disabled, extension, chroma_list)


def _skip_scaling_list(bits: BitReader) -> None:
    for size_id in range(4):
        for _ in range(0, 6, 3 if size_id == 3 else 1):
            if not bits.flag():  # scaling_list_pred_mode_flag
                bits.ue()
                continue
            if size_id > 1:
                bits.se()
            for _ in range(min(64, 1 << (4 + (size_id << 1)))):
                bits.se()


@dataclasses.dataclass(frozen=True)
class SliceHeader:
    """What one slice segment header says, for an intra slice of an IRAP picture."""

    qp: int
    #: Bytes from the start of the NAL unit (its header included, emulation prevention
    #: bytes counted) to the slice data, and each substream's size as the header gives it.
    data_start: int
    substream_sizes: tuple[int, ...]


def parse_slice_header(nal: bytes, pps: PictureParameters, sao: bool, chroma: bool,
                       ctbs_in_picture: int) -> SliceHeader | None:
    """The slice segment header of a slice NAL unit; None for one this reader does not
    follow (a dependent segment, or a slice of a non-IDR or non-intra picture)."""
    kind = nal_type(nal)
    if kind not in _IRAP:
        return None
    payload = nal[2:]
    bits = BitReader(remove_emulation_prevention(payload), "slice header")
    first = bits.flag()
    bits.skip(1)  # no_output_of_prior_pics
    bits.ue()  # slice_pic_parameter_set_id
    if not first:
        if pps.dependent_slice_segments and bits.flag():
            return None  # a dependent segment carries no QP of its own
        bits.skip(max(1, math.ceil(math.log2(max(2, ctbs_in_picture)))))  # segment address
    bits.skip(pps.extra_slice_header_bits)
    if bits.ue() != _SLICE_I or kind not in _IDR:
        return None
    if pps.output_flag_present:
        bits.skip(1)
    sao_luma = sao_chroma = False
    if sao:
        sao_luma = bits.flag()
        sao_chroma = bits.flag() if chroma else False
    qp = pps.init_qp + bits.se()
    if pps.slice_chroma_qp_offsets_present:
        bits.se()
        bits.se()
    if pps.chroma_qp_offset_list:
        bits.skip(1)
    disabled = pps.deblocking_disabled
    if pps.deblocking_override_enabled and bits.flag():
        disabled = bits.flag()
        if not disabled:
            bits.se()
            bits.se()
    if pps.loop_filter_across_slices and (sao_luma or sao_chroma or not disabled):
        bits.skip(1)
    sizes: list[int] = []
    if pps.tiles or pps.entropy_coding_sync:
        count = bits.ue()
        if count > ctbs_in_picture:
            raise FormatError(f"slice header claims {count} entry points")
        if count:
            length = bits.ue() + 1
            if length > 32:
                raise FormatError("slice header entry point offsets over 32 bits")
            sizes = [bits.u(length) + 1 for _ in range(count)]
    if pps.slice_header_extension:
        bits.skip(8 * bits.ue())
    if not bits.flag():  # byte_alignment() starts with a one bit
        raise FormatError("slice header not byte aligned")
    header_bytes = -(-bits.pos // 8)
    return SliceHeader(qp, 2 + _raw_length(payload, header_bytes), tuple(sizes))


def _raw_length(payload: bytes, rbsp_bytes: int) -> int:
    """Bytes of `payload` (emulation prevention included) holding its first `rbsp_bytes`
    RBSP bytes."""
    zeros = kept = pos = 0
    while kept < rbsp_bytes and pos < len(payload):
        byte = payload[pos]
        pos += 1
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        kept += 1
        zeros = zeros + 1 if byte == 0 else 0
    return pos


def check_entry_points(nal: bytes, header: SliceHeader) -> None:
    """Refuse a slice whose substreams, as its header sizes them, run past its data: the
    file was cut or damaged inside the picture data."""
    available = len(nal) - header.data_start
    needed = sum(header.substream_sizes)
    if needed >= available:
        raise FormatError(f"truncated or damaged picture data: the slice's substreams need "
                          f"more than {needed} bytes, it holds {available}")
