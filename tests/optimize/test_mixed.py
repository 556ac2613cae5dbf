"""Plans that mix codecs, and the objectives: a mixed plan is never worse than the best
single-codec plan on the same sweep, and each objective raises its own score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import sample_crops

from rcodec.codec.images import image_paths
from rcodec.optimize import job, objective
from rcodec.optimize.request import sweep_requests
from rcodec.optimize.table import plan_summary

CODECS = ["bpg", "webp", "jpeg"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The bundled photographs (160x120 crops) swept with three codecs, no filter."""
    paths = image_paths(sample_crops(tmp_path_factory.mktemp("images"), (0, 0, 160, 120)))
    cache = tmp_path_factory.mktemp("cache")
    rows = []
    for request in sweep_requests(CODECS, "none", None, 0.5, {"level": 1}):
        swept = job.sweep_and_plan(paths, request, job.Budget(bpp="0.5"), cache, jobs=1)
        rows += swept.rows
    return rows


def plan(rows: list[dict], bpp: str, goal: str = "pooled-psnr") -> dict:
    rows = sorted(rows, key=lambda r: (r["image"], r["codec"], r["quantizer"], r["filter"]))
    chosen, max_bytes = job.plan_rows_for(rows, job.Budget(bpp=bpp), objective=goal)
    return plan_summary(rows, chosen, max_bytes, None, goal)


@pytest.mark.parametrize("bpp", ["0.4", "0.5", "0.6"])
def test_a_mixed_plan_is_never_worse_than_one_codec(sweep: list[dict], bpp: str) -> None:
    mixed = plan(sweep, bpp)
    singles = {}
    for name in CODECS:
        try:
            singles[name] = plan([r for r in sweep if r["codec"] == name], bpp)
        except Exception:  # a codec that cannot reach the budget at all
            continue
    assert singles
    best = max(s["pooled_psnr"] for s in singles.values())
    assert mixed["pooled_psnr"] >= best - 1e-9
    assert sum(mixed["codecs"].values()) == mixed["images"]
    assert set(mixed["codecs"]) <= set(CODECS)


def test_each_objective_raises_its_own_score(sweep: list[dict]) -> None:
    pooled = plan(sweep, "0.5", "pooled-psnr")
    mean = plan(sweep, "0.5", "mean-psnr")
    ssim = plan(sweep, "0.5", "ms-ssim")
    assert mean["mean_psnr"] >= pooled["mean_psnr"] - 1e-9
    assert pooled["pooled_psnr"] >= mean["pooled_psnr"] - 1e-9
    assert ssim["mean_ms_ssim"] >= pooled["mean_ms_ssim"] - 1e-9
    assert mean["mean_psnr"] > pooled["mean_psnr"]  # on these photos the objectives differ
    for summary in (pooled, mean, ssim):
        assert summary["status"] == "optimal" and 0 <= summary["gap_in_unit"] < 1e-3
        assert summary["objective_value"] == pytest.approx(
            {"pooled-psnr": summary["pooled_psnr"], "mean-psnr": summary["mean_psnr"],
             "ms-ssim": summary["mean_ms_ssim"]}[summary["objective"]])


def test_losses_are_what_the_objectives_minimise() -> None:
    rows = [{"image": "a", "sse": 300, "pixels": 10, "ms_ssim": 0.9},
            {"image": "a", "sse": 0, "pixels": 10, "ms_ssim": 1.0},
            {"image": "b", "sse": 30, "pixels": 10, "ms_ssim": 0.95}]
    assert objective.losses(rows, "pooled-psnr").tolist() == [300, 0, 30]
    assert np.allclose(objective.losses(rows, "ms-ssim"), [0.1, 0.0, 0.05])
    mean = objective.losses(rows, "mean-psnr")
    assert mean[1] == 0 and mean[2] == 0 and mean[0] == pytest.approx(
        objective.LOSSLESS_PSNR - objective.row_psnr(rows[0]))
    assert objective.default_tune("ms-ssim") == "ssim"
    assert objective.default_tune("mean-psnr") == "psnr"


def test_a_mixed_compress_writes_each_image_with_its_codec(tmp_path: Path) -> None:
    import rcodec

    images = sample_crops(tmp_path / "images", (0, 0, 128, 96), 3)
    result = rcodec.compress(images, tmp_path / "out", bpp=0.5, codec="bpg,webp,jpeg",
                             filters="none", codec_options={"level": 1},
                             cache=tmp_path / "cache", jobs=1)
    assert sum(result.summary["codecs"].values()) == 3
    assert [c["name"] for c in result.manifest["codecs"]] == CODECS
    rcodec.decompress(tmp_path / "out", tmp_path / "decoded", jobs=1)
    for row in result.plan:
        data = (tmp_path / "out" / f"{Path(row['image']).stem}.rcb").read_bytes()
        assert rcodec.info(data)["payload"]["format"] == {
            "bpg": "BPG", "webp": "WebP", "jpeg": "JPEG"}[row["codec"]]
    scores = rcodec.evaluate(images, tmp_path / "decoded")
    assert scores.total_sse == sum(row["predicted_sse"] for row in result.plan)
