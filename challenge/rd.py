"""`rcodec rd`: dataset-level rate-distortion curves, reproducible and publishable.

One cached sweep per codec over every quantizer that brackets the requested rates; then, per
codec, three curves:
  fixed       one quantizer for all images (a point per quantizer)
  plan        the optimal quantizer per image at each budget (no post-filter)
  plan+filter the optimal quantizer and post-filter per image at each budget
Each curve is written in CompressAI's results layout (`name`, `description`, `results` with
`bpp`, `psnr-rgb`, `ms-ssim-rgb`, `encoding_time`, `decoding_time`), so its plot tool reads
it, plus `points` recording every point's plan. BD-rate and BD-PSNR of each curve against a
baseline use the `bjontegaard` package (PCHIP interpolation).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import bjontegaard
import numpy as np
from joblib import Parallel, delayed

from rcodec import metrics
from rcodec.codec.images import image_paths
from rcodec.errors import BudgetError, RcodecError
from rcodec.fileio import atomic_write_bytes, atomic_write_text
from rcodec.optimize import job, lazy
from rcodec.optimize.objective import DEFAULT as DEFAULT_OBJECTIVE
from rcodec.optimize.plan import budget_bytes_for_bpp, solve
from rcodec.optimize.sweep import (
    NO_FILTER,
    CodecSpec,
    SweepRequest,
    rate_span,
    run_sweep,
)
from rcodec.optimize.table import to_candidates

METHODS = ("fixed", "plan", "plan+filter")


@dataclasses.dataclass
class Curve:
    """One RD curve: its points in increasing rate, each with the plan that made it."""

    name: str
    description: str
    points: list[dict]

    def compressai(self) -> dict:
        """CompressAI's results layout, with the plans alongside."""
        def column(key: str) -> list:
            return [point[key] for point in self.points]

        return {"name": self.name, "description": self.description,
                "results": {"bpp": column("bpp"), "psnr-rgb": column("psnr"),
                            "ms-ssim-rgb": column("ms_ssim"),
                            "encoding_time": column("encoding_time"),
                            "decoding_time": column("decoding_time")},
                "points": self.points}


