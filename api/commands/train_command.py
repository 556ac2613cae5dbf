"""rcodec train: train a post-filter on pairs made with our own codec; resumes when re-run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rcodec import api
from rcodec.codec import registry as codec_registry
from rcodec.commands.codec_commands import flag
from rcodec.errors import RcodecError
from rcodec.units import duration_argument, quantizers_argument


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True,
                        help="A, B, C (the paper's), M, S (small); for JPEG: arcnn, fast_arcnn, "
                             "conv_unit, l4, l8 (luma), hrcnn (luma, DCT domain), "
                             "block_context (RGB)")
    parser.add_argument("--arch-config", type=arch_config, default={},
                        help='constructor options of the architecture as JSON, e.g. '
                             '\'{"blocks": 16, "maps": 64}\' or \'{"residual": true}\'')
    parser.add_argument("--codec", choices=codec_registry.names(),
                        default=codec_registry.DEFAULT_CODEC)
    for name in quantizer_names():
        parser.add_argument(flag(name), type=quantizers_argument,
                            help=f"{name} of the training pairs (--qp for BPG, --quality for "
                                 "JPEG, ...); several (38:42, 30:50:4 or 30,40) train one "
                                 "network on all of them")
    parser.add_argument("--data", type=Path, required=True, help="folder of training images")
    parser.add_argument("--val", type=Path, required=True, help="folder of validation images")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="run folder: checkpoints, log.csv, best weights, report.json")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-halve-every", type=int,
                        help="halve the rate every this many steps, counted from step 1 "
                             "(default: 100,000, or the period the resumed run last used)")
    parser.add_argument("--steps", type=int, default=300_000, help="stop after this many steps")
    parser.add_argument("--val-every", type=int, default=1000)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--patience", type=int, default=10,
                        help="validations without improvement before stopping")
    parser.add_argument("--downscale", type=int, default=1,
                        help="area-downscale sources first (2 washes out JPEG artefacts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--threads", type=int, help="CPU threads (default: available cores)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: mixed precision, about 2x faster on CPUs with native bf16")
    parser.add_argument("--time-limit", type=duration_argument,
                        help="stop after this much wall time (validating, checkpointing and "
                             "reporting first); re-run to go on")
    parser.add_argument("--decoded", help="decodes of the training images made elsewhere "
                                          "(<stem>.png/.webp; {q}: the quantizer) instead of "
                                          "running the codec here")
    parser.add_argument("--val-decoded", help="the same for the validation images")
    parser.add_argument("--init", metavar="NETWORK|FILE.safetensors",
                        help="start from these weights (fine-tune): a registered network of "
                             "the same architecture, or a weights file; the run's net may be "
                             "it grown deeper (more blocks in --arch-config), whose new "
                             "residual blocks start as the identity")
    parser.add_argument("--edge-loss", action="store_true",
                        help="add the MSE of horizontal and vertical Sobel derivatives to the "
                             "loss (the L4/L8 papers' edge-emphasised objective)")
    parser.add_argument("--consistency", action="store_true",
                        help="JPEG luma networks: project the output onto the file's "
                             "coefficient intervals before the loss and in validation, as "
                             "decoding does (crops on the 8x8 block grid)")
    parser.add_argument("--crop-grid", type=int, default=1, metavar="N",
                        help="crop origins on multiples of N (8: the codec's block grid "
                             "where decoding has it against the network's strides)")


def arch_config(text: str) -> dict:
    """--arch-config's JSON object."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object, e.g. '{\"residual\": true}'")
    return value


def quantizer_names() -> list[str]:
    """The quantizer flags of the registered codecs (qp, quality, ...), each once."""
    return list(dict.fromkeys(codec_registry.codec_class(n).quantizer_name
                              for n in codec_registry.names()))


def run_train(args: argparse.Namespace) -> int:
    own = codec_registry.codec_class(args.codec).quantizer_name
    quantizers = getattr(args, own)
    if quantizers is None:
        raise RcodecError(f"give {flag(own)} for {args.codec}")
    best = api.train(
        arch=args.arch, codec=args.codec, quantizer=quantizers[0],
        quantizers=quantizers if len(quantizers) > 1 else None, data_dir=str(args.data),
        val_dir=str(args.val), out_dir=str(args.output), batch_size=args.batch_size,
        crop=args.crop, lr=args.lr, lr_halve_every=args.lr_halve_every, max_steps=args.steps,
        val_every=args.val_every, patience=args.patience, seed=args.seed, device=args.device,
        downscale=args.downscale, checkpoint_every=args.checkpoint_every, threads=args.threads,
        precision=args.precision, edge_loss=args.edge_loss,
        consistency=args.consistency, crop_grid=args.crop_grid, time_limit=args.time_limit,
        arch_config=args.arch_config, decoded_dir=args.decoded,
        val_decoded_dir=args.val_decoded, init_weights=args.init)
    print(f"best weights: {best}")
    return 0
