"""Fuzzing the readers of untrusted files: the BPG parser and decoder, the .rcb container
(through `rcodec.postfilter.pipeline.decode_bytes`) and the JPEG path (header check, pixel
decoder, coefficients).

Inputs are mutations of real files: the reference BPG vectors, our own encoder's outputs and
JPEGs written by Pillow, damaged by bit flips, byte replacements, truncation, insertions,
deletions, duplicated runs and edits of header fields. Every case must end in a decoded image of
the size its header states, or in an RcodecError with a one-line message, within a second.

CI runs a bounded, reproducible number of cases. For a long run (see SECURITY.md):

    RCODEC_FUZZ_EXAMPLES=5000 RCODEC_FUZZ_SEED=1 python -m pytest -q tests/test_fuzz.py

RCODEC_FUZZ_EXAMPLES sets the cases per fuzz test, RCODEC_FUZZ_SEED draws other cases than
CI's fixed ones, RCODEC_FUZZ_SECONDS changes the per-case time bound (default 1).
"""

from __future__ import annotations

import collections
import io
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from helpers import BPG_VECTORS
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

import rcodec.codec.bpg as bpg
from rcodec.codec import container
from rcodec.codec import jpeg as jpeg_module
from rcodec.codec import registry as codec_registry
from rcodec.codec.bitstream import UE7_MAX, write_ue7
from rcodec.codec.images import open_image
from rcodec.codec.jpeg import JpegCodec, read_header
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.errors import RcodecError
from rcodec.postfilter.pipeline import decode_bytes

#: Cases per fuzz test in CI (about 20 s for the whole file on two busy cores).
CI_EXAMPLES = {"bpg": 700, "container": 300, "jpeg": 700, "others": 600}
EXAMPLES = int(os.environ.get("RCODEC_FUZZ_EXAMPLES", "0"))
SEED = os.environ.get("RCODEC_FUZZ_SEED")
CASE_SECONDS = float(os.environ.get("RCODEC_FUZZ_SECONDS", "1.0"))

#: Pixel cap while fuzzing: a header may honestly claim up to this many pixels, and decoding
#: that many must stay within the time bound. (The shipped caps are far larger; see bombs tests.)
FUZZ_PIXELS = 1 << 20
#: Peak memory a fuzz test may add: generous for FUZZ_PIXELS-sized decodes, far below a bomb's.
MEMORY_BOUND = 512 << 20
#: How the calls ended, by function and result type (printed after each fuzz test, see -s).
OUTCOMES: collections.Counter[str] = collections.Counter()


def fuzz_settings(name: str) -> Callable:
    """Bounded, reproducible hypothesis settings; a seed from the environment when given."""
    configured = settings(
        max_examples=EXAMPLES or CI_EXAMPLES[name],
        derandomize=SEED is None,
        database=None,
        deadline=None,  # timed per call below, so that the bound is on our code, not hypothesis
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much],
    )

    def decorate(test: Callable) -> Callable:
        test = configured(test)
        return seed(int(SEED))(test) if SEED is not None else test

    return decorate


@pytest.fixture(scope="module", autouse=True)
def fuzz_pixel_caps() -> Iterator[None]:
    """Lower every codec's pixel cap (module attributes, settable like Pillow's) while
    fuzzing."""
    modules = [sys.modules[codec_registry.codec_class(n).__module__]
               for n in codec_registry.names()]
    saved = [module.MAX_IMAGE_PIXELS for module in modules]
    for module in modules:
        module.MAX_IMAGE_PIXELS = FUZZ_PIXELS
    yield
    for module, cap in zip(modules, saved, strict=True):
        module.MAX_IMAGE_PIXELS = cap


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def outcome(call: Callable, data: bytes) -> object:
    """The call's result or its RcodecError; anything else escapes, and so fails the case."""
    started = time.perf_counter()
    try:
        result = call(data)
    except RcodecError as error:
        result = error
        message = str(error)
        assert message and "\n" not in message, f"not a one-line message: {message!r}"
    elapsed = time.perf_counter() - started
    OUTCOMES[f"{call.__name__}: {type(result).__name__}"] += 1
    assert elapsed < CASE_SECONDS, f"{call.__name__} took {elapsed:.2f} s"
    return result


