"""Decompression bombs: headers that claim huge images are refused before anything is allocated
for them, the limits are settable, and small files cannot make a reader hold many pictures or
walk the image many times."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import BPG_VECTORS
from PIL import Image

import rcodec.codec.bpg as bpg
from rcodec.codec import container
from rcodec.codec import jpeg as jpeg_module
from rcodec.codec import registry as codec_registry
from rcodec.codec.bitstream import UE7_MAX
from rcodec.codec.images import open_image
from rcodec.codec.jpeg import JpegCodec, read_header
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.errors import FormatError
from rcodec.postfilter.pipeline import decode_bytes

#: Peak memory a refused bomb may add, in the reader's own process (imports done before).
REFUSAL_BYTES = 32 << 20


def bpg_with_size(width: int, height: int, name: str = "chelsea_q40.bpg") -> bytes:
    data = (BPG_VECTORS / name).read_bytes()
    header, end = bpg.BpgHeader.parse(data)
    header.width, header.height = width, height
    return header.to_bytes() + data[end:]


def jpeg_bytes(height: int = 40, width: int = 56, **options: object) -> bytes:
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), np.uint8)).save(
        out, "JPEG", quality=50, **options)
    return out.getvalue()


def with_frame_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the size in a JPEG's frame header (baseline or progressive)."""
    at = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, followed by one row of pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(bytes(1 + 3 * min(width, 1000)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row)
            + chunk(b"IEND", b""))


def many_scans(count: int, side: int = 64) -> bytes:
    """A progressive JPEG with `count` extra copies of its last (tiny) scan."""
    data = jpeg_bytes(side, side, progressive=True)
    last_sos = data.rindex(b"\xff\xda")
    return data[:-2] + data[last_sos:-2] * count + b"\xff\xd9"


def animation(frames: int) -> bytes:
    """The reference 4-frame animation with its first P picture repeated `frames` times.

    Each copy gets the next picture order count (8 bits after 5 bits of the slice header)."""
    data = (BPG_VECTORS / "anim_astronaut4.bpg").read_bytes()
    stream = bpg.parse_bpg(data)
    header, _ = bpg.BpgHeader.parse(data)
    intra, predicted = stream.color_nals[1], stream.color_nals[2]
    copies = []
    for count in range(1, frames + 1):
        bits = int.from_bytes(predicted[2:4], "big") & ~(0xFF << 3) | (count & 0xFF) << 3
        copies.append(predicted[:2] + bits.to_bytes(2, "big") + predicted[4:])
    units = [stream.color_nals[0], intra, *copies]
    return (header.to_bytes() + stream.color_header.to_bytes() + units[0]
            + b"".join(b"\x00\x00\x01" + unit for unit in units[1:]))


# --- refused before allocation -----------------------------------------------------------------

MEASURE = """
import json, resource, sys, time
from pathlib import Path
from rcodec.codec.bpg import decode_bpg
from rcodec.codec.jpeg import JpegCodec
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.errors import RcodecError
from rcodec.codec.images import open_image
from rcodec.postfilter.pipeline import decode_bytes
readers = {"decode_bpg": lambda p: decode_bpg(p.read_bytes()),
           "decode_bytes": lambda p: decode_bytes(p.read_bytes()),
           "jpeg_decode": lambda p: JpegCodec().decode(p.read_bytes()),
           "read_coefficients": lambda p: read_coefficients(p.read_bytes()),
           "open_image": open_image}
for reader, path in json.loads(sys.argv[1]):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        readers[reader](Path(path))
        error = None
    except RcodecError as failure:
        error = str(failure)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"reader": reader, "path": path, "error": error,
                      "seconds": time.perf_counter() - started, "grown": (after - before) * 1024}))
"""


def measure(cases: list[tuple[str, Path]]) -> list[dict]:
    """Run each reader on its file in a fresh process: error, seconds, growth of the peak RSS
    (which counts what FFmpeg, libjpeg and numpy allocate; tracemalloc sees only Python)."""
    result = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(
        [(reader, str(path)) for reader, path in cases])], capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stderr
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == len(cases), result.stdout
    return outcomes


