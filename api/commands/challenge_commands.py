"""challenge pack | check | score | table, and rd: challenge-style submissions, their scores
and rate-distortion curves, each one call of the public API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rcodec import api
from rcodec.commands.common import (
    add_codec_options,
    add_objective_option,
    codec_options,
    print_json,
    progress_bar,
)
from rcodec.commands.job_commands import (
    add_budget_options,
    add_sweep_options,
    backend_context,
    budget_options,
    job_options,
    whole_number,
)
from rcodec.units import (
    duration_argument,
    jobs_argument,
    quantizers_argument,
    size_argument,
)


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
    cap.add_argument("--bytes", type=whole_number,
                     help="byte cap (default: the one in report.json)")
    cap.add_argument("--bpp", help="byte cap as bits per pixel of the originals")
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
    table.add_argument("--qps", default="39:43", type=quantizers_argument)
    table.add_argument("--filters", default="all",
                       help="networks to compare ('all' registered for the codec)")
    add_codec_options(table)
    table.add_argument("--jobs", type=jobs_argument, default=-1)
    table.add_argument("--cache", type=Path, default=None)
    table.add_argument("--json", type=Path, help="also write the table as JSON here")
    table.add_argument("--markdown", type=Path, help="also write the table as Markdown here")


def run_challenge(args: argparse.Namespace) -> int:
    return {"pack": run_pack, "check": run_check, "score": run_score,
            "table": run_table}[args.challenge_command](args)


def run_pack(args: argparse.Namespace) -> int:
    with progress_bar("sweep") as update, backend_context(args):
        report = api.pack_submission(args.images, args.output, progress=update,
                                     **budget_options(args), **job_options(args))
    totals = report["totals"]
    print(f"{args.output}: {totals['images']} images, {totals['total_bytes']} bytes of images "
          f"+ report = within the cap of {report['budget']['bytes']} "
          f"({totals['bpp']:.4f} bpp)")
    print(f"predicted pooled PSNR {totals['pooled_psnr']:.3f} dB, MS-SSIM "
          f"{totals['mean_ms_ssim']:.5f}, decode {totals['decode_seconds']:.1f} s; networks: "
          f"{', '.join(report['decoder']['networks']) or 'none'}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    rules = api.check_submission(args.submission, args.images, bytes=args.bytes, bpp=args.bpp,
                                 memory_limit=args.memory_limit, time_limit=args.time_limit,
                                 decoded=args.decoded)
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
    result = api.score_submission(args.decoded, args.images, compressed=args.compressed)
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
    from rcodec.challenge.table import format_markdown  # (imported on use: loads the layers)

    result = api.qp_table(args.images, qps=args.qps, filters=args.filters,
                          codec_options=codec_options(args, args.codec), cache=args.cache,
                          jobs=args.jobs, codec=args.codec)
    text = format_markdown(result)
    print(text)
    if args.markdown:
        api.write_text(args.markdown, text + "\n")
    if args.json:
        api.write_json(args.json, result)
    return 0


def add_rd_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, help="folder of images")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    add_codec_options(parser, several=True)
    parser.add_argument("--filters", default="none,default",
                        help="post-filter candidates for the plan+filter curves ('default': "
                             "each codec's default networks)")
    parser.add_argument("--bpp", default="0.05:0.6:12",
                        help="budgets: START:STOP:COUNT or a comma-separated list")
    parser.add_argument("--baseline", help="curve the BD numbers are against "
                                           "(default: the first codec's fixed curve)")
    add_objective_option(parser)
    parser.add_argument("--jobs", type=jobs_argument, default=-1)
    parser.add_argument("--cache", type=Path, default=None)


def run_rd(args: argparse.Namespace) -> int:
    options = codec_options(args, args.codec)
    with progress_bar("sweep") as update:
        result = api.rd(args.images, args.output, codecs=args.codec, filters=args.filters,
                        bpp=args.bpp, baseline=args.baseline, codec_options=options,
                        objective=args.objective,
                        cache=args.cache, jobs=args.jobs, progress=update)
    table = result.bd
    print(f"{'curve':<22} {'points':>6} {'BD-rate':>9} {'BD-PSNR':>8}   vs {table['baseline']}")
    for curve in result.curves:
        bd = table["curves"][curve["name"]]
        rate = "n/a" if bd["bd_rate_percent"] is None else f"{bd['bd_rate_percent']:+.2f}%"
        psnr = "n/a" if bd["bd_psnr_db"] is None else f"{bd['bd_psnr_db']:+.3f}"
        print(f"{curve['name']:<22} {len(curve['points']):>6} {rate:>9} {psnr:>8}")
    print(f"wrote {len(result.curves)} curves (CompressAI JSON), rd.png, rd.svg and bd.json "
          f"to {args.output}")
    return 0
