"""encode, decode, metrics, info: single-file commands over the codec layer."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from codec import container
from codec.bpg import MAGIC as BPG_MAGIC
from codec.bpg import as_samples, read_bpg_info
from codec.jpeg import JpegCodec, read_header
from postfilter import registry
from rcodec import metrics
from rcodec.cli import print_json
from rcodec.errors import RcodecError, in_file
from rcodec.fileio import atomic_write_bytes, read_bytes
from rcodec.images import open_image, read_rgb, write_png
from rcodec.pipeline import SUFFIX_KIND, decode_bytes, make_codec
from rcodec.units import size_argument


def add_encode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="source image (PNG, JPEG, ...)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file; .bpg, .jpg or .rcb (container) picks the format")
    parser.add_argument("--codec", choices=["bpg", "jpeg"],
                        help="codec inside an .rcb container (default bpg)")
    quantizer = parser.add_mutually_exclusive_group()
    quantizer.add_argument("--qp", type=int, help="BPG quantizer 0..51 (default 29)")
    quantizer.add_argument("--quality", type=int, help="JPEG quality 1..100 (default 75)")
    parser.add_argument("--format", dest="pixel_format",
                        choices=["420", "422", "444", "gray", "420_video", "422_video"],
                        help="chroma format (BPG: default 420; JPEG: 420, 422, 444)")
    parser.add_argument("--bit-depth", type=int, choices=[8, 10], help="BPG bit depth")
    parser.add_argument("--level", type=int, choices=range(1, 10), metavar="1..9",
                        help="BPG compression level (default 8)")
    parser.add_argument("--color-space", choices=["ycbcr", "ycbcr_bt709", "ycgco", "rgb"],
                        help="BPG colour space (default ycbcr, BT.601)")
    parser.add_argument("--limited-range", action="store_true", default=None,
                        help="BPG: code with the limited (video) range")
    parser.add_argument("--filter", help="post-filter named in the container's selector byte")


def run_encode(args: argparse.Namespace) -> int:
    kind = SUFFIX_KIND.get(args.output.suffix.lower())
    if kind is None:
        raise RcodecError(f"{args.output}: unknown output suffix (use .bpg, .jpg or .rcb)")
    codec_name = kind if kind != "container" else (args.codec or "bpg")
    if args.codec and args.codec != codec_name:
        raise RcodecError(f"--codec {args.codec} conflicts with the output suffix "
                          f"{args.output.suffix}")
    if args.filter and kind != "container":
        raise RcodecError("--filter needs an .rcb container output (the selector byte)")
    if codec_name == "bpg" and args.quality is not None:
        raise RcodecError("--quality is for JPEG; BPG takes --qp")
    if codec_name == "jpeg" and args.qp is not None:
        raise RcodecError("--qp is for BPG; JPEG takes --quality")
    image = open_image(args.input)
    options: dict[str, object] = {"level": args.level, "bit_depth": args.bit_depth,
                                  "color_space": args.color_space,
                                  "limited_range": args.limited_range}
    if codec_name == "bpg":
        options["pixel_format"] = args.pixel_format
        quantizer = 29 if args.qp is None else args.qp
        samples = as_samples(image)
    else:
        if args.pixel_format in ("gray",):
            image = image.convert("L")
        elif args.pixel_format:
            options["subsampling"] = args.pixel_format
        quantizer = 75 if args.quality is None else args.quality
        samples = np.asarray(image.convert("L" if image.mode in ("L", "LA", "I;16", "I")
                                           else "RGB"))
    codec = make_codec(codec_name, **options)
    try:
        data = codec.encode(samples, quantizer)
    except RcodecError as error:
        raise in_file(args.input, error) from None
    if kind == "container":
        selector = container.NO_FILTER
        if args.filter:
            selector = filter_for(args.filter, codec_name, samples.ndim == 2).selector
        data = container.pack(selector, data)
    atomic_write_bytes(args.output, data)
    height, width = samples.shape[:2]
    print(f"{args.output}: {len(data)} bytes, {8 * len(data) / (width * height):.4f} bpp")
    return 0


def filter_for(name: str, codec_name: str, gray: bool) -> registry.ModelEntry:
    """The registered network `name`, refused unless it filters this codec's output (and,
    for a gray image, unless it filters one plane)."""
    entry = registry.find(name)
    if entry.codec != codec_name:
        raise RcodecError(f"post-filter {name} is for {entry.codec}, not {codec_name}")
    if gray and entry.channels == "rgb":
        raise RcodecError(f"post-filter {name} takes RGB; this image is gray (use a luma "
                          f"network, channels y in `rcodec models`)")
    return entry


def add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help=".bpg, .jpg or .rcb file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    add_filter_resource_options(parser)


def add_filter_resource_options(parser: argparse.ArgumentParser) -> None:
    """--max-memory and --threads: what a post-filter may use while decoding."""
    parser.add_argument("--max-memory", type=size_argument, default=None,
                        help="activation memory for the post-filter, e.g. 1G (smaller tiles "
                             "when the default 512-pixel tiles would not fit)")
    parser.add_argument("--threads", type=int, default=None,
                        help="post-filter CPU threads (default: available cores)")


def run_decode(args: argparse.Namespace) -> int:
    data = read_bytes(args.input)
    try:
        image = decode_bytes(data, threads=args.threads, max_memory=args.max_memory)
    except RcodecError as error:
        raise in_file(args.input, error) from None
    write_png(args.output, image)
    print(f"{args.output}: {image.shape[1]}x{image.shape[0]}")
    return 0


def add_metrics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", type=Path, help="original image")
    parser.add_argument("decoded", type=Path, help="decoded image")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run_metrics(args: argparse.Namespace) -> int:
    reference, decoded = read_rgb(args.reference), read_rgb(args.decoded)
    if reference.shape != decoded.shape:
        raise RcodecError(f"{args.decoded}: size {decoded.shape[1]}x{decoded.shape[0]} differs "
                          f"from {args.reference} ({reference.shape[1]}x{reference.shape[0]})")
    result = {"sse": metrics.sse(decoded, reference), "samples": reference.size}
    result.update({name: fn(decoded, reference) for name, fn in metrics.METRICS.items()})
    if args.json:
        print_json(result)
    else:
        for name, value in result.items():
            print(f"{name:8s} {value:.6f}" if isinstance(value, float) else f"{name:8s} {value}")
    return 0


def add_info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help=".bpg, .jpg or .rcb file")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run_info(args: argparse.Namespace) -> int:
    data = read_bytes(args.input)
    try:
        info = file_info(data)
    except RcodecError as error:
        raise in_file(args.input, error) from None
    if args.json:
        print_json(info)
    else:
        _print_tree(info)
    return 0


def file_info(data: bytes) -> dict:
    """Header fields of any of the three kinds of file."""
    if data.startswith(BPG_MAGIC):
        return {"format": "BPG", **read_bpg_info(data)}
    if data.startswith(JpegCodec.magic):
        header = read_header(data)
        return {"format": "JPEG", "width": header.width, "height": header.height,
                "components": header.components, "sampling": header.sampling,
                "progressive": header.progressive, "bytes": len(data)}
    parsed = container.unpack(data, registry.known_selectors())
    name = "none" if parsed.selector == container.NO_FILTER else registry.find(
        parsed.selector).name
    return {"format": "rcodec container", "selector": parsed.selector, "filter": name,
            "payload": file_info(parsed.payload)}


def _print_tree(info: dict, indent: str = "") -> None:
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_tree(value, indent + "  ")
        else:
            print(f"{indent}{key}: {value}")
