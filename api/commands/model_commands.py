"""models, calibrate, jpeg-table: the registered post-filter networks and their speed and
quality, each one call of the public API."""

from __future__ import annotations

import argparse
from pathlib import Path

from rcodec import api
from rcodec.commands.common import codec_list, print_json
from rcodec.units import count_argument, quantizers_argument


def add_models_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list (name, selector, codec, arch, params, "
                             "seconds_per_mpx, sha256, ...)")


def run_models(args: argparse.Namespace) -> int:
    entries = api.models()
    measured = api.calibrated_speeds()
    if args.json:
        print_json([entry.to_json() | {"calibrated_seconds_per_mpx": measured[entry.name]}
                    for entry in entries])
        return 0
    if not entries:
        print("no post-filter networks registered")
    # Columns as wide as their longest entry, so that long names keep the table aligned.
    name_width = max((len(e.name) for e in entries), default=0)
    arch_width = max((len(e.arch) for e in entries), default=0)
    for e in entries:
        rate = measured[e.name] or e.seconds_per_mpx
        where = "here" if measured[e.name] else "as shipped"
        speed = f"{rate:.2f} s/MP ({where})" if rate else "not timed"
        default = "  default" if e.default else ""
        views = f"  {e.ensemble} views" if e.ensemble > 1 else ""
        span = f"{e.quantizer_range[0]}-{e.quantizer_range[1]}"
        print(f"{e.selector:>3}  {e.name:<{name_width}}  {e.codec:<5} {e.arch:<{arch_width}} "
              f"{e.params:>9,} params  {span:<5}  {speed}{views}{default}")
    return 0


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", help="comma-separated networks to time (default: all)")
    parser.add_argument("--codec", type=codec_list, default=None,
                        help="codecs to time, comma-separated, or all (default: all)")
    parser.add_argument("--repeats", type=count_argument, default=5,
                        help="timed runs per stage (median)")
    parser.add_argument("--json", action="store_true", help="print the calibration as JSON")


def run_calibrate(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.models.split(",")] if args.models else None

    def report(stage: str, seconds_per_mpx: float) -> None:
        if not args.json:
            print(f"  {stage:<20} {seconds_per_mpx:8.3f} s/MP  "
                  f"({seconds_per_mpx * 0.393216:.3f} s per 768x512)", flush=True)

    if not args.json:
        print("timing each decode stage alone, one image at a time (median of "
              f"{args.repeats})")
    result, path = api.calibrate(names, codecs=args.codec, repeats=args.repeats,
                                 progress=report)
    if args.json:
        print_json(result.to_json() | {"path": path})
    else:
        print(f"saved to {path}; the planner's decode-time budget uses it")
    return 0


def add_jpeg_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, help="validation folder (bsds500 val)")
    parser.add_argument("--qualities", type=quantizers_argument, default=[10, 20, 30, 40, 50],
                        help="JPEG qualities of the rows: 10,20,30,40,50 (default) or 10:50:10")
    parser.add_argument("--runs", type=Path, nargs="*", default=[],
                        help="training run folders to include besides the registered networks")
    parser.add_argument("--networks", type=lambda text: [n.strip() for n in text.split(",")],
                        help="comma-separated registered networks (default: every JPEG one)")
    parser.add_argument("--update", action="store_true",
                        help="merge into the table at --output: the networks measured now "
                             "replace their rows, the others are kept")
    parser.add_argument("--limit", type=count_argument, help="first N images only")
    parser.add_argument("-o", "--output", type=Path, default=Path(
        "docs/jpeg-artifact-removal.md"), help="Markdown table (JSON next to it)")


def run_jpeg_table(args: argparse.Namespace) -> int:
    _, text = api.jpeg_table(args.images, qualities=args.qualities, runs=args.runs,
                             limit=args.limit, out=args.output, networks=args.networks,
                             update=args.update)
    print(text)
    return 0
