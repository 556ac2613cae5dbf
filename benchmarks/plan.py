"""Time the planner on synthetic but realistic candidate tables and print a table of results.

    python benchmarks/plan.py --sizes 286,10000,100000,1000000 --methods cbc,highs,lagrangian

Each image gets a complexity; bytes fall roughly exponentially with the quantizer while sse
rises, and post-filters cut sse by a few % at a decode-time cost proportional to pixels."""

from __future__ import annotations

import argparse
import time

import numpy as np

from rcodec.errors import RcodecError
from rcodec.optimize.plan import Candidates, budget_bytes_for_bpp, solve

QUANTIZERS = 5
# Post-filters: fraction of sse removed and decode seconds per megapixel (filter 0 is "none").
FILTER_GAIN = np.array([0.0, 0.02, 0.04, 0.06])
FILTER_SECONDS_PER_MP = np.array([0.0, 0.01, 0.05, 0.2])
DECODE_SECONDS_PER_MP = 0.02
# ILP runs above this many images are skipped unless --force: they would only hit the cap.
ILP_MAX_IMAGES = 100_000


def make_instance(images: int, seed: int = 0) -> tuple[Candidates, int, float, int]:
    """A candidate table, its 0.15 bpp byte budget, a time budget a quarter of the way from
    the fastest plan to the slowest, and the total pixel count."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(500_000, 4_000_000, images)
    complexity = rng.lognormal(0.0, 0.5, images)
    q = np.arange(QUANTIZERS)
    jitter = rng.normal(0, 0.03, (images, QUANTIZERS))
    bpp = 0.55 * complexity[:, None] * np.exp(-0.5 * q + jitter)
    byte_count = np.round(bpp * pixels[:, None] / 8).astype(np.int64)
    mse = 4.0 * complexity[:, None] ** 1.5 * np.exp(0.6 * q - jitter)
    gain = FILTER_GAIN * (1 + rng.normal(0, 0.2, (images, 1, len(FILTER_GAIN))))
    sse = np.round(mse[:, :, None] * pixels[:, None, None] * (1 - gain)).astype(np.int64)
    megapixels = pixels[:, None, None] / 1e6
    seconds = megapixels * (DECODE_SECONDS_PER_MP + FILTER_SECONDS_PER_MP) * np.ones_like(gain)
    shape = (images, QUANTIZERS, len(FILTER_GAIN))
    table = Candidates(
        np.broadcast_to(np.arange(images)[:, None, None], shape).ravel(),
        np.broadcast_to(byte_count[:, :, None], shape).ravel(),
        sse.ravel(),
        np.broadcast_to(seconds, shape).ravel(),
    )
    total_pixels = int(pixels.sum())
    fastest = float((megapixels[:, 0, 0] * DECODE_SECONDS_PER_MP).sum())
    slowest = float(
        (megapixels[:, 0, 0] * (DECODE_SECONDS_PER_MP + FILTER_SECONDS_PER_MP[-1])).sum()
    )
    max_seconds = fastest + 0.25 * (slowest - fastest)
    return table, budget_bytes_for_bpp(0.15, total_pixels), max_seconds, total_pixels


def main(argv: list[str] | None = None) -> None:
    """Run every (size, budget kind, method) asked for and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="286,10000,100000,1000000")
    parser.add_argument("--methods", default="cbc,highs,lagrangian")
    parser.add_argument("--budgets", default="bytes,bytes+time", help="bytes and/or bytes+time")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="run ILPs above 100,000 images too")
    args = parser.parse_args(argv)
    print(
        f"{'images':>9} {'budget':>10} {'method':>10} {'seconds':>8} {'status':>10} "
        f"{'proved gap':>10} {'ilp cols':>8}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        table, max_bytes, max_seconds, _ = make_instance(size, args.seed)
        for kind in args.budgets.split(","):
            for method in args.methods.split(","):
                if method in ("cbc", "highs") and size > ILP_MAX_IMAGES and not args.force:
                    continue
                seconds_budget = max_seconds if kind == "bytes+time" else None
                started = time.perf_counter()
                try:
                    plan = solve(
                        table, max_bytes, seconds_budget, method, args.time_limit, args.gap
                    )
                except RcodecError as exc:
                    print(f"{size:>9} {kind:>10} {method:>10} error: {exc}")
                    continue
                wall = time.perf_counter() - started
                assert plan.total_bytes <= max_bytes
                assert seconds_budget is None or plan.total_seconds <= seconds_budget
                print(
                    f"{size:>9} {kind:>10} {method:>10} {wall:>8.2f} {plan.status:>10} "
                    f"{plan.gap:>10.2e} {plan.ilp_columns:>8}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
