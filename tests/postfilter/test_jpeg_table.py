"""The JPEG artifact-removal table: distorted rows, network rows, Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import sample_crops

from rcodec import metrics
from rcodec.cli import main
from rcodec.codec.images import image_paths, read_rgb
from rcodec.codec.jpeg import JpegCodec
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.errors import RcodecError
from rcodec.postfilter.inference import filter_luma
from rcodec.postfilter.jpeg_table import Network, compare, markdown, merge
from rcodec.postfilter.models import build


@pytest.fixture(scope="module")
def val(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_crops(tmp_path_factory.mktemp("val"), (0, 0, 96, 64), 2)


def test_distorted_and_network_rows(val: Path) -> None:
    net = Network("l4 untrained", "l4", build("l4").eval(), (10, 10))
    result = compare(val, [10, 20], [net])
    methods = [(row["quality"], row["method"]) for row in result["rows"]]
    assert methods == [(10, "distorted JPEG"), (10, "l4 untrained"), (20, "distorted JPEG")]
    distorted = result["rows"][0]
    assert 15 < distorted["psnr"] < 40 and 0 < distorted["ssim"] < 1
    assert distorted["psnr_b"] <= distorted["psnr"]  # the blocking penalty only subtracts
    assert result["rows"][1]["params"] == 72_097 and result["rows"][1]["ms_per_mpx"] > 0
    text = markdown(result)
    assert text.count("| 10 |") == 4 and "Published" in text  # 2 measured, 2 published


def test_colour_networks_get_their_own_rgb_rows(val: Path) -> None:
    luma = Network("l4 multi", "l4", build("l4").eval(), (10, 60))
    colour = Network("block context", "block_context", build("block_context").eval(), (20, 20))
    result = compare(val, [10, 20], [luma, colour])
    keys = [(row["space"], row["quality"], row["method"]) for row in result["rows"]]
    assert keys == [("Y", 10, "distorted JPEG"), ("Y", 10, "l4 multi"),
                    ("Y", 20, "distorted JPEG"), ("Y", 20, "l4 multi"),
                    ("RGB", 10, "distorted JPEG"), ("RGB", 20, "distorted JPEG"),
                    ("RGB", 20, "block context")]
    # Colour JPEGs carry chroma loss too: RGB PSNR below the luma one at the same quality.
    assert result["rows"][5]["psnr"] < result["rows"][2]["psnr"]
    text = markdown(result)
    assert "Colour networks" in text and "| 20 | block context |" in text


def test_jpeg_table_command_writes_markdown_and_json(val: Path, tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    assert main(["jpeg-table", str(val), "--qualities", "10", "-o", str(out)]) == 0
    assert "| 10 | distorted JPEG |" in out.read_text()
    assert out.with_suffix(".json").is_file()


def small_uqy(seed: int) -> torch.nn.Module:
    """A small quality-conditioned luma U-Net moved away from its identity start, so that
    its quality plane and its views change the output."""
    torch.manual_seed(seed)
    model = build("UQY", widths=[8, 16], blocks=[1, 1]).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def test_a_quality_conditioned_net_is_told_each_quality(val: Path) -> None:
    model = small_uqy(0)
    net = Network("uqy", "UQY", model, (10, 60))
    rows = {r["quality"]: r for r in compare(val, [20, 40], [net])["rows"]
            if r["method"] == "uqy"}
    for quality, row in rows.items():
        scores = {}
        for told in (20, 40):
            psnrs = []
            for path in image_paths(val):
                luma = metrics.rgb_to_matlab_y(read_rgb(path))
                data = JpegCodec().encode(luma, quality)
                decoded = JpegCodec().decode(data).reshape(luma.shape)
                # (projected onto the file's intervals, as the table and decoders do)
                out = filter_luma(model, decoded, quantizer=told,
                                  coefficients=read_coefficients(data))
                psnrs.append(metrics.psnr(out, luma))
            scores[told] = float(np.mean(psnrs))
        assert scores[20] != scores[40]
        assert row["psnr"] == pytest.approx(scores[quality], abs=1e-9)


def test_views_of_one_network_share_their_runs_and_their_scores(val: Path) -> None:
    model = small_uqy(1)
    one, four = Network("uqy", "UQY", model, (10, 60)), Network("uqy-x4", "UQY", model,
                                                                  (10, 60), views=4)
    runs = []
    hook = model.register_forward_hook(lambda *_: runs.append(1))
    together = {r["method"]: r for r in compare(val, [20], [four, one])["rows"]}
    assert len(runs) == 4 * 2  # four views of each of the two images, not five
    runs.clear()
    alone = {r["method"]: r for net in (one, four) for r in compare(val, [20], [net])["rows"]}
    hook.remove()
    assert len(runs) == 5 * 2
    for name in ("uqy", "uqy-x4"):
        assert together[name]["psnr"] == alone[name]["psnr"]
    assert together["uqy-x4"]["psnr"] != together["uqy"]["psnr"]
    assert 0 < together["uqy"]["ms_per_mpx"] < together["uqy-x4"]["ms_per_mpx"]


def test_bad_qualities_are_a_usage_error(val: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["jpeg-table", str(val), "--qualities", "ten"])
    assert exit_info.value.code != 0
    assert "ten" in capsys.readouterr().err


def row(space: str, quality: int, method: str, psnr: float = 30.0) -> dict:
    return {"space": space, "quality": quality, "method": method, "psnr": psnr}


def test_an_update_replaces_the_rows_of_what_it_measured_and_keeps_the_rest() -> None:
    old = {"images": 2, "folder": "val", "rows": [
        row("Y", 10, "distorted JPEG"), row("Y", 10, "a"), row("Y", 10, "b"),
        row("Y", 20, "distorted JPEG"), row("Y", 20, "a"),
        row("RGB", 20, "distorted JPEG"), row("RGB", 20, "c")]}
    new = {"images": 2, "folder": "val", "rows": [
        row("Y", 10, "distorted JPEG", 99.0), row("Y", 10, "b", 31.0), row("Y", 10, "n"),
        row("Y", 30, "distorted JPEG"), row("Y", 30, "n")]}
    merged = merge(old, new)
    assert [(r["space"], r["quality"], r["method"], r["psnr"]) for r in merged["rows"]] == [
        ("Y", 10, "distorted JPEG", 30.0), ("Y", 10, "a", 30.0), ("Y", 10, "b", 31.0),
        ("Y", 10, "n", 30.0), ("Y", 20, "distorted JPEG", 30.0), ("Y", 20, "a", 30.0),
        ("Y", 30, "distorted JPEG", 30.0), ("Y", 30, "n", 30.0),
        ("RGB", 20, "distorted JPEG", 30.0), ("RGB", 20, "c", 30.0)]
    with pytest.raises(RcodecError, match="cannot update a table of 2 images"):
        merge(old, {**new, "images": 3})


def test_the_command_measures_the_named_networks_into_the_table(
        val: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "table.md"
    common = [str(val), "--qualities", "10", "-o", str(out)]
    assert main(["jpeg-table", *common, "--networks", "jpeg-l4-q10"]) == 0
    assert main(["jpeg-table", *common, "--networks", "jpeg-fast-arcnn-q10", "--update"]) == 0
    methods = [r["method"] for r in json.loads(out.with_suffix(".json").read_text())["rows"]]
    assert methods == ["distorted JPEG", "jpeg-l4-q10", "jpeg-fast-arcnn-q10"]
    assert "| 10 | jpeg-l4-q10 |" in out.read_text()
    capsys.readouterr()
    assert main(["jpeg-table", *common, "--networks", "jpeg-nonesuch"]) != 0
    assert "not registered JPEG networks: jpeg-nonesuch" in capsys.readouterr().err
