"""Predicted against measured decode time of a compressed set.

  python benchmarks/decode_time.py IMAGES_DIR [--bpp 0.15] [--filters none,default]
                                   [--limit 24] [--jobs 1,-1]

Calibrates this machine (`rcodec calibrate`), compresses the images with the planner's
decode-time prediction attached, then times `rcodec decompress` and prints the ratio. The
target is agreement within 15%. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from rcodec.cli import main as rcodec
from rcodec.codec.images import list_images
from rcodec.optimize.cache import default_cache_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--bpp", default="0.15")
    parser.add_argument("--filters", default="none,default")
    parser.add_argument("--limit", type=int, default=24, help="first N images")
    parser.add_argument("--jobs", default="1,-1", help="decompress worker counts to time")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rcodec-decode-time-"))
    try:
        images = work / "images"
        images.mkdir()
        for path in list_images(args.images)[: args.limit]:
            shutil.copyfile(path, images / path.name)
        assert rcodec(["calibrate", "--repeats", "5"]) == 0
        compressed = work / "compressed"
        # A generous time budget: the plan is the size-optimal one, with its time predicted.
        assert rcodec(["compress", str(images), "-o", str(compressed), "--bpp", args.bpp,
                       "--filters", args.filters, "--decode-time", "1000h",
                       "--cache", str(default_cache_root())]) == 0
        summary = json.loads((compressed / "manifest.json").read_text())["summary"]
        predicted = summary["decode_seconds"]
        chosen = json.loads((compressed / "manifest.json").read_text())["plan"]
        filtered = sum(row["filter"] != "none" for row in chosen)
        print(f"\n{len(chosen)} images, {filtered} with a post-filter; predicted "
              f"{predicted:.2f} s")
        for jobs in args.jobs.split(","):
            start = time.perf_counter()
            assert rcodec(["decompress", str(compressed), "-o", str(work / f"png{jobs}"),
                           "--jobs", jobs]) == 0
            measured = time.perf_counter() - start
            print(f"decompress --jobs {jobs:>2}: measured {measured:.2f} s, predicted "
                  f"{predicted:.2f} s, measured/predicted {measured / predicted:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
