"""Gain of training runs' best weights beside shipped BPG networks, before anything ships.

  python benchmarks/checkpoints.py IMAGES_DIR --qp 46 [--limit 16] [--views 1,4]
      [--level 8] NETWORK_OR_RUN_DIR [...]

Each network is a shipped name (`rcodec models`) or a training run's folder (its
best.safetensors, built from its state.json or report.json as `postfilter.ship` builds it).
Every network filters the same BPG decodes of the first `--limit` images at one QP, bf16 on
one thread, as the shipped BPG defaults run; the output is rounded to 8 bits as a decoder
writes it. Prints each network's pooled PSNR gain over the unfiltered decodes for each view
count (`--views 1,4` runs the four views once and reads the one-view output off them).
A quick screen of a checkpoint: `benchmarks/filters.py` on all images measures what ships.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from rcodec.codec import registry as codec_registry
from rcodec.codec.images import image_paths, read_rgb
from rcodec.errors import RcodecError
from rcodec.metrics import pooled_psnr, sse
from rcodec.postfilter import inference, registry
from rcodec.postfilter.ensemble import check_views
from rcodec.postfilter.ship import trained_model


def network(name_or_run: str) -> nn.Module:
    """A shipped network by name, or a run folder's best weights."""
    if Path(name_or_run).is_dir():
        config, _, model = trained_model(Path(name_or_run))
        codec = config["codec"]
    else:
        entry = registry.find(name_or_run)
        codec, model = entry.codec, inference.load_model(entry)
    if codec != "bpg":
        raise RcodecError(f"{name_or_run}: a {codec} network, not a BPG one")
    return model.eval()


def view_counts(text: str) -> tuple[int, ...]:
    """"1,4" -> (1, 4): distinct view counts, fewest first, each one an ensemble allows."""
    counts = tuple(sorted({int(part) for part in text.split(",")}))
    for count in counts:
        check_views(count)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("networks", nargs="+", help="shipped names or training run folders")
    parser.add_argument("--qp", type=int, required=True)
    parser.add_argument("--limit", type=int, default=16, help="the first N images (16)")
    parser.add_argument("--views", default="1", help="view counts, e.g. 1,4,8")
    parser.add_argument("--level", type=int, default=8, help="x265 effort level (8)")
    args = parser.parse_args()
    try:
        counts = view_counts(args.views)
        models = {name: network(name) for name in args.networks}
    except (RcodecError, ValueError) as error:
        parser.error(str(error))
    torch.set_num_threads(1)
    codec = codec_registry.make_codec("bpg", level=args.level)
    errors = {(name, count): 0 for name in models for count in counts}
    unfiltered = samples = 0
    for path in tqdm(image_paths(args.images)[:args.limit], desc=f"QP {args.qp}"):
        original = read_rgb(path)
        decoded = codec.decode(codec.encode(original, args.qp))
        unfiltered += sse(decoded, original)
        samples += original.size
        for name, model in models.items():
            for count, output in inference.restore_views(model, decoded, counts,
                                                         precision="bf16", quantizer=args.qp):
                errors[name, count] += sse(inference.to_uint8(output), original)
    base = pooled_psnr(unfiltered, samples)
    print(f"{samples // 3:,} pixels at QP {args.qp}: BPG {base:.4f} dB; gain (dB) per views")
    print(f"{'network':<40} " + " ".join(f"{c:>8}" for c in counts))
    for name in models:
        gains = (pooled_psnr(errors[name, c], samples) - base for c in counts)
        print(f"{name:<40} " + " ".join(f"{g:>+8.4f}" for g in gains))


if __name__ == "__main__":
    main()
