"""challenge pack | check | score | table: challenge-style submissions and their scores."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from optimize import job
from optimize.cache import default_cache_root
from rcodec.cli import print_json
from rcodec.commands.job_commands import (
    add_budget_options,
    add_sweep_options,
    backend_context,
    budgeted_job,
    progress_bar,
)
from rcodec.images import list_images
from rcodec.units import duration_argument, size_argument


def add_challenge_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="challenge_command", required=True, metavar="ACTION")
    pack = actions.add_parser("pack", help="plan under the byte cap and write a submission")
    pack.add_argument("images", type=Path, help="folder of images")
    pack.add_argument("-o", "--output", type=Path, required=True, help="submission folder")
    add_budget_options(pack)
    add_sweep_options(pack, with_target=False)
    pack.set_defaults(filters="none,default")

    check = actions.add_parser("check", help="check a submission against the rules")
    check.add_argument("submission", type=Path)
    check.add_argument("--images", type=Path, required=True, help="the original images")
    cap = check.add_mutually_exclusive_group()
    cap.add_argument("--bytes", type=int, help="byte cap (default: the one in report.json)")
    cap.add_argument("--bpp", type=str, help="byte cap as bits per pixel of the originals")
    check.add_argument("--memory-limit", type=size_argument, default="8G",
                       help="decoder's resident memory limit (default 8G)")
    check.add_argument("--time-limit", type=duration_argument, default="1h",
                       help="decoder's wall-time limit (default 1h)")
    check.add_argument("--decoded", type=Path, help="keep the decoded PNGs here")
    check.add_argument("--json", action="store_true", help="print the rules as JSON")

    score = actions.add_parser("score", help="CLIC metrics of decoded images")
    score.add_argument("decoded", type=Path, help="folder of decoded PNGs")
    score.add_argument("images", type=Path, help="folder of original images")
    score.add_argument("--compressed", type=Path,
                       help="folder of the compressed files, for bpp (default: look in "
                            "DECODED)")
    score.add_argument("--json", action="store_true", help="print JSON")

    table = actions.add_parser("table", help="the CLIC 2018 post-processing table: per QP, "
                                             "bpp and PSNR / MS-SSIM of BPG and each network")
    table.add_argument("images", type=Path, help="folder of images")
    table.add_argument("--qps", default="39:43")
    table.add_argument("--filters", default="all",
                       help="networks to compare ('all' registered BPG ones)")
    table.add_argument("--level", type=int, default=8)
    table.add_argument("--jobs", type=int, default=-1)
    table.add_argument("--cache", type=Path, default=None)
    table.add_argument("--json", type=Path, help="also write the table as JSON here")
    table.add_argument("--markdown", type=Path, help="also write the table as Markdown here")


def run_challenge(args: argparse.Namespace) -> int:
    return {"pack": run_pack, "check": run_check, "score": run_score,
            "table": run_table}[args.challenge_command](args)


def run_pack(args: argparse.Namespace) -> int:
    from challenge.pack import pack

    paths, request, budget = budgeted_job(args)
    with progress_bar(len(paths), "sweep") as bar, backend_context(args):
        report = pack(args.images, args.output, budget, request,
                      args.cache or default_cache_root(), args.jobs, args.backend,
                      args.solver, bar.update, args.time_limit)
    totals = report["totals"]
    print(f"{args.output}: {totals['images']} images, {totals['total_bytes']} bytes of images "
          f"+ report = within the cap of {report['budget']['bytes']} "
          f"({totals['bpp']:.4f} bpp)")
    print(f"predicted pooled PSNR {totals['pooled_psnr']:.3f} dB, MS-SSIM "
          f"{totals['mean_ms_ssim']:.5f}, decode {totals['decode_seconds']:.1f} s; networks: "
          f"{', '.join(report['decoder']['networks']) or 'none'}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from challenge.check import check
    from challenge.pack import cap_for

    cap = args.bytes
    if args.bpp is not None:
        cap = cap_for(job.Budget(bpp=args.bpp), args.images)
    rules = check(args.submission, args.images, cap, args.memory_limit, args.time_limit,
                  args.decoded)
    if args.json:
        print_json([rule.__dict__ for rule in rules])
    else:
        for rule in rules:
            print(f"{'PASS' if rule.passed else 'FAIL'}  {rule.name:<8} {rule.detail}")
    failed = [rule.name for rule in rules if not rule.passed]
    if failed:
        print(f"rcodec: submission fails: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def run_score(args: argparse.Namespace) -> int:
    from challenge.score import score

    result = score(args.decoded, args.images, args.compressed)
    if args.json:
        print_json(result)
        return 0
    bpp = "unknown (no compressed files found)" if result["bpp"] is None \
        else f"{result['bpp']:.4f}"
    print(f"images   {result['images']} ({result['pixels']} pixels)")
    print(f"PSNR     {result['psnr']:.3f} dB (total squared error over all RGB samples)")
    print(f"MS-SSIM  {result['ms_ssim_mean']:.5f} mean over images, "
          f"{result['ms_ssim_pixel_weighted']:.5f} weighted by pixels")
    print(f"bpp      {bpp}")
    return 0


def run_table(args: argparse.Namespace) -> int:
    from challenge.table import format_markdown, qp_table

    result = qp_table(args.images, args.qps, args.filters, args.level,
                      args.cache or default_cache_root(), args.jobs)
    text = format_markdown(result)
    print(text)
    from rcodec.fileio import atomic_write_text

    if args.markdown:
        atomic_write_text(args.markdown, text + "\n")
    if args.json:
        import json

        atomic_write_text(args.json, json.dumps(result, indent=2))
    return 0



def add_rd_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, help="folder of images")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--codec", default="bpg", help="comma-separated: bpg, jpeg")
    parser.add_argument("--filters", default="none,default",
                        help="post-filter candidates for the plan+filter curves ('default': "
                             "each codec's default networks)")
    parser.add_argument("--bpp", default="0.05:0.6:12",
                        help="budgets: START:STOP:COUNT or a comma-separated list")
    parser.add_argument("--baseline", help="curve the BD numbers are against "
                                           "(default: the first codec's fixed curve)")
    parser.add_argument("--level", type=int, default=8, choices=range(1, 10), metavar="1..9")
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--cache", type=Path, default=None)


def run_rd(args: argparse.Namespace) -> int:
    from challenge.rd import parse_rates, rd_curves, write_rd
    from optimize.sweep import CodecSpec, FilterSpec
    from postfilter import registry
    from rcodec.commands.job_commands import default_filters
    from rcodec.errors import RcodecError

    codecs = [name.strip() for name in args.codec.split(",") if name.strip()]
    for name in codecs:
        if name not in ("bpg", "jpeg"):
            raise RcodecError(f"unknown codec {name!r} (bpg or jpeg)")
    specs = [CodecSpec(name, (("level", args.level),) if name == "bpg" else ())
             for name in codecs]
    filters: dict[str, list] = {name: [] for name in codecs}
    for name in (n.strip() for n in args.filters.split(",")):
        if name == "default":
            for codec in codecs:
                filters[codec] += default_filters(codec)
        elif name and name != "none":
            entry = registry.find(name)
            if entry.codec not in filters:
                raise RcodecError(f"post-filter {name} is for {entry.codec}, not swept here")
            filters[entry.codec].append(FilterSpec(entry.name, entry.selector, entry.sha256))
    rates = parse_rates(args.bpp)
    paths = list_images(args.images)
    with progress_bar(len(paths) * len(specs), "sweep") as bar:
        curves = rd_curves(args.images, specs, filters, rates,
                           args.cache or default_cache_root(), args.jobs, bar.update)
    table = write_rd(curves, args.output, args.baseline or f"{codecs[0]}-fixed")
    print(f"{'curve':<22} {'points':>6} {'BD-rate':>9} {'BD-PSNR':>8}   vs {table['baseline']}")
    for curve in curves:
        bd = table["curves"][curve.name]
        rate = "n/a" if bd["bd_rate_percent"] is None else f"{bd['bd_rate_percent']:+.2f}%"
        psnr = "n/a" if bd["bd_psnr_db"] is None else f"{bd['bd_psnr_db']:+.3f}"
        print(f"{curve.name:<22} {len(curve.points):>6} {rate:>9} {psnr:>8}")
    print(f"wrote {len(curves)} curves (CompressAI JSON), rd.png, rd.svg and bd.json to "
          f"{args.output}")
    return 0
