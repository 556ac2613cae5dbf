"""The main job: sweep, plan, compress, decompress and evaluate keep their guarantees."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import sample_crops
from PIL import Image

from rcodec import metrics
from rcodec.cli import main
from rcodec.codec.bpg import decode_bpg, encode_bpg
from rcodec.errors import BudgetError
from rcodec.optimize import job
from rcodec.optimize.cache import SweepCache
from rcodec.optimize.sweep import CodecSpec, SweepRequest, run_sweep
from rcodec.optimize.table import COLUMNS, read_sweep, to_candidates, write_csv
from rcodec.postfilter import registry

FAST_BPG = CodecSpec("bpg", (("level", 1),))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Five small photographs: the bundled samples cropped to keep the sweep quick."""
    return sample_crops(tmp_path_factory.mktemp("images"), (40, 40, 200, 160))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def paths_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def test_sweep_rows_describe_the_decoded_output(images: Path, cache: Path) -> None:
    request = SweepRequest(FAST_BPG, quantizers=(36, 40))
    rows = run_sweep(paths_of(images), request, cache, jobs=1)
    assert len(rows) == 10 and set(rows[0]) == set(COLUMNS)
    row = rows[0]
    source = np.asarray(Image.open(images / row["image"]).convert("RGB"))
    payload = encode_bpg(source, qp=row["quantizer"], level=1)
    assert row["bytes"] == len(payload) + 1  # selector byte included
    assert row["sse"] == metrics.sse(decode_bpg(payload), source)
    assert row["pixels"] == source.shape[0] * source.shape[1]


def test_sweep_is_the_same_whatever_the_job_count_and_cache(images: Path, tmp_path: Path,
                                                            cache: Path) -> None:
    request = SweepRequest(FAST_BPG, quantizers=(38,))
    fresh = run_sweep(paths_of(images), request, tmp_path / "a", jobs=2)
    cached = run_sweep(paths_of(images), request, cache, jobs=1)
    timings = ("decode_seconds", "encode_seconds")
    strip = [{k: v for k, v in r.items() if k not in timings} for r in fresh]
    assert strip == [{k: v for k, v in r.items() if k not in timings} for r in cached]


def test_corrupt_cache_entries_are_recomputed(images: Path, tmp_path: Path) -> None:
    request = SweepRequest(FAST_BPG, quantizers=(40,))
    first = run_sweep(paths_of(images)[:1], request, tmp_path, jobs=1)
    for entry in itertools.chain(tmp_path.rglob("*.bin"), tmp_path.rglob("*.json")):
        entry.write_bytes(entry.read_bytes()[:-3] + b"xyz")
    again = run_sweep(paths_of(images)[:1], request, tmp_path, jobs=1)
    assert [r["sse"] for r in again] == [r["sse"] for r in first]
    assert SweepCache(tmp_path).get_bytes("0" * 64) is None


def test_adaptive_window_brackets_the_target(images: Path, cache: Path) -> None:
    request = SweepRequest(FAST_BPG, target_bpp=0.3, half_width=3)
    rows = run_sweep(paths_of(images), request, cache, jobs=2)
    for name in {r["image"] for r in rows}:
        mine = sorted((r for r in rows if r["image"] == name), key=lambda r: r["quantizer"])
        assert len(mine) == 7
        rates = [8 * r["bytes"] / r["pixels"] for r in mine]
        assert rates[0] > 0.3 > rates[-1]


def test_compress_meets_the_budget_and_decodes_to_the_predicted_error(
        images: Path, cache: Path, tmp_path: Path) -> None:
    request = SweepRequest(FAST_BPG, target_bpp=0.3, half_width=2)
    out = tmp_path / "out"
    manifest = job.compress(images, out, job.Budget(bpp="0.3"), request, cache, jobs=2)
    files = sorted(out.glob("*.rcb"))
    assert [f.stem for f in files] == sorted(p.stem for p in paths_of(images))
    assert sum(f.stat().st_size for f in files) <= manifest["summary"]["budget_bytes"]
    decoded = tmp_path / "png"
    job.decompress(out, decoded, jobs=2)
    for row in manifest["plan"]:
        source = np.asarray(Image.open(images / row["image"]).convert("RGB"))
        output = np.asarray(Image.open(decoded / f"{Path(row['image']).stem}.png"))
        assert metrics.sse(output, source) == row["predicted_sse"]
    assert manifest["versions"]["x265"] and manifest["summary"]["status"] == "optimal"
    # The window was widened until no chosen quantizer sits on its edge.
    rows = [r for r in manifest["plan"]]
    assert all(0 < r["quantizer"] < 51 for r in rows)
    evaluation = job.evaluate(images, decoded)
    assert evaluation["pooled_psnr"] == pytest.approx(manifest["summary"]["pooled_psnr"])


