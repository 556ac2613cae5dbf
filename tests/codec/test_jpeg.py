"""JPEG codec and DCT-coefficient reader: round trips, options, hostile input, Pillow agreement."""

from __future__ import annotations

import contextlib
import io
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from rcodec.codec import jpeg as jpeg_module
from rcodec.codec.jpeg import JpegCodec, read_header
from rcodec.codec.jpeg_dct import (
    blocks_to_image,
    dequantize,
    idct_blocks,
    read_coefficients,
)
from rcodec.errors import EncodeError, FormatError


def natural_image(height: int = 72, width: int = 104, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus mild noise: compresses like a photo, not like pure noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [
        128 + 90 * np.sin(x / 17 + y / 29),
        128 + 80 * np.cos(y / 13 - x / 41),
        100 + 0.6 * x + 0.4 * y,
    ]
    image = np.stack(channels, axis=-1) + rng.normal(0, 6, (height, width, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return natural_image()


@pytest.fixture(scope="module")
def jpeg_bytes(image: np.ndarray) -> bytes:
    return JpegCodec().encode(image, 75)


def pillow_planes(data: bytes) -> np.ndarray:
    """Pillow's decoded components before colour conversion (YCbCr, or L for gray)."""
    picture = Image.open(io.BytesIO(data))
    if picture.mode == "RGB":
        picture.draft("YCbCr", picture.size)  # same size: skips only the colour conversion
    planes = np.asarray(picture)
    return planes[..., None] if planes.ndim == 2 else planes


# --- codec: round trips and options ---------------------------------------------------------


def test_codec_attributes() -> None:
    codec = JpegCodec()
    assert (codec.name, codec.quantizer_name, codec.quantizer_range) == (
        "jpeg",
        "quality",
        (1, 100),
    )
    assert codec.quantizer_lowers_rate is False
    assert codec.encode(natural_image(16, 16), 50).startswith(codec.magic)


def test_round_trip_rgb(image: np.ndarray) -> None:
    for subsampling, tolerance in (("420", 6), ("444", 4)):
        decoded = JpegCodec(subsampling).decode(JpegCodec(subsampling).encode(image, 95))
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
        # 4:2:0 also loses the chroma half of the noise.
        assert np.abs(decoded.astype(int) - image).mean() < tolerance


def test_round_trip_gray(image: np.ndarray) -> None:
    gray = image[..., 1].copy()
    data = JpegCodec().encode(gray, 95)
    assert read_header(data).components == 1
    decoded = JpegCodec().decode(data)
    assert decoded.shape == gray.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - gray).mean() < 3


def test_odd_sizes_round_trip() -> None:
    for shape in [(1, 1, 3), (7, 13, 3), (17, 9)]:
        picture = natural_image(*shape[:2])
        picture = picture if len(shape) == 3 else picture[..., 0]
        assert JpegCodec().decode(JpegCodec().encode(picture, 80)).shape == shape


def test_quality_monotonic_in_bytes(image: np.ndarray) -> None:
    sizes = [len(JpegCodec().encode(image, q)) for q in (5, 20, 40, 60, 80, 95, 100)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


def test_deterministic(image: np.ndarray) -> None:
    for codec in (JpegCodec(), JpegCodec("444", optimize=True, progressive=True)):
        assert codec.encode(image, 60) == codec.encode(image.copy(), 60)


@pytest.mark.parametrize(("name", "pillow_code"), [("444", 0), ("422", 1), ("420", 2)])
def test_subsampling_visible(image: np.ndarray, name: str, pillow_code: int) -> None:
    data = JpegCodec(subsampling=name).encode(image, 75)
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(data))) == pillow_code
    luma = {"444": (1, 1), "422": (1, 2), "420": (2, 2)}[name]
    assert read_header(data).sampling == (luma, (1, 1), (1, 1))


def test_progressive_and_optimize(image: np.ndarray) -> None:
    plain = JpegCodec().encode(image, 75)
    optimized = JpegCodec(optimize=True).encode(image, 75)
    progressive = JpegCodec(progressive=True).encode(image, 75)
    assert len(optimized) < len(plain)
    assert not read_header(plain).progressive and read_header(progressive).progressive
    # Huffman optimisation and progression are lossless: same pixels.
    for data in (optimized, progressive):
        assert np.array_equal(JpegCodec().decode(data), JpegCodec().decode(plain))


def test_non_contiguous_input(image: np.ndarray) -> None:
    view = image[::2, ::2]
    assert JpegCodec().encode(view, 70) == JpegCodec().encode(view.copy(), 70)


@pytest.mark.parametrize(
    "options",
    [{"subsampling": "411"}, {"subsampling": 2}, {"optimize": "false"}, {"progressive": 1}],
)
def test_bad_options(options: dict) -> None:
    with pytest.raises(EncodeError):
        JpegCodec(**options)


@pytest.mark.parametrize(
    "picture",
    [
        np.zeros((8, 8, 3), np.float32),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((8, 8, 1), np.uint8),
        np.zeros((0, 8, 3), np.uint8),
        np.zeros(8, np.uint8),
    ],
)
def test_bad_images(picture: np.ndarray) -> None:
    with pytest.raises(EncodeError):
        JpegCodec().encode(picture, 75)


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_bad_quality(quality: int) -> None:
    with pytest.raises(EncodeError):
        JpegCodec().encode(natural_image(8, 8), quality)


def test_cmyk_decodes_to_rgb(image: np.ndarray) -> None:
    out = io.BytesIO()
    Image.fromarray(image).convert("CMYK").save(out, "JPEG", quality=95)
    decoded = JpegCodec().decode(out.getvalue())
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    # Pillow's RGB->CMYK is the exact inverse of its CMYK->RGB, so only JPEG loss remains.
    assert np.abs(decoded.astype(int) - image).mean() < 5


def test_trailing_bytes_after_eoi_are_ignored(jpeg_bytes: bytes) -> None:
    padded = jpeg_bytes + b"\x00" * 100 + b"trailer"
    assert np.array_equal(JpegCodec().decode(padded), JpegCodec().decode(jpeg_bytes))
    assert read_coefficients(padded).coefficients[0].shape == (9, 13, 8, 8)


def test_stray_bytes_between_segments_are_skipped(jpeg_bytes: bytes) -> None:
    # libjpeg tolerates (with a warning) junk between marker segments; so do we.
    after_app0 = 4 + int.from_bytes(jpeg_bytes[4:6], "big")
    stray = jpeg_bytes[:after_app0] + b"\x00junk" + jpeg_bytes[after_app0:]
    assert np.array_equal(JpegCodec().decode(stray), JpegCodec().decode(jpeg_bytes))
    assert read_coefficients(stray).coefficients[0].shape == (9, 13, 8, 8)


# --- hostile input --------------------------------------------------------------------------


def readers() -> list:
    return [JpegCodec().decode, read_coefficients]


def assert_format_error(data: bytes) -> None:
    for reader in readers():
        with pytest.raises(FormatError) as caught:
            reader(data)
        assert "\n" not in str(caught.value)


def test_truncated_data(jpeg_bytes: bytes) -> None:
    for cut in (3, 20, 200, len(jpeg_bytes) // 2, len(jpeg_bytes) - 3, len(jpeg_bytes) - 1):
        assert_format_error(jpeg_bytes[:cut])


def test_truncated_data_despite_pillow_setting(
    jpeg_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone else in the process may enable Pillow's lenient mode; decode must stay strict.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert_format_error(jpeg_bytes[: len(jpeg_bytes) // 2])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8\xff",
        b"hello, world" * 20,
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"\xff\xd8\xff\xe0" + np.random.default_rng(1).integers(0, 256, 500, np.uint8).tobytes(),
        b"\xff\xd8\xff\xd9",
    ],
)
def test_garbage(data: bytes) -> None:
    assert_format_error(data)


def test_corrupted_bytes_only_raise_format_error(jpeg_bytes: bytes) -> None:
    rng = np.random.default_rng(2)
    for _ in range(40):
        damaged = bytearray(jpeg_bytes)
        for where in rng.integers(2, 400, 3):
            damaged[where] = rng.integers(0, 256)
        for reader in readers():
            with contextlib.suppress(FormatError):
                reader(bytes(damaged))


def patch_sof0_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF0 frame size of a baseline JPEG."""
    at = data.index(b"\xff\xc0")
    patched = bytearray(data)
    patched[at + 5 : at + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(patched)


def test_pixel_cap_refused_from_header(jpeg_bytes: bytes) -> None:
    huge = patch_sof0_size(jpeg_bytes, 60000, 60000)
    for reader in readers():
        tracemalloc.start()
        started = time.perf_counter()
        with pytest.raises(FormatError, match="60000x60000"):
            reader(huge)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < 1.0 and peak < 1_000_000


def test_pixel_cap_is_configurable(jpeg_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jpeg_module, "MAX_IMAGE_PIXELS", 72 * 104 - 1)
    assert_format_error(jpeg_bytes)
    monkeypatch.setattr(jpeg_module, "MAX_IMAGE_PIXELS", 72 * 104)
    assert JpegCodec().decode(jpeg_bytes).shape == (72, 104, 3)


def test_cap_above_pillow_bomb_limit_is_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's own decompression-bomb limit must not overrule MAX_IMAGE_PIXELS.
    data = JpegCodec().encode(natural_image(16, 16), 50)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert JpegCodec().decode(data).shape == (16, 16, 3)


# --- DCT coefficients -----------------------------------------------------------------------


def test_coefficient_shapes(image: np.ndarray) -> None:
    coeffs = read_coefficients(JpegCodec("420").encode(image, 75))
    assert (coeffs.width, coeffs.height, coeffs.components) == (104, 72, 3)
    assert coeffs.sampling == ((2, 2), (1, 1), (1, 1))
    assert [c.shape for c in coeffs.coefficients] == [(9, 13, 8, 8), (5, 7, 8, 8), (5, 7, 8, 8)]
    assert all(c.dtype == np.int16 for c in coeffs.coefficients)
    assert all(q.dtype == np.uint16 and q.shape == (8, 8) for q in coeffs.qtables)
    assert coeffs.component_size(1) == (36, 52)


@pytest.mark.parametrize(
    ("gray", "options"),
    [
        (False, {"subsampling": "444"}),
        (True, {}),
        (False, {"subsampling": "444", "progressive": True}),
    ],
)
def test_coefficients_reconstruct_pillow_planes(
    image: np.ndarray, gray: bool, options: dict
) -> None:
    # Dequantise + orthonormal IDCT + 128 must give what libjpeg decodes, up to integer-IDCT
    # rounding: this pins jpeglib's block order and within-block orientation.
    picture = image[..., 0].copy() if gray else image
    data = JpegCodec(**options).encode(picture, 85)
    coeffs = read_coefficients(data)
    planes = pillow_planes(data)
    assert coeffs.components == planes.shape[2]
    for index in range(coeffs.components):
        ours = np.clip(np.round(coeffs.component_pixels(index)), 0, 255)
        assert ours.shape == planes.shape[:2]
        assert np.abs(ours - planes[..., index]).max() <= 2


def test_luma_reconstructs_with_subsampling(image: np.ndarray) -> None:
    data = JpegCodec("420").encode(image, 50)
    ours = np.clip(np.round(read_coefficients(data).component_pixels(0)), 0, 255)
    assert np.abs(ours - pillow_planes(data)[..., 0]).max() <= 2


@pytest.mark.parametrize("quality", [3, 50, 100])
def test_qtables_match_pillow(image: np.ndarray, quality: int) -> None:
    data = JpegCodec().encode(image, quality)
    coeffs = read_coefficients(data)
    reported = Image.open(io.BytesIO(data)).quantization
    for index, slot in enumerate(read_header(data).qtable_slots):
        assert np.array_equal(coeffs.qtables[index], np.array(reported[slot]).reshape(8, 8))
    gray = read_coefficients(JpegCodec().encode(image[..., 0].copy(), quality))
    assert np.array_equal(gray.qtables[0], np.array(reported[0]).reshape(8, 8))


def test_layout_helpers() -> None:
    blocks = np.arange(2 * 3 * 64).reshape(2, 3, 8, 8)
    image = blocks_to_image(blocks)
    assert image.shape == (16, 24)
    assert np.array_equal(image[8:16, 16:24], blocks[1, 2])
    assert blocks_to_image(blocks, (10, 20)).shape == (10, 20)
    flat = np.zeros((1, 1, 8, 8), np.int16)
    flat[0, 0, 0, 0] = 10
    # DC only: a flat block at 128 + DC * qt / 8 (orthonormal scaling).
    pixels = idct_blocks(dequantize(flat, np.full((8, 8), 4, np.uint16)))
    assert np.allclose(pixels, 128 + 10 * 4 / 8)
