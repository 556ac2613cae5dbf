"""Sweep throughput: images per second for a 5-QP BPG sweep of 768x512 photos at level 8.

  python benchmarks/sweep.py [--images 8] [--qps 36:44:2]
Runs the sweep with one job and with all cores, each time on an empty cache.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

from rcodec.codec.samples import sample_paths
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--qps", default="36:44:2")
    parser.add_argument("--level", type=int, default=8)
    args = parser.parse_args()
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
