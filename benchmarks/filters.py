"""Gains of the registered post-filters: pooled PSNR and MS-SSIM per QP, unfiltered alongside.

  python benchmarks/filters.py IMAGES_DIR [--qps 37,40,43] [--codec bpg] [--level 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401  (must precede the project imports)
import numpy as np

from optimize.cache import default_cache_root
from optimize.sweep import (
    NO_FILTER,
    CodecSpec,
    FilterSpec,
    SweepRequest,
    parse_quantizers,
    run_sweep,
)
from postfilter import registry
from rcodec.images import list_images
from rcodec.metrics import pooled_psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--qps", default="37,40,43")
    parser.add_argument("--codec", default="bpg")
    parser.add_argument("--level", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--cache", type=Path, default=default_cache_root())
    args = parser.parse_args()
    entries = [e for e in registry.load_registry() if e.codec == args.codec]
    filters = (NO_FILTER, *(FilterSpec(e.name, e.selector, e.sha256) for e in entries))
    options = (("level", args.level),) if args.codec == "bpg" else ()
    request = SweepRequest(CodecSpec(args.codec, options), filters,
                           tuple(parse_quantizers(args.qps)))
    rows = run_sweep(list_images(args.images), request, args.cache, args.jobs)
    print(f"{len({r['image'] for r in rows})} images; pooled PSNR (dB) / mean MS-SSIM")
    for entry in entries:
        print(f"  {entry.name}: {entry.params:,} params, {entry.seconds_per_mpx} s/MP "
              f"({entry.seconds_per_mpx * 0.393216:.2f} s per 768x512), {entry.steps} steps")
    print(f"{'qp':>4} {'filter':<16} {'bpp':>7} {'PSNR':>8} {'gain':>7} {'MS-SSIM':>8}")
    for q in sorted({r["quantizer"] for r in rows}):
        at_q = [r for r in rows if r["quantizer"] == q]
        pixels = sum(r["pixels"] for r in at_q if r["filter"] == "none")
        bpp = 8 * sum(r["bytes"] for r in at_q if r["filter"] == "none") / pixels
        base = None
        for spec in filters:
            mine = [r for r in at_q if r["filter"] == spec.name]
            psnr = pooled_psnr(sum(r["sse"] for r in mine), 3 * pixels)
            base = psnr if base is None else base
            print(f"{q:>4} {spec.name:<16} {bpp:>7.4f} {psnr:>8.3f} {psnr - base:>+7.3f} "
                  f"{np.mean([r['ms_ssim'] for r in mine]):>8.5f}")


if __name__ == "__main__":
    main()
