"""models, calibrate: the registered post-filter networks and their speed on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from optimize.calibration import calibrate, load_calibration, save_calibration
from postfilter import registry
from rcodec.cli import print_json


def add_models_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list (name, selector, codec, arch, params, "
                             "seconds_per_mpx, sha256, ...)")


def run_models(args: argparse.Namespace) -> int:
    entries = registry.load_registry()
    calibration = load_calibration()
    measured = {e.name: calibration.filter_rate(e.name, e.sha256) if calibration else None
                for e in entries}
    if args.json:
        print_json([entry.to_json() | {"calibrated_seconds_per_mpx": measured[entry.name]}
                    for entry in entries])
        return 0
    if not entries:
        print("no post-filter networks registered")
    for e in entries:
        rate = measured[e.name] or e.seconds_per_mpx
        where = "here" if measured[e.name] else "as shipped"
        speed = f"{rate:.2f} s/MP ({where})" if rate else "not timed"
        default = "  default" if e.default else ""
        print(f"{e.selector:>3}  {e.name:<20} {e.codec:<5} {e.arch:<6} {e.params:>9,} params  "
              f"{e.quantizer_range[0]}-{e.quantizer_range[1]}  {speed}{default}")
    return 0


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", help="comma-separated networks to time (default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per stage (median)")
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
    result = calibrate(names, repeats=max(1, args.repeats), progress=report,
                       base=load_calibration())
    path = save_calibration(result)
    if args.json:
        print_json(result.to_json() | {"path": path})
    else:
        print(f"saved to {path}; the planner's decode-time budget uses it")
    return 0


def add_jpeg_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, help="validation folder (bsds500 val)")
    parser.add_argument("--qualities", default="10,20")
    parser.add_argument("--runs", type=Path, nargs="*", default=[],
                        help="training run folders to include besides the registered networks")
    parser.add_argument("--limit", type=int, help="first N images only")
    parser.add_argument("-o", "--output", type=Path, default=Path(
        "docs/jpeg-artifact-removal.md"), help="Markdown table (JSON next to it)")


def run_jpeg_table(args: argparse.Namespace) -> int:
    import json

    from postfilter.jpeg_table import compare, markdown, registered_networks, run_network
    from rcodec.fileio import atomic_write_text

    qualities = [int(q) for q in args.qualities.split(",")]
    networks = registered_networks() + [run_network(run) for run in args.runs]
    result = compare(args.images, qualities, networks, args.limit)
    text = markdown(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, text)
    atomic_write_text(args.output.with_suffix(".json"), json.dumps(result, indent=2))
    print(text)
    return 0
