"""BPG: bit-exact decoding of the reference vectors, a conforming encoder, hostile headers."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers import BPG_VECTORS, read_png16
from PIL import Image

import rcodec.codec.bpg as bpg
from rcodec.codec import bpg_pixels as px
from rcodec.codec.bitstream import read_ue7, split_annexb, write_ue7
from rcodec.codec.hevc import CompactHeader, compact_sps, parameter_sets
from rcodec.errors import EncodeError, FormatError

VECTORS = sorted(p.name[:-4] for p in BPG_VECTORS.glob("*.bpg") if not p.name.startswith("anim"))


def load(name: str) -> np.ndarray:
    return np.asarray(Image.open(BPG_VECTORS / name))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return load("astronaut.png")


# --- decoder -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTORS)
def test_decoder_reproduces_reference_output(name: str) -> None:
    decoded = bpg.decode_bpg((BPG_VECTORS / f"{name}.bpg").read_bytes())
    reference = load(f"{name}.dec.png")
    assert decoded.shape == reference.shape
    assert np.array_equal(decoded, reference)


def test_sixteen_bit_output_reproduces_reference() -> None:
    decoded = bpg.decode_bpg((BPG_VECTORS / "astronaut_q28_10bit.bpg").read_bytes(), 16)
    reference = read_png16(BPG_VECTORS / "astronaut_q28_10bit.dec16.png")
    assert decoded.dtype == np.uint16
    assert np.array_equal(decoded, reference)


def test_animation_frames_are_the_shifted_astronaut(astronaut: np.ndarray) -> None:
    data = (BPG_VECTORS / "anim_astronaut4.bpg").read_bytes()
    header, _ = bpg.BpgHeader.parse(data)
    assert header.animation and header.frame_period == (1, 10)
    frames = [bpg.decode_bpg(data, frame=k) for k in range(4)]
    for k, frame in enumerate(frames):
        shift = 8 * k
        # Whichever way the frames were shifted, frame k matches the source moved by 8k px.
        best = max(psnr(frame[:, shift:], astronaut[:, : 512 - shift]),
                   psnr(frame[:, : 512 - shift], astronaut[:, shift:]))
        assert best > 28
    with pytest.raises(FormatError, match="frame 4"):
        bpg.decode_bpg(data, frame=4)


def test_info_reports_header_fields() -> None:
    info = bpg.read_bpg_info((BPG_VECTORS / "astronaut_rgba_q28_premul.bpg").read_bytes())
    assert (info["width"], info["height"], info["pixel_format"]) == (512, 512, "420")
    assert info["alpha"] == "premultiplied"
    assert info["nal_units"]["color"] and info["nal_units"]["alpha"]
    anim = bpg.read_bpg_info((BPG_VECTORS / "anim_astronaut4.bpg").read_bytes())
    assert anim["extensions"][0]["name"] == "animation control"


# --- encoder -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "pixel_format", "min_psnr"),
    [
        ({}, bpg.YUV420, 35.5),
        ({"pixel_format": "444"}, bpg.YUV444, 37.0),
        ({"pixel_format": "422"}, bpg.YUV422, 36.0),
        ({"pixel_format": "420_video"}, bpg.YUV420_VIDEO, 35.5),
        ({"bit_depth": 10}, bpg.YUV420, 35.5),
        ({"limited_range": True}, bpg.YUV420, 35.0),
        ({"color_space": "ycbcr_bt709"}, bpg.YUV420, 35.5),
        ({"color_space": "ycgco"}, bpg.YUV420, 35.5),
        ({"color_space": "rgb"}, bpg.YUV444, 38.0),
    ],
)
def test_encoder_options_round_trip(astronaut: np.ndarray, options: dict, pixel_format: int,
                                    min_psnr: float) -> None:
    data = bpg.encode_bpg(astronaut, qp=28, level=1, **options)
    header, _ = bpg.BpgHeader.parse(data)
    assert header.pixel_format == pixel_format
    assert header.bit_depth == options.get("bit_depth", 8)
    assert header.limited_range == options.get("limited_range", False)
    assert psnr(bpg.decode_bpg(data), astronaut) > min_psnr


def test_encoder_layout_matches_the_reference(astronaut: np.ndarray) -> None:
    ours = bpg.encode_bpg(astronaut, qp=28)
    reference = (BPG_VECTORS / "astronaut_q28.bpg").read_bytes()
    # Same header bytes up to the compact HEVC header, which both encoders fill alike.
    assert ours[:12] == reference[:12]
    ours_stream, ref_stream = bpg.parse_bpg(ours), bpg.parse_bpg(reference)
    assert ours_stream.color_header == ref_stream.color_header
    assert [(n[0] >> 1) & 0x3F for n in ours_stream.color_nals][0] == 34  # PPS first
    assert 0.9 < len(ours) / len(reference) < 1.2


def test_default_encode_is_qp29_level8(astronaut: np.ndarray) -> None:
    assert bpg.encode_bpg(astronaut) == bpg.encode_bpg(astronaut, qp=29, level=8)


def test_encoder_is_deterministic_across_threads(astronaut: np.ndarray) -> None:
    crop = astronaut[:200, :264]
    assert bpg.encode_bpg(crop, qp=35, threads=1) == bpg.encode_bpg(crop, qp=35, threads=2)


def test_gray_stays_gray_and_alpha_survives() -> None:
    gray = load("camera_gray.png")[:128, :128]
    data = bpg.encode_bpg(gray, qp=20, level=1)
    assert bpg.BpgHeader.parse(data)[0].pixel_format == bpg.GRAY
    assert psnr(bpg.decode_bpg(data)[..., 0], gray) > 40
    rgba = load("astronaut_rgba.png")[:128, :128]
    decoded = bpg.decode_bpg(bpg.encode_bpg(rgba, qp=20, level=1))
    assert decoded.shape == (128, 128, 4)
    assert psnr(decoded[..., 3], rgba[..., 3]) > 40


def test_odd_sizes_round_trip(astronaut: np.ndarray) -> None:
    for height, width in [(17, 31), (37, 53), (100, 16)]:
        crop = astronaut[:height, :width]
        decoded = bpg.decode_bpg(bpg.encode_bpg(crop, qp=10, level=1))
        assert decoded.shape == crop.shape and psnr(decoded, crop) > 35


def test_tiny_images_get_a_clear_error() -> None:
    with pytest.raises(EncodeError, match="at least 16x16"):
        bpg.encode_bpg(np.zeros((4, 300, 3), np.uint8))


def test_quality_falls_with_qp(astronaut: np.ndarray) -> None:
    sizes = [len(bpg.encode_bpg(astronaut[:128, :128], qp=qp, level=1)) for qp in (20, 30, 40)]
    assert sizes[0] > sizes[1] > sizes[2]


@pytest.mark.parametrize("bad", [{"qp": 52}, {"level": 0}, {"bit_depth": 9},
                                 {"pixel_format": "411"}, {"color_space": "xyz"}])
def test_encoder_rejects_bad_options(astronaut: np.ndarray, bad: dict) -> None:
    with pytest.raises(EncodeError):
        bpg.encode_bpg(astronaut[:32, :32], **bad)


# --- pre- and post-processing against the reference formulas -----------------------------------


def test_rgb_to_ycbcr_matches_the_reference_formulas() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (64, 3), dtype=np.int64)
    r, g, b = rgb.T
    y, cb, cr = px.rgb_to_planes(rgb.astype(np.uint8), 8, 8, px.YCBCR, False)
    assert np.array_equal(y, np.clip((2508194 * r + 4924113 * g + 956301 * b + 2**22) >> 23, 0,
                                     255))
    assert np.array_equal(cb, np.clip(((-1415459 * r - 2778845 * g + 4194304 * b + 2**22) >> 23)
                                      + 128, 0, 255))
    assert np.array_equal(cr, np.clip(((4194304 * r - 3512206 * g - 682098 * b + 2**22) >> 23)
                                      + 128, 0, 255))


def test_chroma_decimation_matches_a_direct_loop() -> None:
    rng = np.random.default_rng(1)
    plane = rng.integers(0, 256, (9, 13))
    taps = [2, -4, -8, 17, 57, 57, 17, -8, -4, 2]
    h, w = plane.shape

    def at(y: int, x: int) -> int:
        return int(plane[min(max(y, 0), h - 1), min(max(x, 0), w - 1)])

    horizontal = [[(sum(t * at(y, 2 * i - 4 + k) for k, t in enumerate(taps)) + 1) >> 1
                   for i in range((w + 1) // 2)] for y in range(h)]
    expected = [[min(255, max(0, (sum(t * horizontal[min(max(2 * j - 4 + k, 0), h - 1)][i]
                                     for k, t in enumerate(taps)) + 4096) >> 13))
                 for i in range((w + 1) // 2)] for j in range((h + 1) // 2)]
    assert np.array_equal(px.decimate_420(plane, 8, cosited=False), np.array(expected))


# --- HEVC headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [CompactHeader(3, 3, 2, 3, 2, True, None, True, None),
                                    CompactHeader(3, 1, 2, 2, 1, False, (7, 7, 0, 2, True),
                                                  False, -1),
                                    CompactHeader(4, 2, 2, 3, 0, True, None, True, 0b010000010)])
def test_compact_header_and_synthesised_sps_round_trip(header: CompactHeader) -> None:
    assert CompactHeader.parse(header.to_bytes(), 0)[0] == header
    stream = parameter_sets(header, 451, 300, 1, 8)
    assert compact_sps(split_annexb(stream)[1][1]) == header


def test_sps_with_refused_range_extension_is_refused() -> None:
    header = CompactHeader(3, 3, 2, 3, 2, True, None, True, 1 << 4)  # extended precision
    with pytest.raises(EncodeError, match="range extensions"):
        compact_sps(split_annexb(parameter_sets(header, 64, 64, 3, 8))[1][1])


def test_ue7_round_trip_and_guards() -> None:
    for value in (0, 1, 127, 128, 16383, 2**30 - 1):
        assert read_ue7(write_ue7(value), 0) == (value, len(write_ue7(value)))
    with pytest.raises(FormatError, match="non-canonical"):
        read_ue7(b"\x80\x01", 0)
    with pytest.raises(FormatError, match="too large"):
        read_ue7(b"\x84\x80\x80\x80\x00", 0)
    with pytest.raises(FormatError, match="truncated"):
        read_ue7(b"\x81", 0)


# --- hostile input -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_file() -> bytes:
    return (BPG_VECTORS / "chelsea_q40.bpg").read_bytes()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"XPG\xfb" + d[4:], "magic"),
        (lambda d: d[:5], "magic"),
        (lambda d: d[:12], "truncated"),
        (lambda d: d[:6] + b"\x80" + d[7:], "non-canonical"),
        (lambda d: d[:4] + bytes([0xE0]) + d[5:], "pixel format"),
        (lambda d: d[:6] + write_ue7(2**29) + write_ue7(2**29) + d[10:], "pixel cap"),
        (lambda d: d[:6] + write_ue7(0) + d[8:], "zero"),
        (lambda d: d[: d.index(b"\x00\x00\x01")], "no picture"),
        (lambda d: d[: d.index(b"\x00\x00\x01") + 5] + b"\xff" * 50, "no picture|rejected"),
    ],
)
def test_hostile_files_raise_format_error(good_file: bytes, mutate, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        bpg.decode_bpg(mutate(good_file))


def test_truncated_files_are_refused() -> None:
    data = (BPG_VECTORS / "coffee_q28.bpg").read_bytes()
    refused = 0
    for cut in range(200, len(data), 997):
        try:
            bpg.decode_bpg(data[:cut])
        except FormatError:
            refused += 1
    # FFmpeg checks the wavefront entry points; a cut that keeps them all can slip through.
    assert refused >= 25


def test_pixel_cap_is_settable(good_file: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpg, "MAX_IMAGE_PIXELS", 451 * 300 - 1)
    with pytest.raises(FormatError, match="pixel cap"):
        bpg.decode_bpg(good_file)


# --- Pillow plugin -----------------------------------------------------------------------------


def test_importing_codec_registers_the_plugin() -> None:
    import subprocess
    import sys

    script = ("import codec; from PIL import Image; "
              f"print(Image.open({str(BPG_VECTORS / 'chelsea_q40.bpg')!r}).format)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "BPG", result.stderr


def test_pillow_opens_and_saves_bpg(tmp_path, astronaut: np.ndarray) -> None:
    with Image.open(BPG_VECTORS / "chelsea_q28.bpg") as image:
        assert image.format == "BPG" and image.size == (451, 300) and image.mode == "RGB"
        assert np.array_equal(np.asarray(image), load("chelsea_q28.dec.png"))
    target = tmp_path / "x.bpg"
    Image.fromarray(astronaut[:64, :64]).save(target, qp=35)
    assert bpg.BpgHeader.parse(target.read_bytes())[0].width == 64
    buffer = io.BytesIO()
    Image.fromarray(astronaut[:64, :64]).save(buffer, format="BPG", qp=20, level=1)
    assert psnr(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))), astronaut[:64, :64]) > 35
