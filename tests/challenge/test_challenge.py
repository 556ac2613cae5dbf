"""Challenge submissions end to end: pack, check (and its failures), score, table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from rcodec.challenge.check import check
from rcodec.challenge.pack import submission_bytes
from rcodec.challenge.score import score
from rcodec.challenge.table import format_markdown, qp_table
from rcodec.cli import main
from rcodec.codec.samples import sample_paths
from rcodec.errors import RcodecError


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small photographs of two sizes."""
    folder = tmp_path_factory.mktemp("originals")
    for path, box in zip(sample_paths()[:3], [(0, 0, 200, 150), (0, 0, 160, 120),
                                              (20, 20, 220, 170)], strict=True):
        Image.open(path).convert("RGB").crop(box).save(folder / f"{path.stem}.png")
    return folder


@pytest.fixture(scope="module")
def submission(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pack")
    sub = root / "sub"
    # The reference encoder's tune (ssim) reaches the lower rates these small crops need at
    # 0.35 bpp; the default psnr tune spends more on chroma at every QP. The report (about 950
    # bytes, a third of this cap) counts against the cap and names every candidate network, so
    # the budget leaves the images room above their smallest files as more networks ship.
    assert main(["challenge", "pack", str(images), "--bpp", "0.35", "-o", str(sub),
                 "--level", "1", "--tune", "ssim", "--cache", str(root / "cache"),
                 "--jobs", "1"]) == 0
    return sub


def rules_of(result: list) -> dict[str, bool]:
    return {rule.name: rule.passed for rule in result}


def test_pack_writes_the_layout_within_the_cap(submission: Path, images: Path) -> None:
    report = json.loads((submission / "report.json").read_text())
    pixels = 200 * 150 + 160 * 120 + 200 * 150
    assert report["budget"]["bytes"] == int(0.35 * pixels / 8)
    assert submission_bytes(submission) <= report["budget"]["bytes"]
    names = sorted(p.name for p in (submission / "images").iterdir())
    assert names == sorted(f"{p.stem}.rcb" for p in images.iterdir())
    assert report["plan"]["columns"] == ["image", "quantizer", "filter", "bytes"]
    assert sum(row[3] for row in report["plan"]["rows"]) == sum(
        (submission / "images" / n).stat().st_size for n in names)
    decoder = submission / "decoder"
    assert (decoder / "decode.py").is_file()
    pins = (decoder / "requirements.txt").read_text().split()
    assert any(pin.startswith("av==") for pin in pins)
    # Lazily imported decode paths travel too: the DCT-domain JPEG networks' reader.
    assert (decoder / "lib/rcodec/postfilter/dct.py").is_file()
    assert (decoder / "lib/rcodec/codec/jpeg_dct.py").is_file()
    assert any(pin.startswith("jpeglib==") for pin in pins)
    shipped = json.loads((decoder / "lib/rcodec/postfilter/weights/registry.json").read_text())
    used = {row[2] for row in report["plan"]["rows"]} - {"none"}
    assert {entry["name"] for entry in shipped} == used == set(report["decoder"]["networks"])
    weights = decoder / "lib/rcodec/postfilter/weights"
    # (networks averaging views share their base network's file)
    assert {p.name for p in weights.glob("*.safetensors")} \
        == {entry["weights"] for entry in shipped}


def test_check_passes_and_scores_what_the_plan_predicted(submission: Path, images: Path,
                                                         tmp_path: Path) -> None:
    decoded = tmp_path / "decoded"
    assert main(["challenge", "check", str(submission), "--images", str(images),
                 "--decoded", str(decoded)]) == 0
    result = score(decoded, images, submission / "images")
    report = json.loads((submission / "report.json").read_text())
    assert result["psnr"] == pytest.approx(report["totals"]["pooled_psnr"], abs=1e-9)
    assert result["bytes"] == report["totals"]["total_bytes"]
    assert result["ms_ssim_mean"] == pytest.approx(report["totals"]["mean_ms_ssim"], abs=1e-9)
    weights = [r["pixels"] for r in result["per_image"]]
    weighted = sum(w * r["ms_ssim"] for w, r in zip(weights, result["per_image"], strict=True))
    assert result["ms_ssim_pixel_weighted"] == pytest.approx(weighted / sum(weights))


def test_check_fails_on_a_byte_over_the_cap(submission: Path, images: Path,
                                            tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    shutil.copytree(submission, sub)
    cap = json.loads((sub / "report.json").read_text())["budget"]["bytes"]
    (sub / "extra.bin").write_bytes(b"x" * (cap - submission_bytes(sub) + 1))
    rules = rules_of(check(sub, images))
    assert rules == {"size": False, "decoder": True, "outputs": True}
    (sub / "extra.bin").write_bytes(b"x" * (cap - submission_bytes(sub) + 0))
    assert rules_of(check(sub, images, cap=submission_bytes(sub)))["size"]


def test_check_fails_on_a_missing_png(submission: Path, images: Path, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    shutil.copytree(submission, sub)
    next((sub / "images").glob("*.rcb")).unlink()
    result = check(sub, images)
    assert rules_of(result) == {"size": True, "decoder": True, "outputs": False}
    assert "missing" in result[-1].detail


def test_check_fails_a_decoder_over_its_memory_limit(submission: Path, images: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    code = main(["challenge", "check", str(submission), "--images", str(images),
                 "--memory-limit", "40M"])
    out = capsys.readouterr()
    assert code == 1
    assert "FAIL  decoder  killed over its memory limit" in out.out
    assert "submission fails: decoder, outputs" in out.err


def test_decoder_uses_only_its_own_copy(submission: Path, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    shutil.copytree(submission, sub)
    run = [sys.executable, "-I", str(sub / "decoder" / "decode.py")]
    done = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.stem for p in (sub / "images").glob("*.png")) == sorted(
        p.stem for p in (sub / "images").glob("*.rcb"))  # next to their inputs by default
    shutil.rmtree(sub / "decoder" / "lib" / "rcodec" / "codec")
    done = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode != 0
    assert "not from this decoder" in done.stderr or "No module named" in done.stderr


def test_score_command_json_and_missing_images(submission: Path, images: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    decoded = tmp_path / "decoded"
    decoded.mkdir()
    assert main(["challenge", "score", str(decoded), str(images)]) == 1
    assert "missing" in capsys.readouterr().err
    for original in images.iterdir():
        shutil.copyfile(original, decoded / original.name)  # a lossless "decode"
    assert main(["challenge", "score", str(decoded), str(images), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["psnr"] == float("inf") or result["psnr"] > 100
    assert result["bpp"] is None and result["ms_ssim_mean"] == pytest.approx(1.0)


def test_table_lists_each_qp_and_network(images: Path, tmp_path: Path) -> None:
    markdown = tmp_path / "table.md"
    assert main(["challenge", "table", str(images), "--qps", "40:41", "--level", "1",
                 "--cache", str(tmp_path / "cache"), "--jobs", "1", "--json",
                 str(tmp_path / "t.json"), "--markdown", str(markdown)]) == 0
    table = json.loads((tmp_path / "t.json").read_text())
    assert [row["qp"] for row in table["rows"]] == [40, 41]
    assert table["rows"][0]["bpp"] > table["rows"][1]["bpp"]
    assert table["filters"][0] == "none" and len(table["filters"]) >= 2
    assert markdown.read_text().count("\n") == 4


def test_table_runs_a_quantizer_told_network_only_inside_its_range(images: Path,
                                                                   tmp_path: Path) -> None:
    # bpg-uqd-30-36 is told the QP (the decoder refuses it outside 30-36); bpg-s-qp40 is not,
    # so the table measures it outside its range 36-51 too (that is how a range is chosen).
    result = qp_table(images, "35:37", "bpg-uqd-30-36,bpg-s-qp40", {"level": 1},
                      tmp_path / "cache", jobs=1)
    rows = {row["qp"]: row for row in result["rows"]}
    assert rows[36]["bpg-uqd-30-36"]["psnr"] > rows[36]["none"]["psnr"]
    assert rows[35]["bpg-uqd-30-36"] is not None and rows[37]["bpg-uqd-30-36"] is None
    assert all(rows[qp]["bpg-s-qp40"] is not None for qp in (35, 36, 37))
    last = format_markdown(result).splitlines()[-1]
    assert last.startswith("| 37 |") and last.split("|")[4].strip() == "-"


def test_rd_curves_layout_and_optimality(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "rd"
    assert main(["rd", str(images), "--codec", "bpg", "--bpp", "0.3:0.9:3", "-o", str(out),
                 "--level", "1", "--cache", str(tmp_path / "cache"), "--jobs", "1"]) == 0
    curves = {name: json.loads((out / f"{name}.json").read_text())
              for name in ("bpg-fixed", "bpg-plan", "bpg-plan+filter")}
    for name, curve in curves.items():
        assert curve["name"] == name and curve["description"]
        results = curve["results"]
        assert set(results) == {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
                                "decoding_time"}
        assert results["bpp"] == sorted(results["bpp"])
        assert all(len(point["plan"]) == 3 for point in curve["points"])
    assert [p["target_bpp"] for p in curves["bpg-plan"]["points"]] == [0.3, 0.6, 0.9]
    for planned in ("bpg-plan", "bpg-plan+filter"):
        for point in curves[planned]["points"]:
            assert point["bpp"] <= point["target_bpp"]
            feasible = [p for p in curves["bpg-fixed"]["points"]
                        if p["bpp"] <= point["target_bpp"]]
            # the optimal plan is never worse than one quantizer for all that fits
            assert all(point["psnr"] >= p["psnr"] - 1e-9 for p in feasible)
    plans = zip(curves["bpg-plan"]["points"], curves["bpg-plan+filter"]["points"], strict=True)
    assert all(b["psnr"] >= a["psnr"] - 1e-9 for a, b in plans)
    bd = json.loads((out / "bd.json").read_text())
    assert bd["baseline"] == "bpg-fixed"
    assert bd["curves"]["bpg-fixed"]["bd_rate_percent"] == pytest.approx(0, abs=1e-9)
    for suffix in (".png", ".svg"):
        assert (out / f"rd{suffix}").stat().st_size > 1000


def test_bd_rate_of_a_curve_shifted_in_rate() -> None:
    from rcodec.challenge.rd import Curve, bd_metrics

    rates = [0.1, 0.2, 0.4, 0.8]
    psnrs = [28.0, 30.5, 33.0, 35.5]
    base = Curve("base", "", [{"bpp": r, "psnr": p} for r, p in zip(rates, psnrs, strict=True)])
    cheaper = Curve("cheaper", "", [{"bpp": 0.9 * r, "psnr": p}
                                    for r, p in zip(rates, psnrs, strict=True)])
    result = bd_metrics([base, cheaper], "base")["cheaper"]
    assert result["bd_rate_percent"] == pytest.approx(-10.0, abs=1e-6)
    assert result["bd_psnr_db"] > 0
    with pytest.raises(RcodecError, match="no curve named"):
        bd_metrics([base], "missing")
