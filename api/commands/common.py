"""What several commands share: the codec options built from the codec registry, the
post-filter resource options, JSON output, notes and progress bars."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from rcodec import api
from rcodec.codec import registry as codec_registry
from rcodec.units import size_argument


def add_codec_options(parser: argparse.ArgumentParser, sweep_only: bool = True,
                      several: bool = False) -> None:
    """--codec (one, or with `several` a comma-separated list) and the codecs' encoder
    options (those the sweep varies when `sweep_only`), each flag once (codecs may share
    one)."""
    default = codec_registry.DEFAULT_CODEC
    if several:
        parser.add_argument("--codec", type=codec_list, default=[default],
                            help=f"codecs, comma-separated, or all: "
                                 f"{', '.join(codec_registry.names())} (default {default}); "
                                 "with several, the plan picks each image's codec")
    else:
        parser.add_argument("--codec", choices=codec_registry.names(), default=default,
                            help=f"codec (default {default})")
    seen: dict[str, list] = {}
    for name in codec_registry.names():
        for option in codec_registry.codec_class(name).options:
            if option.sweep or not sweep_only:
                seen.setdefault(option.flag, []).append(option)
    for flag, options in seen.items():
        first = options[0]
        if first.type is bool:
            parser.add_argument(flag, action="store_true", default=None, help=first.help)
            continue
        choices = sorted({c for o in options for c in (o.choices or ())}, key=str) or None
        parser.add_argument(flag, type=first.type, choices=choices, default=None,
                            metavar=_metavar(choices), help="; ".join(o.help for o in options))


def codec_list(text: str) -> list[str]:
    """--codec's comma list: registered names, each once, in order ("all": every one)."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if names == ["all"]:
        return list(codec_registry.names())
    unknown = [n for n in names if n not in codec_registry.names()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown codec {unknown[0] if unknown else text!r} (choose from "
            f"{', '.join(codec_registry.names())})")
    return names


def _metavar(choices: list | None) -> str | None:
    if choices and all(isinstance(c, int) for c in choices) and len(choices) > 4:
        return f"{min(choices)}..{max(choices)}"
    return None


def codec_options(args: argparse.Namespace, codecs: str | list[str]) -> dict:
    """The encoder options given on the command line that the codec (or any of the codecs)
    has."""
    out = {}
    for codec in [codecs] if isinstance(codecs, str) else codecs:
        for option in codec_registry.codec_class(codec).options:
            value = getattr(args, _dest(option.flag), None)
            if value is not None:
                out[option.name] = value
    return out


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_objective_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--objective", choices=("pooled-psnr", "mean-psnr", "ms-ssim"),
                        default="pooled-psnr",
                        help="what the plan maximises: pooled-psnr (squared error over all "
                             "samples, the CLIC rule; default), mean-psnr (mean of per-image "
                             "PSNR, as papers report), ms-ssim (mean MS-SSIM); it also picks "
                             "BPG's tune unless --tune is given")


def add_filter_resource_options(parser: argparse.ArgumentParser) -> None:
    """--max-memory and --threads: what a post-filter may use while decoding."""
    parser.add_argument("--max-memory", type=size_argument, default=None,
                        help="activation memory for the post-filter, e.g. 1G (smaller tiles "
                             "when the default 512-pixel tiles would not fit)")
    parser.add_argument("--threads", type=int, default=None,
                        help="post-filter CPU threads (default: available cores)")


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=api.json_default))


def note(message: str) -> None:
    print(f"rcodec: {message}", file=sys.stderr)


@contextlib.contextmanager
def progress_bar(what: str, unit: str = "img") -> Iterator:
    """A progress bar on stderr (hidden when it is not a terminal); yields its update."""
    from tqdm import tqdm  # (imported on use: keeps start-up light)

    with tqdm(desc=what, unit=unit, leave=False, disable=None) as bar:
        yield bar.update
