"""What per-image allocation buys: pooled PSNR at a bpp target for three ways to pick QPs.

  python benchmarks/allocation.py IMAGES_DIR [--bpp 0.15] [--qps 30:51] [--level 8]

1. one QP for every image: the lowest QP whose total size fits the budget;
2. per image, the lowest QP whose own rate is under the target (what most users do);
3. the plan: the ILP's choice of one QP per image under the same total budget.
Rates count the container's selector byte; the budget is floor(bpp x pixels / 8).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rcodec.codec.images import list_images
from rcodec.metrics import pooled_psnr
from rcodec.optimize import job
from rcodec.optimize.cache import default_cache_root
from rcodec.optimize.sweep import CodecSpec, SweepRequest, parse_quantizers, run_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--bpp", default="0.15")
    parser.add_argument("--qps", default="30:51")
    parser.add_argument("--level", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--cache", type=Path, default=default_cache_root())
    args = parser.parse_args()
    paths = list_images(args.images)
    request = SweepRequest(CodecSpec("bpg", (("level", args.level),)),
                           quantizers=tuple(parse_quantizers(args.qps)))
    rows = run_sweep(paths, request, args.cache, args.jobs)
    plan, max_bytes = job.plan_rows_for(rows, job.Budget(bpp=args.bpp))
    by_image: dict[str, dict[int, dict]] = {}
    for row in rows:
        by_image.setdefault(row["image"], {})[row["quantizer"]] = row
    pixels = sum(next(iter(r.values()))["pixels"] for r in by_image.values())
    qps = sorted(next(iter(by_image.values())))

    def pooled(chosen: list[dict]) -> tuple[float, int]:
        return (pooled_psnr(sum(r["sse"] for r in chosen), 3 * pixels),
                sum(r["bytes"] for r in chosen))

    single = None
    for qp in qps:
        chosen = [by_image[name][qp] for name in by_image]
        if sum(r["bytes"] for r in chosen) <= max_bytes:
            single = (qp, *pooled(chosen))
            break
    target = float(args.bpp)
    closest = []
    for options in by_image.values():
        fits = [options[q] for q in qps if 8 * options[q]["bytes"] / options[q]["pixels"]
                <= target]
        closest.append(fits[0] if fits else options[qps[-1]])
    planned = [rows[int(i)] for i in plan.choice]
    print(f"{len(by_image)} images, {pixels} pixels, budget {max_bytes} bytes ({args.bpp} bpp), "
          f"QPs {qps[0]}..{qps[-1]}, level {args.level}")
    print(f"{'method':<34} {'bytes':>9} {'bpp':>7} {'pooled PSNR':>12}")
    results = []
    if single:
        results.append((f"one QP for all (QP {single[0]})", single[2], single[1]))
    results.append(("per image, closest QP under target", *reversed(pooled(closest))))
    results.append((f"plan ({plan.method}, gap {plan.gap:.1e})", *reversed(pooled(planned))))
    for name, size, psnr in results:
        print(f"{name:<34} {size:>9} {8 * size / pixels:>7.4f} {psnr:>12.3f}")
    base = results[-1][2]
    for name, _, psnr in results[:-1]:
        print(f"plan gains {base - psnr:+.3f} dB over: {name}")


if __name__ == "__main__":
    main()
