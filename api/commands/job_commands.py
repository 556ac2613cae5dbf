"""sweep, plan, compress, decompress, evaluate, demo: the dataset-level commands, each one
call of the public API (rcodec.api) between parsing and printing."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from rcodec import api
from rcodec.commands.common import (
    add_codec_options,
    add_filter_resource_options,
    add_objective_option,
    codec_options,
    note,
    progress_bar,
)
from rcodec.errors import RcodecError
from rcodec.units import (
    duration_argument,
    jobs_argument,
    quantizers_argument,
)

#: Planner methods (`rcodec.optimize.plan.METHODS`, spelled out here so that building the
#: parser does not load the solvers).
SOLVERS = ("auto", "highs", "cbc", "lagrangian")


def add_sweep_options(parser: argparse.ArgumentParser, with_target: bool = True) -> None:
    add_codec_options(parser, several=True)
    parser.add_argument("--qps", type=quantizers_argument,
                        help="candidate quantizers, e.g. 38:42 or 30:50:2 (default: an "
                             "adaptive window around the target rate per image)")
    parser.add_argument("--filters", default="none,default",
                        help="comma-separated post-filter candidates: network names, 'default' "
                             "(the codec's default networks; see `rcodec models`) or 'none' "
                             "alone for no post-filter (default: none,default)")
    parser.add_argument("--jobs", type=jobs_argument, default=-1,
                        help="parallel workers (default: all cores)")
    parser.add_argument("--backend", default=None,
                        help="joblib backend (loky, threading, dask); default loky")
    parser.add_argument("--scheduler", help="dask.distributed scheduler address (with "
                                            "--backend dask)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="sweep cache folder (default $RCODEC_CACHE or ~/.cache/rcodec)")
    if with_target:
        parser.add_argument("--bpp", default="0.15",
                            help="target rate the adaptive window centres on (default 0.15)")


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    budget = parser.add_mutually_exclusive_group(required=True)
    # Budgets are checked by the API (one line, exit 1), like every other job input.
    budget.add_argument("--bpp", help="total budget in bits per pixel (CLIC count)")
    budget.add_argument("--bytes", type=whole_number, help="total budget in bytes")
    parser.add_argument("--decode-time", type=duration_argument,
                        help="total decode-time budget: seconds, or with a unit (90min, 45h)")
    add_objective_option(parser)
    parser.add_argument("--solver", choices=SOLVERS, default="auto",
                        help="auto (ILP, Lagrangian above a size), highs, cbc, lagrangian")
    parser.add_argument("--time-limit", type=duration_argument, default=60.0,
                        help="solver time limit per solve (default 60 s); the status and "
                             "proved gap say how far it got")


def whole_number(text: str) -> int | str:
    """An integer option's value, or the text itself for the API to refuse in its words."""
    try:
        return int(text)
    except ValueError:
        return text


def job_options(args: argparse.Namespace) -> dict:
    """The API keywords of the sweep options."""
    return {"codec": args.codec, "filters": args.filters, "quantizers": args.qps,
            "codec_options": codec_options(args, args.codec), "cache": args.cache,
            "jobs": args.jobs, "backend": args.backend}


def budget_options(args: argparse.Namespace) -> dict:
    return {"bpp": args.bpp, "bytes": args.bytes, "decode_time": args.decode_time,
            "objective": args.objective, "solver": args.solver, "time_limit": args.time_limit}


@contextlib.contextmanager
def backend_context(args: argparse.Namespace) -> Iterator[None]:
    """Connect to a dask scheduler when asked, so joblib's dask backend has a client."""
    if args.backend == "dask":
        try:
            from dask.distributed import Client
        except ImportError:
            raise RcodecError("--backend dask needs dask[distributed] installed") from None
        client = Client(args.scheduler) if args.scheduler else Client(processes=False)
        try:
            yield
        finally:
            client.close()
    else:
        yield


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, help="folder of images")
    parser.add_argument("-o", "--output", type=Path, required=True, help="sweep table (CSV)")
    add_sweep_options(parser)


