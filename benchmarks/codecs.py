"""Every registered codec on one set of photographs: speed, rate-distortion, mixed plans.

  python benchmarks/codecs.py IMAGES [--limit N] [--rates 0.1:0.6:6] [--jobs -1]

Prints, per codec: encode and decode milliseconds per 768x512 image (measured on the set,
scaled by pixels), and BD-rate / BD-PSNR (PCHIP, pooled RGB PSNR) of its plan curve (the
optimal quantizer per image at each rate) against BPG's; then the mixed plan's gain (every
image picks its codec) over the best single codec at 0.15 and 0.3 bpp; the mean-PSNR
objective's gain in mean PSNR over the pooled objective; and BPG's psnr tune against its
ssim tune (the reference encoder's settings). No post-filters: codecs alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from rcodec.challenge.rd import bd_metrics, parse_rates, planned_curve, rate_grid
from rcodec.codec import registry
from rcodec.codec.images import image_paths, read_rgb
from rcodec.optimize import job
from rcodec.optimize.request import sweep_requests
from rcodec.optimize.sweep import SweepRequest, run_sweep
from rcodec.optimize.table import plan_summary

FRAME = 768 * 512


def timings(paths: list[Path], name: str, quantizer: int) -> tuple[float, float]:
    """Encode and decode ms per 768x512 at one quantizer, one image at a time."""
    codec = registry.make_codec(name)
    encode = decode = 0.0
    pixels = 0
    for path in paths:
        rgb = read_rgb(path)
        start = time.perf_counter()
        data = codec.encode(rgb, quantizer)
        middle = time.perf_counter()
        codec.decode(data)
        encode, decode = encode + middle - start, decode + time.perf_counter() - middle
        pixels += rgb.shape[0] * rgb.shape[1]
    return 1000 * encode * FRAME / pixels, 1000 * decode * FRAME / pixels


def grid_rows(paths: list[Path], request: SweepRequest, rates: list[float], cache: Path,
              jobs: int) -> list[dict]:
    grid = rate_grid(paths, request.codec, rates, cache, jobs)
    return run_sweep(paths, dataclasses.replace(request, quantizers=grid), cache, jobs)


def best_plan(rows: list[dict], bpp: float, goal: str = "pooled-psnr") -> dict | None:
    rows = sorted(rows, key=lambda r: (r["image"], r["codec"], r["quantizer"], r["filter"]))
    try:
        chosen, max_bytes = job.plan_rows_for(rows, job.Budget(bpp=str(bpp)), objective=goal)
    except Exception:  # the codec cannot reach this rate on these images
        return None
    return plan_summary(rows, chosen, max_bytes, None, goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--rates", default="0.1:0.6:6")
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--cache", type=Path, help="sweep cache (default: a fresh one)")
    args = parser.parse_args()
    paths = image_paths(args.images)[: args.limit]
    rates = parse_rates(args.rates)
    names = list(registry.names())
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.cache or Path(scratch)
        requests = sweep_requests(names, "none", None, 0.15)
        rows = {r.codec.name: grid_rows(paths, r, rates + [0.15, 0.3], cache, args.jobs)
                for r in requests}
        tuned = sweep_requests("bpg", "none", None, 0.15, {"tune": "ssim"})[0]
        with tempfile.TemporaryDirectory() as other:  # the ssim tune: its own cache keys
            ssim_rows = grid_rows(paths, tuned, rates, Path(other), args.jobs)
        curves = {name: planned_curve(rows[name], rates, f"{name}-plan", name)
                  for name in names}
        curves["bpg-ssim"] = planned_curve(ssim_rows, rates, "bpg-ssim-plan", "bpg ssim")
        bd = bd_metrics([curves[name] for name in names], "bpg-plan")
        print(f"{len(paths)} images; plan curves at {', '.join(map(str, rates))} bpp; "
              f"BD against BPG's plan curve (pooled RGB PSNR, PCHIP)")
        print(f"{'codec':<6} {'encode ms':>10} {'decode ms':>10} {'BD-rate':>9} {'BD-PSNR':>8}"
              "  (per 768x512)")
        for name in names:
            cls = registry.codec_class(name)
            encode, decode = timings(paths[:8], name, cls.typical_quantizer)
            b = bd[f"{name}-plan"]
            rate = "n/a" if b["bd_rate_percent"] is None else f"{b['bd_rate_percent']:+.2f}%"
            psnr = "n/a" if b["bd_psnr_db"] is None else f"{b['bd_psnr_db']:+.3f}"
            print(f"{name:<6} {encode:10.1f} {decode:10.1f} {rate:>9} {psnr:>8}")
        # bd_metrics gives the ssim tune against psnr's curve; psnr's saving is the opposite
        # of the ssim tune's BD-rate only to first order, so measure it the right way round.
        tune = bd_metrics([curves["bpg-ssim"], curves["bpg"]], "bpg-ssim-plan")["bpg-plan"]
        print(f"BPG tune psnr against tune ssim (the reference's): BD-rate "
              f"{tune['bd_rate_percent']:+.2f}%, BD-PSNR {tune['bd_psnr_db']:+.3f} dB")
        everything = [row for name in names for row in rows[name]]
        for bpp in (0.15, 0.3):
            singles = {name: best_plan(rows[name], bpp) for name in names}
            reached = {n: s["pooled_psnr"] for n, s in singles.items() if s is not None}
            mixed = best_plan(everything, bpp)
            best = max(reached, key=reached.get)
            print(f"{bpp} bpp: mixed plan {mixed['pooled_psnr']:.3f} dB ({mixed['codecs']}), "
                  f"best single {best} {reached[best]:.3f} dB: "
                  f"{mixed['pooled_psnr'] - reached[best]:+.3f} dB")
            pooled, mean = best_plan(everything, bpp), best_plan(everything, bpp, "mean-psnr")
            print(f"   mean-PSNR objective: mean PSNR {mean['mean_psnr']:.3f} dB against "
                  f"{pooled['mean_psnr']:.3f} with the pooled one "
                  f"({mean['mean_psnr'] - pooled['mean_psnr']:+.3f} dB); its pooled PSNR "
                  f"{mean['pooled_psnr'] - pooled['pooled_psnr']:+.3f} dB")


if __name__ == "__main__":
    main()
