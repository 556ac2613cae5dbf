"""What sharing views saves the sweep: a network and its self-ensemble entries measured
together (`rcodec.optimize.sweep.filter_outputs`, every view run once) against each entry
alone (`apply_filter`), side by side on the same decoded images, outputs compared exactly.

  python benchmarks/views.py IMAGES_DIR [--network bpg-uqd-38-44-deep-v2] [--qp 40]
                             [--limit 4] [--threads 1]

For a one-view network and its four-view entry the ideal ratio is 4/5 (four runs instead of
five). Run it on an otherwise idle core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rcodec.codec import registry as codecs
from rcodec.codec.images import image_paths, read_rgb
from rcodec.optimize.sweep import FilterSpec, filter_outputs
from rcodec.postfilter import registry
from rcodec.postfilter.inference import apply_filter, shared_run, torch_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--network", default="bpg-uqd-38-44-deep-v2")
    parser.add_argument("--qp", type=int, default=40)
    parser.add_argument("--limit", type=int, default=4, help="first N images")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    base = registry.find(args.network)
    entries = [e for e in registry.load_registry() if shared_run(e) == shared_run(base)]
    specs = [FilterSpec(e.name, e.selector, e.sha256) for e in entries]
    codec = codecs.make_codec(base.codec)
    alone_seconds = together_seconds = 0.0
    with torch_threads(args.threads):
        for path in image_paths(args.images)[: args.limit]:
            payload = codec.encode(read_rgb(path), args.qp)
            decoded = codec.decode(payload)
            apply_filter(base, decoded, payload)  # warm-up: load the weights, size the pools
            start = time.perf_counter()
            alone = {e.name: apply_filter(e, decoded, payload) for e in entries}
            alone_seconds += time.perf_counter() - start
            start = time.perf_counter()
            together = {s.name: output for s, output, _ in filter_outputs(specs, decoded,
                                                                           payload)}
            together_seconds += time.perf_counter() - start
            assert all(np.array_equal(alone[n], together[n]) for n in alone), path
    names = ", ".join(f"{e.name} ({e.ensemble} views)" for e in entries)
    shared, apart = max(e.ensemble for e in entries), sum(e.ensemble for e in entries)
    print(f"{names} at quantizer {args.qp}, {args.limit} images, {args.threads} thread(s)")
    print(f"each alone {alone_seconds:.1f} s, together {together_seconds:.1f} s: ratio "
          f"{together_seconds / alone_seconds:.3f} (ideal {shared}/{apart} = "
          f"{shared / apart:.3f}); outputs identical")


if __name__ == "__main__":
    main()