def test_plan_matches_brute_force_on_the_real_sweep(images: Path, cache: Path) -> None:
    request = SweepRequest(FAST_BPG, quantizers=(34, 38, 42))
    rows = sorted(run_sweep(paths_of(images)[:4], request, cache, jobs=2),
                  key=lambda r: (r["image"], r["quantizer"]))
    budget = job.Budget(bpp="0.25")
    plan, max_bytes = job.plan_rows_for(rows, budget)
    candidates, names = to_candidates(rows)
    per_image = [[i for i, r in enumerate(rows) if r["image"] == n] for n in names]
    best = min((sum(rows[i]["sse"] for i in combo) for combo in itertools.product(*per_image)
                if sum(rows[i]["bytes"] for i in combo) <= max_bytes), default=None)
    assert best is not None and plan.total_sse == best


def test_infeasible_budget_names_the_smallest_size(images: Path, cache: Path) -> None:
    rows = run_sweep(paths_of(images)[:2], SweepRequest(FAST_BPG, quantizers=(40,)), cache)
    with pytest.raises(BudgetError, match=str(sum(r["bytes"] for r in rows))):
        job.plan_rows_for(rows, job.Budget(bytes=100))


def test_sweep_plan_compress_commands(images: Path, cache: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    table = tmp_path / "sweep.csv"
    common = ["--cache", str(cache), "--level", "1", "--jobs", "2"]
    # By default the codec's default networks are candidates beside no filter, each at the
    # quantizers of its range.
    defaults = {e.name: e.quantizer_range for e in registry.load_registry()
                if e.codec == "bpg" and e.default}
    assert main(["sweep", str(images), "-o", str(table), "--qps", "36:44:4", *common]) == 0
    rows = read_sweep(table)
    assert {r["filter"] for r in rows} == {"none", *defaults} and defaults
    offered = {(qp, name) for qp in (36, 40, 44) for name, (low, high) in defaults.items()
               if low <= qp <= high}
    assert {(r["quantizer"], r["filter"]) for r in rows if r["filter"] != "none"} == offered
    assert len(rows) == 5 * (3 + len(offered))
    assert main(["sweep", str(images), "-o", str(table), "--qps", "36:44:4", "--filters",
                 "none", *common]) == 0
    assert len(read_sweep(table)) == 15
    plan_csv = tmp_path / "plan.csv"
    assert main(["plan", str(table), "--bpp", "0.3", "-o", str(plan_csv), "--json",
                 str(tmp_path / "plan.json")]) == 0
    assert "proved gap" in capsys.readouterr().out
    assert json.loads((tmp_path / "plan.json").read_text())["images"] == 5
    assert main(["plan", str(table), "--bytes", "10", "-o", str(plan_csv)]) == 1
    assert "smallest" in capsys.readouterr().err


def test_solver_time_limit_reaches_every_solve(images: Path, cache: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    limits = []
    real_solve = job.solve

    def recording_solve(*args, **kwargs):
        limits.append(args[4] if len(args) > 4 else kwargs["time_limit"])
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(job, "solve", recording_solve)
    common = ["--cache", str(cache), "--level", "1", "--jobs", "1", "--qps", "36:44:4",
              "--filters", "none", "--bpp", "0.3", "--time-limit", "7s"]
    assert main(["compress", str(images), "-o", str(tmp_path / "out"), *common]) == 0
    assert main(["challenge", "pack", str(images), "-o", str(tmp_path / "sub"), *common]) == 0
    assert len(limits) >= 2 and set(limits) == {7.0}


def test_dask_backend_gives_the_same_rows(images: Path, cache: Path) -> None:
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    request = SweepRequest(FAST_BPG, quantizers=(40,))
    expected = run_sweep(paths_of(images), request, cache, jobs=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        rows = run_sweep(paths_of(images), request, cache, backend="dask")
    assert [r["sse"] for r in rows] == [r["sse"] for r in expected]


def test_table_round_trip(tmp_path: Path) -> None:
    rows = [{"image": "a.png", "codec": "bpg", "quantizer": 30, "filter": "none", "bytes": 10,
             "sse": 5, "pixels": 4, "psnr": 50.0, "ms_ssim": 0.9, "decode_seconds": 0.1,
             "decode_time_source": "measured", "encode_seconds": 0.25}]
    write_csv(tmp_path / "t.csv", rows, COLUMNS)
    assert read_sweep(tmp_path / "t.csv") == rows
    untimed = [{**rows[0], "encode_seconds": None}]  # encoded before timing was recorded
    write_csv(tmp_path / "u.csv", untimed, COLUMNS)
    assert read_sweep(tmp_path / "u.csv") == untimed
