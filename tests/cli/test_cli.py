"""The `rcodec` command as a user runs it: outputs, one-line errors, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import BPG_VECTORS
from PIL import Image

from rcodec.codec import container


def rcodec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rcodec", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "chelsea.png"
    Image.open(BPG_VECTORS / "chelsea.png").crop((0, 0, 160, 120)).save(path)
    return path


@pytest.mark.parametrize(("suffix", "extra"), [(".bpg", ["--qp", "30", "--level", "1"]),
                                               (".jpg", ["--quality", "50"]),
                                               (".rcb", ["--qp", "30", "--level", "1"]),
                                               (".rcb", ["--codec", "jpeg", "--quality", "50"])])
def test_encode_decode_round_trip(tmp_path: Path, source: Path, suffix: str,
                                  extra: list[str]) -> None:
    encoded = tmp_path / f"out{suffix}"
    result = rcodec("encode", str(source), "-o", str(encoded), *extra)
    assert result.returncode == 0, result.stderr
    if suffix == ".rcb":
        assert encoded.read_bytes()[0] == container.NO_FILTER
    decoded = tmp_path / "out.png"
    assert rcodec("decode", str(encoded), "-o", str(decoded)).returncode == 0
    metrics = json.loads(rcodec("metrics", str(source), str(decoded), "--json").stdout)
    assert metrics["psnr"] > 28 and 0.9 < metrics["ms_ssim"] <= 1


def test_info_prints_header_fields(source: Path, tmp_path: Path) -> None:
    out = rcodec("info", str(BPG_VECTORS / "astronaut_q28_10bit.bpg"), "--json")
    info = json.loads(out.stdout)
    assert (info["format"], info["bit_depth"], info["width"]) == ("BPG", 10, 512)
    assert "nal_units" in info


@pytest.mark.parametrize("content", [b"", b"BPG\xfb\x00", b"\x07" + b"garbage" * 10,
                                     b"\xff\xd8\xff\xe0 truncated jpeg"])
def test_bad_files_give_one_line_errors_and_no_output(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.rcb"
    bad.write_bytes(content)
    target = tmp_path / "out.png"
    result = rcodec("decode", str(bad), "-o", str(target))
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(bad) in result.stderr and "Traceback" not in result.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == [bad]


def test_unreadable_image_and_conflicting_options(tmp_path: Path, source: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    result = rcodec("encode", str(text), "-o", str(tmp_path / "x.bpg"))
    assert result.returncode == 1 and "notes.png" in result.stderr
    result = rcodec("encode", str(source), "-o", str(tmp_path / "x.bpg"), "--quality", "50")
    assert result.returncode == 1 and "--qp" in result.stderr
    result = rcodec("encode", str(source), "-o", str(tmp_path / "x.bpg"), "--filter", "edsr")
    assert result.returncode == 1 and "container" in result.stderr
    assert not (tmp_path / "x.bpg").exists()
    # A network for another codec, or an RGB network for a gray image, is refused.
    result = rcodec("encode", str(source), "-o", str(tmp_path / "x.rcb"), "--codec", "jpeg",
                    "--filter", "bpg-s-qp40")
    assert result.returncode == 1 and "is for bpg, not jpeg" in result.stderr
    gray = tmp_path / "gray.png"
    Image.open(source).convert("L").save(gray)
    result = rcodec("encode", str(gray), "-o", str(tmp_path / "x.rcb"), "--filter",
                    "bpg-s-qp40", "--level", "1")
    assert result.returncode == 1 and "this image is gray" in result.stderr
    assert not (tmp_path / "x.rcb").exists()


def test_unknown_selector_is_refused(tmp_path: Path, source: Path) -> None:
    encoded = tmp_path / "a.rcb"
    assert rcodec("encode", str(source), "-o", str(encoded), "--level", "1").returncode == 0
    forged = tmp_path / "forged.rcb"
    forged.write_bytes(bytes([250]) + encoded.read_bytes()[1:])
    result = rcodec("decode", str(forged), "-o", str(tmp_path / "x.png"))
    assert result.returncode == 1 and "selector 250" in result.stderr


def test_sixteen_bit_png_is_written_and_read_back(tmp_path: Path) -> None:
    from helpers import read_png16

    from rcodec.codec.images import write_png

    array = np.random.default_rng(0).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    write_png(tmp_path / "x.png", array)
    assert np.array_equal(read_png16(tmp_path / "x.png"), array)


def test_readme_main_job_runs_on_the_bundled_samples(demo_run: tuple[Path, str]) -> None:
    out, stdout = demo_run
    assert "pooled PSNR" in stdout
    summary = json.loads((out / "compressed" / "manifest.json").read_text())["summary"]
    written = sum(p.stat().st_size for p in (out / "compressed").glob("*.rcb"))
    assert written == summary["total_bytes"] <= summary["budget_bytes"]
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["pooled_psnr"] == pytest.approx(summary["pooled_psnr"], abs=1e-9)
