"""Sweep throughput, and what post-filters add to a compress.

  python benchmarks/sweep.py [--images 8] [--qps 36:44:2]
      images per second of a 5-QP BPG sweep of 768x512 photos at level 8, with one job and
      with all cores, each time on an empty cache.
  python benchmarks/sweep.py --compress IMAGES [--limit 30] [--rates 0.075,0.15,0.3]
                             [--filters default]
      per rate, side by side on empty caches: the plan with no post-filter, with the default
      networks measured lazily (compress's default), and exhaustively (every network at
      every quantizer of every window); their times, the ratio to the plain one, network
      evaluations, and pooled PSNR; then the same with a decode-time budget halfway between
      the plain plan's time and the filtered one's, so that the planner must mix networks
      (decode times from this machine's calibration, as compress has them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

from rcodec.codec.images import image_paths, image_shape
from rcodec.codec.samples import sample_paths
from rcodec.metrics import pooled_psnr
from rcodec.optimize import job
from rcodec.optimize.request import sweep_request
from rcodec.optimize.sweep import CodecSpec, SweepRequest, parse_quantizers, run_sweep


def make_photos(folder: Path, count: int) -> list[Path]:
    """768x512 photographs made from the bundled samples (resized, and mirrored for variety)."""
    sources = sample_paths()
    paths = []
    for i in range(count):
        image = Image.open(sources[i % len(sources)]).convert("RGB").resize((768, 512),
                                                                            Image.LANCZOS)
        if (i // len(sources)) % 2:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        path = folder / f"photo{i:03d}.png"
        image.save(path)
        paths.append(path)
    return paths


def timed_plan(paths: list[Path], filters: str, budget: job.Budget, level: int,
               lazy_filters: bool = True) -> tuple[job.SweepPlan, float]:
    """A sweep and plan on an empty cache, and its wall time."""
    pixels = sum(h * w for h, w in map(image_shape, paths))
    request = sweep_request("bpg", filters, None, budget.target_bpp(pixels), {"level": level})
    # Decode times from this machine's calibration, as compress uses them: the same numbers
    # in every run (times measured inside each sweep would differ from run to run).
    request = job.with_calibration(request, required=True, paths=paths)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        swept = job.sweep_and_plan(paths, request, budget, Path(cache), jobs=-1,
                                   lazy_filters=lazy_filters)
        return swept, time.perf_counter() - start


def pooled(swept: job.SweepPlan) -> float:
    chosen = [swept.rows[int(i)] for i in swept.plan.choice]
    return pooled_psnr(swept.plan.total_sse, 3 * sum(r["pixels"] for r in chosen))


def compare_compress(paths: list[Path], rates: list[str], level: int, filters: str) -> None:
    print(f"{len(paths)} images, level {level}, filters {filters}, all cores; empty cache "
          "for every run")
    print(f"{'budget':<22} {'filters':<12} {'seconds':>8} {'x plain':>8} {'evals':>11} "
          f"{'pooled PSNR':>12} {'vs exhaustive':>14}")
    for rate in rates:
        plain, t_plain = timed_plan(paths, "none", job.Budget(bpp=rate), level)
        lazy_plan, t_lazy = timed_plan(paths, filters, job.Budget(bpp=rate), level)
        full, t_full = timed_plan(paths, filters, job.Budget(bpp=rate), level, False)
        report(f"{rate} bpp", plain, t_plain, lazy_plan, t_lazy, full, t_full)
        # A decode-time budget the filtered plan overruns: halfway from the plain plan's.
        seconds = (plain.plan.total_seconds + full.plan.total_seconds) / 2
        timed = job.Budget(bpp=rate, decode_seconds=seconds)
        lazy_timed, t_lazy = timed_plan(paths, filters, timed, level)
        full_timed, t_full = timed_plan(paths, filters, timed, level, False)
        report(f"{rate} bpp, {seconds:.1f} s", plain, t_plain, lazy_timed, t_lazy,
               full_timed, t_full)


def report(label: str, plain: job.SweepPlan, t_plain: float, lazy_plan: job.SweepPlan,
           t_lazy: float, full: job.SweepPlan, t_full: float) -> None:
    for name, swept, seconds in (("none", plain, t_plain), ("lazy", lazy_plan, t_lazy),
                                 ("exhaustive", full, t_full)):
        evals = swept.evaluations["network_evaluations"]
        delta = "" if swept is plain else f"{pooled(swept) - pooled(full):+.4f} dB"
        networks = sorted({swept.rows[int(i)]["filter"] for i in swept.plan.choice} - {"none"})
        print(f"{label:<22} {name:<12} {seconds:8.1f} {seconds / t_plain:8.2f} {evals:>11} "
              f"{pooled(swept):12.4f} {delta:>14}  {', '.join(networks)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--qps", default="36:44:2")
    parser.add_argument("--level", type=int, default=8)
    parser.add_argument("--compress", type=Path, help="folder of photographs: compare the "
                                                       "plans with and without post-filters")
    parser.add_argument("--limit", type=int, help="the first N images of --compress only")
    parser.add_argument("--rates", default="0.075,0.15,0.3")
    parser.add_argument("--filters", default="default",
                        help="the filtered runs' candidates, as compress --filters takes them")
    args = parser.parse_args()
    if args.compress:
        compare_compress(image_paths(args.compress)[:args.limit], args.rates.split(","),
                         args.level, args.filters)
        return
    request = SweepRequest(CodecSpec("bpg", (("level", args.level),)),
                           quantizers=tuple(parse_quantizers(args.qps)))
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as folder:
        paths = make_photos(Path(folder), args.images)
        print(f"{args.images} photos 768x512, QPs {args.qps}, level {args.level}, {cores} cores")
        for jobs in (1, -1):
            with tempfile.TemporaryDirectory() as cache:
                start = time.perf_counter()
                run_sweep(paths, request, cache, jobs=jobs)
                seconds = time.perf_counter() - start
            label = "1 job" if jobs == 1 else f"all cores ({cores})"
            print(f"{label:<16} {seconds:7.2f} s  {args.images / seconds:6.3f} images/s")


if __name__ == "__main__":
    main()