def run_sweep_command(args: argparse.Namespace) -> int:
    with progress_bar("sweep") as update, backend_context(args):
        table = api.sweep(args.images, bpp=args.bpp, progress=update, **job_options(args))
    table.write_csv(args.output)
    print(f"{args.output}: {len(table)} rows for {len(table.images)} images")
    return 0


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", type=Path, help="sweep table from `rcodec sweep`")
    add_budget_options(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="plan table (CSV)")
    parser.add_argument("--json", type=Path, help="also write the totals as JSON here")


def run_plan(args: argparse.Namespace) -> int:
    result = api.plan(args.sweep, **budget_options(args))
    result.write_csv(args.output)
    if args.json:
        api.write_json(args.json, result.summary)
    print_summary(result.summary)
    return 0


def print_summary(summary: dict) -> None:
    budget_time = summary.get("budget_decode_seconds")
    print(f"images        {summary['images']}")
    print(f"total bytes   {summary['total_bytes']} of {summary['budget_bytes']} "
          f"({summary['bpp']:.4f} bpp, budget {summary['budget_bpp']:.4f})")
    print(f"pooled PSNR   {summary['pooled_psnr']:.3f} dB   mean PSNR "
          f"{summary['mean_psnr']:.3f} dB   MS-SSIM {summary['mean_ms_ssim']:.5f}")
    print(f"decode time   {summary['decode_seconds']:.2f} s predicted"
          + (f" (budget {budget_time:.2f} s)" if budget_time else ""))
    print(f"solver        {summary['solver']}, {summary['status']}, proved gap "
          f"{summary['gap']:.2e}, {summary['solve_seconds']:.2f} s")


def add_compress_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, help="folder of images")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    add_budget_options(parser)
    add_sweep_options(parser, with_target=False)


def run_compress(args: argparse.Namespace) -> int:
    with progress_bar("sweep") as update, backend_context(args):
        result = api.compress(args.images, args.output, progress=update, notify=note,
                              **budget_options(args), **job_options(args))
    print_summary(result.summary)
    print(f"wrote {len(result.plan)} files and manifest.json to {args.output}")
    return 0


def add_decompress_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="folder written by `rcodec compress`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG folder")
    parser.add_argument("--jobs", type=jobs_argument, default=-1,
                        help="images decoded at once (default: all cores)")
    add_filter_resource_options(parser)


def run_decompress(args: argparse.Namespace) -> int:
    with progress_bar("decode") as update:
        outputs = api.decompress(args.input, args.output, jobs=args.jobs, progress=update,
                                 threads=args.threads, max_memory=args.max_memory)
    print(f"decoded {len(outputs)} images into {args.output}")
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("originals", type=Path, help="folder of original images")
    parser.add_argument("decoded", type=Path, help="folder of decoded PNGs")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")


def run_evaluate(args: argparse.Namespace) -> int:
    scores = api.evaluate(args.originals, args.decoded)
    if args.json:
        api.write_json(args.json, scores.to_json())
    print_scores(scores)
    return 0


def print_scores(scores: api.Scores) -> None:
    print(f"images {scores.images}   pooled PSNR {scores.pooled_psnr:.3f} dB   "
          f"mean PSNR {scores.mean_psnr:.3f} dB   MS-SSIM {scores.ms_ssim:.5f}")


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path("demo-out"))
    parser.add_argument("--bpp", default="0.15")


def run_demo(args: argparse.Namespace) -> int:
    """Compress the bundled photographs, decompress them and evaluate: the quick start."""
    images = api.sample_images(args.output / "images")
    compressed, decoded = args.output / "compressed", args.output / "decoded"
    with progress_bar("sweep") as update:
        result = api.compress(images, compressed, bpp=args.bpp, filters="none,default",
                              progress=update, notify=note)
    print_summary(result.summary)
    with progress_bar("decode") as update:
        api.decompress(compressed, decoded, progress=update)
    scores = api.evaluate(images, decoded)
    api.write_json(args.output / "evaluation.json", scores.to_json())
    print_scores(scores)
    return 0
