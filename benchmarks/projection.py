"""Cost of keeping a JPEG luma network's output consistent with its file, beside the network.

  python benchmarks/projection.py [--runs 7] [--quality 30] [--network jpeg-uqy-10-60-v4]
      [--image PATH]

On a 768x512 photo as a colour JPEG, one thread, the median of up to N runs after a warm-up
(postfilter.timing.median_seconds): reading the JPEG's coefficients, projecting a luma plane
onto their intervals (postfilter.consistency), and the registered network's whole filter
(the luma round trip and the projection included), so that the projection's share of a
decode is printed as a ratio.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rcodec.codec.jpeg import JpegCodec
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.postfilter import registry
from rcodec.postfilter.consistency import project_luma
from rcodec.postfilter.inference import apply_filter, jfif_luma
from rcodec.postfilter.timing import median_seconds

DEFAULT_IMAGE = Path(__file__).parent.parent / "tests" / "data" / "bpg" / "coffee768x512.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quality", type=int, default=30)
    parser.add_argument("--network", default="jpeg-uqy-10-60-v4")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = np.asarray(Image.open(args.image).convert("RGB"))
    payload = JpegCodec().encode(image, args.quality)
    decoded = JpegCodec().decode(payload)
    coefficients = read_coefficients(payload)
    luma = jfif_luma(decoded)[..., 0]
    entry = registry.find(args.network)
    read = 1000 * median_seconds(args.runs, read_coefficients, payload)
    project = 1000 * median_seconds(args.runs, project_luma, luma, coefficients)
    network = 1000 * median_seconds(args.runs, lambda: apply_filter(entry, decoded, payload,
                                                                    threads=1))
    height, width = image.shape[:2]
    print(f"{args.image.name} {width}x{height}, JPEG quality {args.quality}, one thread, "
          f"median of {args.runs} runs")
    print(f"read coefficients {read:8.1f} ms")
    print(f"projection        {project:8.1f} ms")
    print(f"{args.network} {network:8.1f} ms in all; read + projection "
          f"{(read + project) / network:.3f} of it")


if __name__ == "__main__":
    main()
