"""Gains of the registered post-filters: pooled PSNR and MS-SSIM per QP, unfiltered alongside.

  python benchmarks/filters.py IMAGES_DIR [--qps 37,40,43] [--level 8] [--limit N]
      [--filters all|NAME,NAME]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rcodec.challenge.table import qp_table
from rcodec.codec.images import image_paths
from rcodec.optimize.cache import default_cache_root
from rcodec.postfilter import registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--qps", default="37,40,43")
    parser.add_argument("--level", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--cache", type=Path, default=default_cache_root())
    parser.add_argument("--limit", type=int, help="the first N images only")
    parser.add_argument("--filters", default="all",
                        help="all registered BPG networks (default) or the named ones")
    args = parser.parse_args()
    images = image_paths(args.images)[:args.limit]
    table = qp_table(images, args.qps, args.filters, {"level": args.level}, args.cache, args.jobs)
    print(f"{table['images']} images; pooled PSNR (dB) / mean MS-SSIM")
    for entry in registry.load_registry():
        if entry.name in table["filters"]:
            views = f", {entry.ensemble} views" if entry.ensemble > 1 else ""
            print(f"  {entry.name}: {entry.params:,} params, {entry.seconds_per_mpx} s/MP "
                  f"({entry.seconds_per_mpx * 0.393216:.2f} s per 768x512, {entry.precision}"
                  f"{views}), {entry.steps} steps")
    print(f"{'qp':>4} {'filter':<16} {'bpp':>7} {'PSNR':>8} {'gain':>7} {'MS-SSIM':>8}")
    for row in table["rows"]:
        base = row["none"]["psnr"]
        for name in (n for n in table["filters"] if row[n]):  # (None: outside its range)
            print(f"{row['qp']:>4} {name:<16} {row['bpp']:>7.4f} {row[name]['psnr']:>8.3f} "
                  f"{row[name]['psnr'] - base:>+7.3f} {row[name]['ms_ssim']:>8.5f}")


if __name__ == "__main__":
    main()
