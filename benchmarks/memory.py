"""Peak resident memory of a 4K (3840x2160) image through configuration A, tiled as decoding
tiles it. Target: under 2 GB.

  python benchmarks/memory.py [--arch A] [--windows K] [--precision fp32|bf16]

Runs in a fresh subprocess so the peak belongs to this job alone. `--windows K` stops after
the first K full-size interior tile windows (the peak is reached at the first one; the full
image through A takes minutes on 2 cores); 0 runs the whole image through `restore`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
sys.path.insert(0, {root!r})
from rcodec.postfilter.inference import (DEFAULT_TILE, restore, run_window, tile_windows,
                                  torch_threads)
from rcodec.postfilter.models import build, receptive_radius
arch, windows, precision = {arch!r}, {windows}, {precision!r}
model = build(arch).eval().to(memory_format=torch.channels_last)
rng = np.random.default_rng(0)
image = rng.integers(0, 256, (2160, 3840, 3), dtype=np.uint8)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if windows == 0:
    restore(model, image, tile=DEFAULT_TILE, precision=precision)
    done = "all"
else:
    out = np.empty(image.shape, np.float32)  # as restore allocates it
    radius = receptive_radius(model)
    full = [w for w in tile_windows(2160, 3840, DEFAULT_TILE, radius)
            if (w[1][1] - w[1][0], w[1][3] - w[1][2]) == (DEFAULT_TILE + 2 * radius,) * 2]
    with torch_threads(None), torch.inference_mode():
        for (y0, y1, x0, x1), (wy0, wy1, wx0, wx1) in full[:windows]:
            result = run_window(model, image[wy0:wy1, wx0:wx1], torch.device("cpu"), precision)
            out[y0:y1, x0:x1] = result[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    done = len(full[:windows])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"arch": arch, "windows": done, "seconds": seconds,
                   "peak_rss_mib": peak / 1024, "before_mib": before / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="A")
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = parser.parse_args()
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    code = CHILD.format(root=root, arch=args.arch, windows=args.windows,
                        precision=args.precision)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"4K through {result['arch']} ({args.precision}, windows: {result['windows']}): "
          f"peak resident {result['peak_rss_mib']:.0f} MiB (after loading "
          f"{result['before_mib']:.0f} MiB), {result['seconds']:.1f} s; target < 2048 MiB")


if __name__ == "__main__":
    main()