def parse_rates(text: str) -> list[float]:
    """'0.05:0.6:12' (12 rates from 0.05 to 0.6, evenly spaced) or '0.1,0.2,0.4'."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            rates = np.linspace(float(start), float(stop), int(count)).round(6).tolist()
        else:
            rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise RcodecError(f"cannot read rates {text!r} (use 0.05:0.6:12 or 0.1,0.2)") from None
    if not rates or any(not math.isfinite(r) or r <= 0 for r in rates):
        raise RcodecError(f"rates must be positive numbers, got {text!r}")
    return sorted(rates)


def _point(rows: Sequence[dict]) -> dict:
    """Totals of one choice of a row per image, as a curve point."""
    pixels = sum(r["pixels"] for r in rows)
    encode = [r.get("encode_seconds") for r in rows]
    return {"bpp": 8 * sum(r["bytes"] for r in rows) / pixels,
            "psnr": metrics.pooled_psnr(sum(r["sse"] for r in rows), 3 * pixels),
            "ms_ssim": float(np.mean([r["ms_ssim"] for r in rows])),
            "encoding_time": None if None in encode else float(np.mean(encode)),
            "decoding_time": float(np.mean([r["decode_seconds"] for r in rows])),
            "mean_psnr": float(np.mean([r["psnr"] for r in rows])),
            "plan": [[r["image"], r["codec"], r["quantizer"], r["filter"]] for r in rows]}


def fixed_curve(rows: Sequence[dict], codec: str, rates: Sequence[float]) -> Curve:
    """One point per quantizer every image was swept at, unfiltered, over the rates asked
    for (and the nearest point beyond each end)."""
    plain = [r for r in rows if r["filter"] == "none"]
    images = {r["image"] for r in plain}
    points = []
    for q in sorted({r["quantizer"] for r in plain}):
        at_q = sorted((r for r in plain if r["quantizer"] == q), key=lambda r: r["image"])
        if {r["image"] for r in at_q} == images:
            points.append(_point(at_q) | {"quantizer": q})
    points.sort(key=lambda p: p["bpp"])
    inside = [i for i, p in enumerate(points) if rates[0] <= p["bpp"] <= rates[-1]]
    if inside:
        points = points[max(inside[0] - 1, 0): inside[-1] + 2]
    return Curve(f"{codec}-fixed", f"{codec}: one quantizer for all images", points)


def planned_curve(rows: Sequence[dict], rates: Sequence[float], name: str,
                  description: str, time_limit: float = 60.0,
                  objective: str = DEFAULT_OBJECTIVE) -> Curve:
    """The optimal plan for the objective at each rate; rates below the smallest reachable
    one are skipped."""
    rows = sorted(rows, key=lazy.key)
    candidates, _ = to_candidates(rows, objective)
    pixels = sum({r["image"]: r["pixels"] for r in rows}.values())
    points = []
    for rate in rates:
        try:
            plan = solve(candidates, budget_bytes_for_bpp(rate, pixels), None, "auto",
                         time_limit)
        except BudgetError:
            continue
        chosen = [rows[int(i)] for i in plan.choice]
        points.append(_point(chosen) | {"target_bpp": rate, "solver": plan.method,
                                        "status": plan.status, "gap": float(plan.gap)})
    return Curve(name, description, points)


def bd_metrics(curves: Sequence[Curve], baseline: str) -> dict[str, dict]:
    """BD-rate (%) and BD-PSNR (dB) of every curve against the baseline curve."""
    base = next((c for c in curves if c.name == baseline), None)
    if base is None:
        raise RcodecError(f"no curve named {baseline!r} (have: "
                          f"{', '.join(c.name for c in curves)})")
    out = {}
    for curve in curves:
        result: dict = {"bd_rate_percent": None, "bd_psnr_db": None}
        args = ([p["bpp"] for p in base.points], [p["psnr"] for p in base.points],
                [p["bpp"] for p in curve.points], [p["psnr"] for p in curve.points])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result["bd_rate_percent"] = float(bjontegaard.bd_rate(
                    *args, method="pchip", require_matching_points=False))
                result["bd_psnr_db"] = float(bjontegaard.bd_psnr(
                    *args, method="pchip", require_matching_points=False))
            except (ValueError, ZeroDivisionError, IndexError) as error:
                result["note"] = f"not computable: {error}"
        if caught and "note" not in result:  # e.g. the curves overlap over too short a range
            result["note"] = "; ".join(sorted({str(w.message) for w in caught}))
        out[curve.name] = result
    return out


def plot(curves: Sequence[Curve], path_stem: Path) -> list[Path]:
    """PSNR and MS-SSIM (dB) against bpp, one line per curve; PNG and SVG."""
    # matplotlib on use: it takes a second to import, and its backend must be set first.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for curve in curves:
        bpp = [p["bpp"] for p in curve.points]
        left.plot(bpp, [p["psnr"] for p in curve.points], marker=".", label=curve.name)
        right.plot(bpp, [-10 * math.log10(max(1 - p["ms_ssim"], 1e-10)) for p in curve.points],
                   marker=".", label=curve.name)
    left.set(xlabel="bits per pixel", ylabel="PSNR RGB (dB, pooled)", title="PSNR")
    right.set(xlabel="bits per pixel", ylabel="MS-SSIM (dB)", title="MS-SSIM")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    written = []
    for suffix in (".png", ".svg"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix[1:], dpi=120)
        target = path_stem.with_suffix(suffix)
        atomic_write_bytes(target, buffer.getvalue())
        written.append(target)
    plt.close(figure)
    return written


def rate_grid(paths: Sequence[Path], codec: CodecSpec, rates: Sequence[float],
              cache_root: Path, jobs: int = -1) -> tuple[int, ...]:
    """Every quantizer from the one reaching the lowest rate on the hardest image to the one
    reaching the highest on the easiest, so the fixed curve has every image at each."""
    spans = Parallel(n_jobs=jobs)(delayed(rate_span)(path, codec, str(cache_root), rates[0],
                                                     rates[-1]) for path in paths)
    return tuple(range(min(s[0] for s in spans), max(s[1] for s in spans) + 1))


def filtered_curve(paths: Sequence[Path], requests: Sequence[SweepRequest],
                   rates: Sequence[float], cache_root: Path, name: str, description: str,
                   jobs: int = -1, lazy_filters: bool = True,
                   objective: str = DEFAULT_OBJECTIVE) -> tuple[Curve, dict[str, int]]:
    """The optimal plan with post-filters (over every codec requested) at each rate, the
    networks measured only where each rate's plan can use them (rcodec.optimize.lazy)
    unless `lazy_filters` is off; returns the curve and the network evaluations made."""
    points, measured = [], set()
    exhaustive = 0
    for rate in rates:
        try:
            swept = job.sweep_and_plan(paths, requests, job.Budget(bpp=rate), cache_root,
                                       jobs, lazy_filters=lazy_filters, objective=objective)
        except BudgetError:
            continue
        plan = swept.plan
        measured |= {lazy.key(r) for r in swept.rows if r["filter"] != "none"}
        exhaustive = max(exhaustive, swept.evaluations["exhaustive_network_evaluations"])
        chosen = [swept.rows[int(i)] for i in plan.choice]
        points.append(_point(chosen) | {"target_bpp": rate, "solver": plan.method,
                                        "status": plan.status, "gap": float(plan.gap)})
    return Curve(name, description, points), {
        "network_evaluations": len(measured), "exhaustive_network_evaluations": exhaustive}


def rd_curves(images: Path | Sequence[Path], requests: Sequence[SweepRequest],
              rates: Sequence[float], cache_root: Path, jobs: int = -1,
              progress: Callable[[int], None] | None = None, lazy_filters: bool = True,
              objective: str = DEFAULT_OBJECTIVE) -> list[Curve]:
    """Every codec's fixed, plan and (with filters) plan+filter curves; with several
    codecs, the mixed plans too (each image picks its codec)."""
    paths = image_paths(images)
    curves, grids, plain_rows = [], [], []
    for request in requests:
        name = request.codec.name
        grid = rate_grid(paths, request.codec, rates, cache_root, jobs)
        grids.append(dataclasses.replace(request, quantizers=grid))
        rows = run_sweep(paths, dataclasses.replace(request, filters=(NO_FILTER,),
                                                    quantizers=grid), cache_root, jobs,
                         progress=progress)
        plain_rows += rows
        curves.append(fixed_curve(rows, name, rates))
        curves.append(planned_curve(rows, rates, f"{name}-plan",
                                    f"{name}: optimal quantizer per image", objective=objective))
        networks = [spec.name for spec in request.filters if spec.name != "none"]
        if networks:
            curve, _ = filtered_curve(
                paths, [grids[-1]], rates, cache_root, f"{name}-plan+filter",
                f"{name}: optimal quantizer and post-filter per image ({', '.join(networks)})",
                jobs, lazy_filters, objective)
            curves.append(curve)
    if len(requests) > 1:
        names = ", ".join(request.codec.name for request in requests)
        curves.append(planned_curve(plain_rows, rates, "mixed-plan",
                                    f"optimal codec and quantizer per image ({names})",
                                    objective=objective))
        if any(len(request.filters) > 1 for request in requests):
            curve, _ = filtered_curve(paths, grids, rates, cache_root, "mixed-plan+filter",
                                      f"optimal codec, quantizer and post-filter per image "
                                      f"({names})", jobs, lazy_filters, objective)
            curves.append(curve)
    return curves


def write_rd(curves: Sequence[Curve], out_dir: Path, baseline: str) -> dict:
    """rd/<curve>.json, rd/rd.png and .svg, rd/bd.json; return the BD table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for curve in curves:
        atomic_write_text(out_dir / f"{curve.name}.json", json.dumps(curve.compressai(),
                                                                      indent=2))
    plot(curves, out_dir / "rd")
    table = {"baseline": baseline, "method": "bjontegaard pchip",
             "curves": bd_metrics(curves, baseline)}
    atomic_write_text(out_dir / "bd.json", json.dumps(table, indent=2))
    return table
