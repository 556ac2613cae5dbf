"""encode, decode, metrics, info: single-file commands, each one call of the public API.

These commands never load torch unless a container's selector names a network (or metrics
computes MS-SSIM), so they start about as fast as the codec itself."""

from __future__ import annotations

import argparse
from pathlib import Path

from rcodec import api
from rcodec.codec import container
from rcodec.codec import registry as codec_registry
from rcodec.codec.images import image_shape, write_png
from rcodec.commands.common import (
    add_codec_options,
    add_filter_resource_options,
    codec_options,
    print_json,
)
from rcodec.errors import RcodecError, in_file
from rcodec.fileio import atomic_write_bytes


def add_encode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="source image (PNG, JPEG, ...)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file: a codec's own suffix (.bpg, .jpg, ...) or .rcb "
                             "(container) picks the format")
    add_codec_options(parser, sweep_only=False)
    parser.set_defaults(codec=None)
    quantizer = parser.add_mutually_exclusive_group()
    names = {codec_registry.codec_class(n).quantizer_name for n in codec_registry.names()}
    for name in sorted(names):
        users = [codec_registry.codec_class(n) for n in codec_registry.names()
                 if codec_registry.codec_class(n).quantizer_name == name]
        ranges = ", ".join(f"{c.name} {c.quantizer_range[0]}..{c.quantizer_range[1]} "
                           f"(default {c.default_quantizer})" for c in users)
        quantizer.add_argument(flag(name), type=int, help=f"quantizer: {ranges}")
    parser.add_argument("--filter", help="post-filter named in the container's selector byte")


def run_encode(args: argparse.Namespace) -> int:
    suffix = args.output.suffix.lower()
    plain = codec_registry.codec_for_suffix(suffix)
    if plain is None and suffix != container.SUFFIX:
        known = [s for n in codec_registry.names() for s in codec_registry.codec_class(n).suffixes]
        raise RcodecError(f"{args.output}: unknown output suffix (use {', '.join(known)} or "
                          f"{container.SUFFIX})")
    codec_name = plain.name if plain is not None else (args.codec or codec_registry.DEFAULT_CODEC)
    if args.codec and args.codec != codec_name:
        raise RcodecError(f"--codec {args.codec} conflicts with the output suffix "
                          f"{args.output.suffix}")
    if args.filter and plain is not None:
        raise RcodecError("--filter needs an .rcb container output (the selector byte)")
    cls = codec_registry.codec_class(codec_name)
    quantizer = getattr(args, cls.quantizer_name)
    for name in {codec_registry.codec_class(n).quantizer_name for n in codec_registry.names()}:
        if name != cls.quantizer_name and getattr(args, name) is not None:
            raise RcodecError(f"{flag(name)} is not {cls.name}'s quantizer; {cls.name} takes "
                              f"{flag(cls.quantizer_name)}")
    try:
        data = api.encode(args.input, codec=codec_name, quantizer=quantizer,
                          filter=args.filter, container=plain is None,
                          **codec_options(args, codec_name))
    except RcodecError as error:
        raise in_file(args.input, error) from None
    atomic_write_bytes(args.output, data)
    height, width = image_shape(args.input)
    print(f"{args.output}: {len(data)} bytes, {8 * len(data) / (width * height):.4f} bpp")
    return 0


def flag(name: str) -> str:
    """A quantizer's command-line flag: qp -> --qp, ratio_step -> --ratio-step."""
    return "--" + name.replace("_", "-")


def add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="a codec's file (.bpg, .jpg, ...) or .rcb")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output PNG")
    add_filter_resource_options(parser)


def run_decode(args: argparse.Namespace) -> int:
    try:
        image = api.decode(args.input, threads=args.threads, max_memory=args.max_memory)
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
    result = api.compare(args.reference, args.decoded)
    if args.json:
        print_json(result)
    else:
        for name, value in result.items():
            print(f"{name:8s} {value:.6f}" if isinstance(value, float) else f"{name:8s} {value}")
    return 0


def add_info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="a codec's file (.bpg, .jpg, ...) or .rcb")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run_info(args: argparse.Namespace) -> int:
    try:
        info = api.info(args.input)
    except RcodecError as error:
        raise in_file(args.input, error) from None
    if args.json:
        print_json(info)
    else:
        _print_tree(info)
    return 0


def _print_tree(info: dict, indent: str = "") -> None:
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_tree(value, indent + "  ")
        else:
            print(f"{indent}{key}: {value}")