# --- seeds ------------------------------------------------------------------------------------


def natural_image(height: int, width: int, seed_value: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed_value)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([128 + 90 * np.sin(x / 7 + y / 11), 128 + 80 * np.cos(y / 5 - x / 13),
                      60 + 2 * x + y], axis=-1) + rng.normal(0, 6, (height, width, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def own_bpg_outputs() -> list[bytes]:
    """Small files from our encoder in the formats the reference vectors do not cover."""
    rgb = natural_image(24, 40)
    gray_alpha = np.stack([rgb[..., 0], rgb[..., 1]], axis=-1)
    return [
        bpg.encode_bpg(rgb, qp=30, level=1),
        bpg.encode_bpg(rgb, qp=30, level=1, pixel_format="444", bit_depth=10),
        bpg.encode_bpg(rgb, qp=30, level=1, color_space="ycgco", pixel_format="422_video"),
        bpg.encode_bpg(rgb, qp=30, level=1, color_space="rgb", limited_range=True),
        bpg.encode_bpg(gray_alpha, qp=30, level=1),
        bpg.encode_bpg(np.dstack([rgb, rgb[..., 2]]), qp=35, level=1, pixel_format="gray"),
    ]


@pytest.fixture(scope="module")
def bpg_seeds() -> list[bytes]:
    vectors = [p.read_bytes() for p in sorted(BPG_VECTORS.glob("*.bpg"))]
    return vectors + own_bpg_outputs()


def pillow_jpeg(image: np.ndarray, mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).convert(mode).save(out, "JPEG", **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def jpeg_seeds() -> list[bytes]:
    image = natural_image(41, 57, 1)
    return [
        pillow_jpeg(image, quality=75),
        pillow_jpeg(image, quality=90, subsampling=0),
        pillow_jpeg(image, quality=60, subsampling=1, optimize=True),
        pillow_jpeg(image, "L", quality=50),
        pillow_jpeg(image, quality=70, progressive=True),
        pillow_jpeg(image, quality=80, progressive=True, optimize=True, subsampling=0),
        pillow_jpeg(image, "CMYK", quality=85),
        pillow_jpeg(image, quality=100, restart_marker_blocks=3, icc_profile=b"icc" * 40,
                    exif=b"Exif\x00\x00MM\x00*" + bytes(24)),
        pillow_jpeg(image[:1, :1], quality=75),
        pillow_jpeg(image[:9, :17], quality=30, subsampling=2),
    ]


@pytest.fixture(scope="module")
def container_seeds() -> list[bytes]:
    """Our own outputs: containers with and without a post-filter, plain BPG and JPEG."""
    rgb = natural_image(24, 40, 2)
    small_bpg = bpg.encode_bpg(rgb, qp=36, level=1)
    rgba_bpg = bpg.encode_bpg(np.dstack([rgb, rgb[..., 0]]), qp=36, level=1)
    small_jpeg = JpegCodec().encode(rgb, 60)
    gray_jpeg = JpegCodec().encode(rgb[..., 1], 60)
    filter_selector = min(container_filter_selectors(), default=container.NO_FILTER)
    seeds = [
        container.pack(container.NO_FILTER, small_bpg),
        container.pack(filter_selector, small_bpg),
        container.pack(container.NO_FILTER, rgba_bpg),
        container.pack(container.NO_FILTER, small_jpeg),
        container.pack(container.NO_FILTER, gray_jpeg),
        small_bpg,
        small_jpeg,
    ]
    for data in seeds:  # loads torch and the network once, outside the timed cases
        decode_bytes(data)
    return seeds


#: The codecs fuzzed by test_fuzz_other_codecs (BPG and JPEG have targets of their own).
OTHER_CODECS = ("avif", "webp", "jxl", "j2k")


@pytest.fixture(scope="module")
def other_seeds() -> list[bytes]:
    """Our own AVIF, WebP, JPEG XL and JPEG 2000 files: colour and gray, two sizes, the
    JPEG XL container and JP2 forms too."""
    import imagecodecs

    rgb = natural_image(33, 47, 3)
    seeds = []
    for name in OTHER_CODECS:
        codec = codec_registry.make_codec(name)
        quantizer = codec_registry.codec_class(name).typical_quantizer
        seeds += [codec.encode(rgb, quantizer), codec.encode(rgb[:9, :13, 1], quantizer)]
    seeds.append(bytes(imagecodecs.jpegxl_encode(rgb, level=60, usecontainer=True)))
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG2000", quality_mode="rates", quality_layers=[20])
    seeds.append(out.getvalue())
    for data in seeds:  # imports each codec's library outside the timed cases
        codec_registry.codec_for_bytes(data)().decode(data)
    return seeds


def decode_any(data: bytes) -> object:
    """The decode of whichever codec the bytes claim to be (unknown bytes: FormatError)."""
    return codec_registry.codec_for_bytes(data)().decode(data)


def info_any(data: bytes) -> object:
    return codec_registry.codec_for_bytes(data).info(data)


def check_other(data: bytes) -> None:
    info = outcome(info_any, data)
    decoded = outcome(decode_any, data)
    if isinstance(decoded, np.ndarray):
        assert isinstance(info, dict), info
        assert decoded.dtype == np.uint8 and decoded.ndim in (2, 3)
        assert decoded.shape[:2] == (info["height"], info["width"])
        assert decoded.shape[0] * decoded.shape[1] <= FUZZ_PIXELS
        again = decode_any(data)  # the same bytes decode to the same pixels
        assert np.array_equal(decoded, again)


def container_filter_selectors() -> frozenset[int]:
    from rcodec.postfilter import registry

    return registry.known_selectors()


# --- mutations --------------------------------------------------------------------------------

HeaderEdit = Callable[[st.DrawFn, bytearray], bytearray]


def position(draw: st.DrawFn, size: int) -> int:
    """An offset, half the time within the first 64 bytes where the headers are."""
    if size <= 1:
        return 0
    head = st.integers(0, min(size, 64) - 1)
    return draw(st.one_of(head, st.integers(0, size - 1)))


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes], header_edit: HeaderEdit | None = None) -> bytes:
    """A seed after one to three random damages (positions biased towards the headers)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    kinds = ["flip", "replace", "truncate", "insert", "delete", "duplicate", "repeat"]
    if header_edit is not None:
        kinds += ["header", "header"]
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        kind = draw(st.sampled_from(kinds))
        at = position(draw, len(data))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "replace":
            value = draw(st.one_of(st.sampled_from([0x00, 0xFF, 0x80, 0x01]), st.integers(0, 255)))
            data[at] = value
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.one_of(st.binary(min_size=1, max_size=8),
                                         st.sampled_from([b"\x00\x00\x01", b"\xff\xd9",
                                                          b"\xff\xd8", b"\xff\x00"])))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            length = draw(st.integers(1, 64))
            data[at:at] = data[at : at + length]
        elif kind == "repeat":  # many copies of a short run: NAL units, scans, extensions
            chunk = bytes(data[at : at + draw(st.integers(1, 32))])
            data[at:at] = chunk * draw(st.integers(2, 300))
        else:
            data = header_edit(draw, data)
    return bytes(data)


SIZES = st.one_of(st.sampled_from([0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1023, 1024, 4096,
                                   65535, 65536, 1 << 20, UE7_MAX]),
                  st.integers(0, UE7_MAX))


def bpg_header_edit(draw: st.DrawFn, data: bytearray) -> bytearray:
    """Change one field of a BPG header and write the header back."""
    try:
        header, end = bpg.BpgHeader.parse(bytes(data))
    except RcodecError:
        return data
    field = draw(st.sampled_from(["pixel_format", "bit_depth", "color_space", "alpha1", "alpha2",
                                  "limited_range", "animation", "width", "height",
                                  "picture_data_length", "extension", "animation_control"]))
    if field == "pixel_format":
        header.pixel_format = draw(st.integers(0, 7))
    elif field == "bit_depth":
        header.bit_depth = draw(st.integers(8, 23))
    elif field == "color_space":
        header.color_space = draw(st.integers(0, 15))
    elif field in ("alpha1", "alpha2", "limited_range", "animation"):
        setattr(header, field, not getattr(header, field))
    elif field in ("width", "height"):
        setattr(header, field, draw(SIZES))
    elif field == "picture_data_length":
        header.picture_data_length = draw(st.integers(0, len(data) + 16))
    elif field == "extension":
        header.extensions.append((draw(st.integers(0, 300)), draw(st.binary(max_size=16))))
    else:
        values = draw(st.lists(st.integers(0, 1 << 17), min_size=0, max_size=4))
        payload = b"".join(write_ue7(v) for v in values)
        header.extensions.append((5, payload))
    return bytearray(header.to_bytes() + bytes(data[end:]))


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset of its length field, end) of each segment before the first scan."""
    out, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        out.append((marker, pos + 2, end))
        if marker == 0xDA or end > len(data):
            break
        pos = end
    return out


def jpeg_header_edit(draw: st.DrawFn, data: bytearray) -> bytearray:
    """Change the frame size, a segment's length or a byte inside a segment before the scan."""
    segments = jpeg_segments(bytes(data))
    if not segments:
        return data
    marker, at, end = draw(st.sampled_from(segments))
    choice = draw(st.sampled_from(["size", "length", "body"]))
    if choice == "size" and 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
        height, width = draw(st.integers(0, 65535)), draw(st.integers(0, 65535))
        data[at + 3 : at + 7] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    elif choice == "length":
        data[at : at + 2] = draw(st.integers(0, 65535)).to_bytes(2, "big")
    elif min(end, len(data)) > at + 2:
        index = draw(st.integers(at + 2, min(end, len(data)) - 1))
        data[index] = draw(st.integers(0, 255))
    return data


def container_edit(draw: st.DrawFn, data: bytearray) -> bytearray:
    """A new selector byte, or a BPG header edit of the payload."""
    if draw(st.booleans()):
        return bytearray([draw(st.integers(0, 255))]) + data[1:]
    if data[1:5] == bpg.MAGIC:
        return data[:1] + bpg_header_edit(draw, data[1:])
    return data[:1] + jpeg_header_edit(draw, data[1:])


# --- expectations -----------------------------------------------------------------------------


def bpg_shape(data: bytes, drop_alpha: bool = False) -> tuple[int, ...]:
    header, _ = bpg.BpgHeader.parse(data)
    alpha = header.has_alpha and not header.has_w_plane and not drop_alpha
    return (header.height, header.width, 4 if alpha else 3)


def jpeg_shape(data: bytes) -> tuple[int, ...]:
    header = read_header(data)
    if header.components == 1:
        return (header.height, header.width)
    return (header.height, header.width, 3)


def through_pillow(path: Path) -> Callable[[bytes], object]:
    """open_image (the reader of input images, through Pillow) on the bytes, via a file."""

    def open_image_file(data: bytes) -> object:
        path.write_bytes(data)
        return open_image(path)

    return open_image_file


def check_bpg(data: bytes, path: Path) -> None:
    parsed = outcome(bpg.parse_bpg, data)
    info = outcome(bpg.read_bpg_info, data)
    decoded = outcome(bpg.decode_bpg, data)
    image = outcome(through_pillow(path), data)
    if isinstance(decoded, np.ndarray):
        assert isinstance(parsed, bpg.BpgStream) and isinstance(info, dict)
        assert decoded.dtype == np.uint8
        assert decoded.shape == bpg_shape(data)
    if isinstance(image, Image.Image):
        # Not compared with `decoded`: on some damaged HEVC data FFmpeg reads memory it never
        # initialised (valgrind shows it), so two decodes of one damaged file may differ, or
        # one may fail (SECURITY.md). Valid files decode the same every time.
        header, _ = bpg.BpgHeader.parse(data)
        assert image.size == (header.width, header.height)


def decode_bytes_one_thread(data: bytes) -> np.ndarray:
    """decode_bytes with a one-thread post-filter: on a busy machine torch's thread pool can
    stall far beyond a second on small images, which would time the machine, not the code."""
    return decode_bytes(data, threads=1)


def check_container(data: bytes) -> None:
    decoded = outcome(decode_bytes_one_thread, data)
    if not isinstance(decoded, np.ndarray):
        return
    assert decoded.dtype == np.uint8
    if data.startswith(bpg.MAGIC):
        assert decoded.shape == bpg_shape(data)
    elif data.startswith(JpegCodec.magic):
        assert decoded.shape == jpeg_shape(data)
    elif data[1:5] == bpg.MAGIC:
        assert decoded.shape == bpg_shape(data[1:], drop_alpha=True)
    else:
        assert decoded.shape == jpeg_shape(data[1:])


def check_jpeg(data: bytes, path: Path) -> None:
    header = outcome(read_header, data)
    decoded = outcome(JpegCodec().decode, data)
    coefficients = outcome(read_coefficients, data)
    image = outcome(through_pillow(path), data)
    if isinstance(image, Image.Image):
        assert isinstance(header, jpeg_module.JpegHeader)
        assert image.size == (header.width, header.height)
    if isinstance(decoded, np.ndarray):
        assert isinstance(header, jpeg_module.JpegHeader)
        assert decoded.dtype == np.uint8 and decoded.shape == jpeg_shape(data)
    if not isinstance(coefficients, RcodecError):
        assert isinstance(header, jpeg_module.JpegHeader)
        assert (coefficients.height, coefficients.width) == (header.height, header.width)
        assert coefficients.components == header.components
        for index, plane in enumerate(coefficients.coefficients):
            rows, cols = coefficients.component_size(index)
            assert plane.shape == (-(-rows // 8), -(-cols // 8), 8, 8)


# --- the fuzz tests ---------------------------------------------------------------------------


def run_bounded(fuzz: Callable[[], None], target: str, readers: Sequence[str]) -> None:
    """Run a hypothesis test; check that it did not add more than MEMORY_BOUND of peak RSS,
    that every reader ran on every case, and that the cases reached both sides of each
    reader: files it decodes and files it refuses (a mutator that only ever breaks the
    header, or never does, would test much less than it seems to)."""
    before = peak_rss()
    OUTCOMES.clear()
    fuzz()
    assert peak_rss() - before < MEMORY_BOUND
    calls = {reader: {kind.split(": ", 1)[1]: count for kind, count in OUTCOMES.items()
                      if kind.split(": ", 1)[0] == reader} for reader in readers}
    totals = {reader: sum(kinds.values()) for reader, kinds in calls.items()}
    assert len(set(totals.values())) == 1, totals  # each case ran every reader once
    assert min(totals.values()) >= (EXAMPLES or CI_EXAMPLES[target]) // 2, totals
    for reader, kinds in calls.items():
        refused = sum(count for kind, count in kinds.items() if kind.endswith("Error"))
        assert 0 < refused < totals[reader], (reader, kinds)


def test_fuzz_bpg(bpg_seeds: list[bytes], tmp_path: Path) -> None:
    @fuzz_settings("bpg")
    @given(mutated(bpg_seeds, bpg_header_edit))
    def fuzz(data: bytes) -> None:
        check_bpg(data, tmp_path / "fuzz.bpg")

    run_bounded(fuzz, "bpg", ["parse_bpg", "read_bpg_info", "decode_bpg", "open_image_file"])


def test_fuzz_container(container_seeds: list[bytes]) -> None:
    @fuzz_settings("container")
    @given(mutated(container_seeds, container_edit))
    def fuzz(data: bytes) -> None:
        check_container(data)

    run_bounded(fuzz, "container", ["decode_bytes_one_thread"])


def test_fuzz_jpeg(jpeg_seeds: list[bytes], tmp_path: Path) -> None:
    @fuzz_settings("jpeg")
    @given(mutated(jpeg_seeds, jpeg_header_edit))
    def fuzz(data: bytes) -> None:
        check_jpeg(data, tmp_path / "fuzz.jpg")

    run_bounded(fuzz, "jpeg", ["read_header", "decode", "read_coefficients", "open_image_file"])


def test_fuzz_other_codecs(other_seeds: list[bytes]) -> None:
    @fuzz_settings("others")
    @given(mutated(other_seeds))
    def fuzz(data: bytes) -> None:
        check_other(data)

    run_bounded(fuzz, "others", ["info_any", "decode_any"])


def test_seeds_decode_unharmed(bpg_seeds: list[bytes], jpeg_seeds: list[bytes],
                               container_seeds: list[bytes], tmp_path: Path) -> None:
    """The unmutated seeds are valid files: the checks above hold for them with an image."""
    for data in bpg_seeds:
        header, _ = bpg.BpgHeader.parse(data)
        if header.width * header.height <= FUZZ_PIXELS:
            check_bpg(data, tmp_path / "seed.bpg")
            assert isinstance(bpg.decode_bpg(data), np.ndarray)
    for data in jpeg_seeds:
        check_jpeg(data, tmp_path / "seed.jpg")
        assert isinstance(JpegCodec().decode(data), np.ndarray)
    for data in container_seeds:
        check_container(data)
        assert isinstance(decode_bytes(data), np.ndarray)


#: Damaged reference vectors (byte offset, bits flipped) that FFmpeg's two wavefront threads
#: decoded to a different picture from one call to the next (they raced on the damaged rows);
#: the decoder now runs one thread and checks the rows' entry points itself.
RACY_FILES = {"coffee_q28.bpg": [(12128, 64), (13308, 128), (13837, 16)],
              "astronaut_q28_444.bpg": [(15877, 4), (27294, 16)],
              "coffee768x512_q40.bpg": [(1387, 64), (3287, 128), (4412, 128)]}


def test_damaged_bpg_decodes_the_same_every_time() -> None:
    for name, flips in RACY_FILES.items():
        data = bytearray((BPG_VECTORS / name).read_bytes())
        for offset, bits in flips:
            data[offset] ^= bits
        outputs = set()
        for _ in range(15):
            try:
                outputs.add(bpg.decode_bpg(bytes(data)).tobytes())
            except RcodecError as error:
                outputs.add(str(error).encode())
        assert len(outputs) == 1, f"{name}: {len(outputs)} different outcomes"


def test_truncated_bpg_files_are_refused() -> None:
    """Cut anywhere inside the picture data, the slice's entry points run past what is
    left: the reader refuses those files itself (FFmpeg's one-thread decoder alone refuses
    20 of these 30; its two-thread path refused 26, but raced on damaged rows)."""
    data = (BPG_VECTORS / "coffee768x512_q40.bpg").read_bytes()
    refused = 0
    for i in range(1, 31):
        try:
            bpg.decode_bpg(data[: len(data) * i // 31])
        except RcodecError:
            refused += 1
    assert refused >= 26
