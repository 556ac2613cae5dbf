"""Encode/decode speed of the BPG codec on a 768x512 photo, against the bare x265 call.

Prints milliseconds per image (median of N runs) at compression levels 1, 5 and 8:
  python benchmarks/codec.py [--runs 7] [--image PATH]
Targets on the 2-core reference machine: decode <= 20 ms; level-8 encode within 1.15x of
the x265 call it makes (the difference is pre-processing and header rewriting).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from rcodec.codec import bpg
from rcodec.codec import bpg_pixels as px
from rcodec.codec.hevc import x265_encode

DEFAULT_IMAGE = Path(__file__).parent.parent / "tests" / "data" / "bpg" / "coffee768x512.png"


def median_ms(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--qp", type=int, default=40)
    args = parser.parse_args()
    image = np.asarray(Image.open(args.image).convert("RGB"))
    height, width = image.shape[:2]
    planes = px.rgb_to_planes(image, 8, 8, px.YCBCR, False)
    padded = [planes[0].astype(np.uint8)] + [px.decimate_420(p, 8, False).astype(np.uint8)
                                             for p in planes[1:]]
    print(f"image {args.image.name} {width}x{height}, qp {args.qp}, median of {args.runs} runs")
    print(f"{'level':>5} {'bytes':>7} {'encode ms':>10} {'x265 ms':>8} {'ratio':>6} "
          f"{'decode ms':>10}")
    for level in (1, 5, 8):
        data = bpg.encode_bpg(image, qp=args.qp, level=level)
        encode = median_ms(lambda level=level: bpg.encode_bpg(image, qp=args.qp, level=level),
                           args.runs)
        bare = median_ms(lambda level=level: x265_encode(padded, 1, 8, args.qp, level),
                         args.runs)
        decode = median_ms(lambda data=data: bpg.decode_bpg(data), max(args.runs, 15))
        print(f"{level:>5} {len(data):>7} {encode:>10.1f} {bare:>8.1f} {encode / bare:>6.3f} "
              f"{decode:>10.1f}")


if __name__ == "__main__":
    main()
