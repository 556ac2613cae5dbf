"""bf16 autocast against fp32 for each registered network: pooled PSNR and speed.

  python benchmarks/precision.py IMAGES_DIR [--qp 40] [--limit 30]

bf16 is only worth using where the pooled PSNR stays within 0.01 dB of fp32.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _bootstrap  # noqa: F401  (must precede the project imports)

from optimize.cache import SweepCache, default_cache_root
from optimize.sweep import CodecSpec, ImageSweeper
from postfilter import registry
from postfilter.inference import DEFAULT_TILE, load_model, restore, to_uint8
from rcodec.images import list_images
from rcodec.metrics import pooled_psnr, sse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--qp", type=int, default=40)
    parser.add_argument("--limit", type=int, default=30, help="first N images")
    args = parser.parse_args()
    cache = SweepCache(default_cache_root())
    spec = CodecSpec("bpg", (("level", 8),))
    pairs = []
    for path in list_images(args.images)[: args.limit]:
        sweeper = ImageSweeper(path, spec, cache)
        pairs.append((sweeper.rgb, sweeper.codec.decode(sweeper.payload(args.qp))))
    samples = 3 * sum(rgb.shape[0] * rgb.shape[1] for rgb, _ in pairs)
    codec_psnr = pooled_psnr(sum(sse(d, rgb) for rgb, d in pairs), samples)
    print(f"{len(pairs)} images, BPG QP {args.qp}: codec {codec_psnr:.4f} dB")
    print(f"{'network':<16} {'precision':<9} {'PSNR':>8} {'vs fp32':>8} {'s/MP':>7}")
    for entry in registry.load_registry():
        if entry.codec != "bpg":
            continue
        model = load_model(entry)
        fp32 = None
        for precision in ("fp32", "bf16"):
            error, seconds = 0, 0.0
            for rgb, decoded in pairs:
                start = time.perf_counter()
                out = to_uint8(restore(model, decoded, tile=DEFAULT_TILE, precision=precision))
                seconds += time.perf_counter() - start
                error += sse(out, rgb)
            psnr = pooled_psnr(error, samples)
            fp32 = psnr if fp32 is None else fp32
            print(f"{entry.name:<16} {precision:<9} {psnr:>8.4f} {psnr - fp32:>+8.4f} "
                  f"{seconds / (samples / 3e6):>7.3f}")


if __name__ == "__main__":
    main()