def test_huge_headers_are_refused_before_allocation(tmp_path: Path) -> None:
    files = {
        "bpg.bpg": bpg_with_size(UE7_MAX, UE7_MAX),
        "wide.bpg": bpg_with_size(bpg.MAX_IMAGE_PIXELS + 1, 1),
        "tall.rcb": container.pack(0, bpg_with_size(1, bpg.MAX_IMAGE_PIXELS + 1)),
        "jpeg.jpg": with_frame_size(jpeg_bytes(), 65535, 65535),
        "progressive.jpg": with_frame_size(jpeg_bytes(progressive=True), 65535, 65535),
        # Under the cap, but 2 KB of scan data cannot code 256 million pixels.
        "dishonest.jpg": with_frame_size(jpeg_bytes(), 16000, 16000),
        "png.png": png_with_size(100_000, 100_000),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    cases = [("decode_bpg", tmp_path / "bpg.bpg"), ("decode_bpg", tmp_path / "wide.bpg"),
             ("open_image", tmp_path / "bpg.bpg"), ("decode_bytes", tmp_path / "tall.rcb"),
             ("open_image", tmp_path / "png.png")]
    for name in ("jpeg.jpg", "progressive.jpg", "dishonest.jpg"):
        cases += [(reader, tmp_path / name)
                  for reader in ("jpeg_decode", "read_coefficients", "decode_bytes",
                                 "open_image")]
    for outcome in measure(cases):
        assert outcome["error"] is not None, outcome
        assert "\n" not in outcome["error"]
        assert outcome["seconds"] < 1.0 and outcome["grown"] < REFUSAL_BYTES, outcome
    messages = {o["path"]: o["error"] for o in measure(cases[:1] + cases[-2:])}
    assert "pixel cap" in messages[str(tmp_path / "bpg.bpg")]
    assert "cannot code" in messages[str(tmp_path / "dishonest.jpg")]


@pytest.mark.parametrize("call", [
    lambda: bpg.decode_bpg(bpg_with_size(UE7_MAX, UE7_MAX)),
    lambda: JpegCodec().decode(with_frame_size(jpeg_bytes(), 65535, 65535)),
    lambda: read_coefficients(with_frame_size(jpeg_bytes(), 16000, 16000)),
])
def test_refusals_allocate_nothing_in_python(call: Callable[[], object]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(FormatError):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


# --- the limits are settable -------------------------------------------------------------------


def test_bpg_pixel_cap_is_settable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    big = bpg_with_size(20_000, 20_000)  # 4e8 pixels: over the default cap
    with pytest.raises(FormatError, match="pixel cap"):
        bpg.BpgHeader.parse(big)
    monkeypatch.setattr(bpg, "MAX_IMAGE_PIXELS", 20_000 * 20_000)
    assert bpg.BpgHeader.parse(big)[0].width == 20_000
    monkeypatch.setattr(bpg, "MAX_IMAGE_PIXELS", 451 * 300 - 1)
    small = (BPG_VECTORS / "chelsea_q40.bpg").read_bytes()
    (tmp_path / "small.bpg").write_bytes(small)
    for call in (lambda: bpg.decode_bpg(small), lambda: decode_bytes(container.pack(0, small)),
                 lambda: open_image(tmp_path / "small.bpg")):
        with pytest.raises(FormatError, match="pixel cap"):
            call()


def test_jpeg_pixel_cap_is_settable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = jpeg_bytes()
    monkeypatch.setattr(jpeg_module, "MAX_IMAGE_PIXELS", 40 * 56 - 1)
    (tmp_path / "small.jpg").write_bytes(data)
    for call in (lambda: JpegCodec().decode(data), lambda: read_coefficients(data),
                 lambda: open_image(tmp_path / "small.jpg")):
        with pytest.raises(FormatError, match="more than the limit"):
            call()
    monkeypatch.setattr(jpeg_module, "MAX_IMAGE_PIXELS", 40 * 56)
    assert JpegCodec().decode(data).shape == (40, 56, 3)


def test_jpeg_scan_limit_is_settable(monkeypatch: pytest.MonkeyPatch) -> None:
    scans = many_scans(jpeg_module.MAX_SCANS)  # 10 of its own, plus MAX_SCANS copies
    with pytest.raises(FormatError, match="MAX_SCANS"):
        read_header(scans)
    monkeypatch.setattr(jpeg_module, "MAX_SCANS", jpeg_module.MAX_SCANS + 10)
    assert read_header(scans).progressive


def test_pillow_limit_applies_to_input_images(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """PNG, TIFF, ... inputs go through Pillow: its MAX_IMAGE_PIXELS is the limit, and its
    warning (between the limit and twice it) is an error here."""
    path = tmp_path / "input.png"
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(path)
    assert open_image(path).size == (60, 50)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50 * 60 - 1)
    with pytest.raises(FormatError, match="decompression bomb"):
        open_image(path)


# --- small files, much work ---------------------------------------------------------------------


def test_a_jpeg_of_thousands_of_scans_is_refused_at_once() -> None:
    """libjpeg walks every block in every scan: 2000 empty scans of a 1024x1024 image took 0.8 s
    to decode and 2 s to read coefficients (and grows with the size) before the scan limit."""
    data = many_scans(2000, side=1024)
    for reader in (JpegCodec().decode, read_coefficients):
        started = time.perf_counter()
        with pytest.raises(FormatError, match="scans"):
            reader(data)
        assert time.perf_counter() - started < 0.1


def test_an_animation_of_many_frames_holds_one(tmp_path: Path) -> None:
    """A 88 KB file of 301 pictures: the decoder keeps only the one asked for."""
    data = animation(300)
    assert len(data) < 100_000
    first = bpg.decode_bpg(data)
    last = bpg.decode_bpg(data, frame=300)
    assert first.shape == last.shape == (512, 512, 3)
    with pytest.raises(FormatError, match="frame 301 requested, the file has 301"):
        bpg.decode_bpg(data, frame=301)
    (tmp_path / "anim.bpg").write_bytes(data)
    outcome, = measure([("decode_bpg", tmp_path / "anim.bpg")])
    assert outcome["error"] is None
    # 301 frames of 512x512 4:2:0 would be 118 MB; one is 0.4 MB (FFmpeg keeps a few).
    assert outcome["grown"] < REFUSAL_BYTES and outcome["seconds"] < 0.5


def test_max_pixels_caps_every_reader_for_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    """`rcodec --max-pixels` (or $RCODEC_MAX_PIXELS) lowers or raises the caps of BPG, JPEG
    and Pillow's input images together, for worker processes too."""
    from rcodec.cli import main
    from rcodec.codec.limits import ENV

    # Every cap --max-pixels sets is restored after the test (later tests read them).
    codec_modules = [sys.modules[codec_registry.codec_class(n).__module__]
                     for n in codec_registry.names()]
    for module in (*codec_modules, Image):
        monkeypatch.setattr(module, "MAX_IMAGE_PIXELS", module.MAX_IMAGE_PIXELS)
    monkeypatch.setenv(ENV, "")  # (empty: unset; and the variable main sets is undone after)
    png = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 120, 3), np.uint8)).save(png)
    encoded = {s: tmp_path / f"a{s}" for s in (".bpg", ".jpg")}
    for path in encoded.values():
        assert main(["encode", str(png), "-o", str(path), "--level", "1"]) == 0
    capsys.readouterr()

    assert main(["--max-pixels", "10k", "encode", str(png), "-o", str(tmp_path / "b.bpg")]) == 1
    assert str(png) in capsys.readouterr().err
    for path in encoded.values():
        assert main(["--max-pixels", "10k", "decode", str(path), "-o",
                     str(tmp_path / "x.png")]) == 1
        assert "10000" in capsys.readouterr().err
    assert os.environ[ENV] == "10000"  # what workers started now would read
    assert main(["--max-pixels", "12k", "decode", str(encoded[".bpg"]), "-o",
                 str(tmp_path / "x.png")]) == 0
    assert main(["--max-pixels", "lots", "info", str(encoded[".bpg"])]) == 1
    assert "cannot read pixel count 'lots'" in capsys.readouterr().err

    env = {**os.environ, ENV: "10k"}
    done = subprocess.run([sys.executable, "-m", "rcodec", "decode", str(encoded[".jpg"]), "-o",
                           str(tmp_path / "y.png")], capture_output=True, text=True, env=env,
                          check=False)
    assert done.returncode == 1 and "10000" in done.stderr
    assert not (tmp_path / "y.png").exists()
