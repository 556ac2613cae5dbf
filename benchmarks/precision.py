"""bf16 autocast against fp32 for each registered network: pooled PSNR and speed.

  python benchmarks/precision.py IMAGES_DIR [--qp 40] [--limit 30] [--codec bpg,jpeg]
      [--networks NAME,NAME]

BPG networks are measured at --qp (a network told the QP at the nearest QP of its range, the
only ones the decoder runs it at), JPEG ones at the middle of their quality range, each
through the decoder's own path (apply_filter: tiles, luma conversion, DCT input). bf16 is
only worth using where the pooled PSNR stays within 0.01 dB of fp32.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from pathlib import Path

import numpy as np

from rcodec.codec.images import list_images
from rcodec.metrics import pooled_psnr, sse
from rcodec.optimize.cache import SweepCache, default_cache_root
from rcodec.optimize.sweep import CodecSpec, ImageSweeper
from rcodec.postfilter import registry
from rcodec.postfilter.inference import apply_filter
from rcodec.postfilter.models import takes_quantizer

Triple = tuple[np.ndarray, bytes, np.ndarray]  # original, payload, decoded


def coded_set(paths: list[Path], codec: str, quantizer: int) -> list[Triple]:
    """Each image through the codec (BPG level 8 from the sweep cache)."""
    cache = SweepCache(default_cache_root())
    spec = CodecSpec(codec, (("level", 8),) if codec == "bpg" else ())
    out = []
    for path in paths:
        sweeper = ImageSweeper(path, spec, cache)
        payload = sweeper.payload(quantizer)
        out.append((sweeper.rgb, payload, sweeper.codec.decode(payload)))
    return out


def measured_quantizer(entry: registry.ModelEntry, qp: int) -> int:
    """Where the network is measured: a BPG one at `qp`, moved into its range if it is told
    the QP (the decoder refuses it outside), a JPEG one at the middle of its quality range."""
    low, high = entry.quantizer_range
    if entry.codec != "bpg":
        return (low + high) // 2
    return min(max(qp, low), high) if takes_quantizer(entry.arch, entry.config) else qp


def pooled(triples: list[Triple], outputs: list[np.ndarray]) -> float:
    samples = sum(rgb.size for rgb, _, _ in triples)
    return pooled_psnr(sum(sse(o, rgb) for o, (rgb, _, _) in zip(outputs, triples,
                                                                  strict=True)), samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--qp", type=int, default=40)
    parser.add_argument("--limit", type=int, default=30, help="first N images")
    parser.add_argument("--codec", default="bpg,jpeg")
    parser.add_argument("--networks", help="only these registered networks (default: all "
                                           "of the codecs)")
    args = parser.parse_args()
    paths = list_images(args.images)[: args.limit]
    coded = functools.cache(lambda codec, q: coded_set(paths, codec, q))
    codecs = args.codec.split(",")
    print(f"{len(paths)} images; pooled PSNR over RGB samples")
    print(f"{'network':<24} {'q':>3} {'codec':>8} {'precision':<9} {'PSNR':>8} {'vs fp32':>8} "
          f"{'s/MP':>7}")
    networks = set(args.networks.split(",")) if args.networks else None
    for entry in registry.load_registry():
        if entry.codec not in codecs or (networks and entry.name not in networks):
            continue
        quantizer = measured_quantizer(entry, args.qp)
        triples = coded(entry.codec, quantizer)
        plain = pooled(triples, [d for _, _, d in triples])
        megapixels = sum(rgb.shape[0] * rgb.shape[1] for rgb, _, _ in triples) / 1e6
        fp32 = None
        for precision in ("fp32", "bf16"):
            forced = dataclasses.replace(entry, precision=precision)
            start = time.perf_counter()
            outputs = [apply_filter(forced, d, p) for _, p, d in triples]
            seconds = time.perf_counter() - start
            psnr = pooled(triples, outputs)
            fp32 = psnr if fp32 is None else fp32
            print(f"{entry.name:<24} {quantizer:>3} {plain:>8.3f} {precision:<9} {psnr:>8.4f} "
                  f"{psnr - fp32:>+8.4f} {seconds / megapixels:>7.3f}")


if __name__ == "__main__":
    main()
