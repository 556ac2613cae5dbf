"""sweep, plan, compress, decompress, evaluate, demo: the dataset-level commands."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from tqdm import tqdm

from optimize import job
from optimize.cache import default_cache_root
from optimize.plan import METHODS
from optimize.sweep import (
    NO_FILTER,
    CodecSpec,
    FilterSpec,
    SweepRequest,
    parse_quantizers,
    run_sweep,
)
from optimize.table import COLUMNS, PLAN_COLUMNS, plan_rows, plan_summary, read_sweep, write_csv
from postfilter import registry
from rcodec.commands.codec_commands import add_filter_resource_options, filter_for
from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_text
from rcodec.images import image_shape, list_images
from rcodec.units import duration_argument


def add_sweep_options(parser: argparse.ArgumentParser, with_target: bool = True) -> None:
    parser.add_argument("--codec", choices=["bpg", "jpeg"], default="bpg")
    parser.add_argument("--qps", help="candidate quantizers, e.g. 38:42 or 30:50:2 (default: an "
                                      "adaptive window around the target rate per image)")
    parser.add_argument("--filters", default="none,default",
                        help="comma-separated post-filter candidates: network names, 'default' "
                             "(the codec's default networks; see `rcodec models`) or 'none' "
                             "alone for no post-filter (default: none,default)")
    parser.add_argument("--level", type=int, default=8, choices=range(1, 10), metavar="1..9",
                        help="BPG compression level (default 8)")
    parser.add_argument("--jobs", type=int, default=-1, help="parallel workers (default: all "
                                                             "cores)")
    parser.add_argument("--backend", default=None,
                        help="joblib backend (loky, threading, dask); default loky")
    parser.add_argument("--scheduler", help="dask.distributed scheduler address (with "
                                            "--backend dask)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="sweep cache folder (default $RCODEC_CACHE or ~/.cache/rcodec)")
    if with_target:
        parser.add_argument("--bpp", type=str, default="0.15",
                            help="target rate the adaptive window centres on (default 0.15)")


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--bpp", type=str, help="total budget in bits per pixel (CLIC count)")
    budget.add_argument("--bytes", type=int, help="total budget in bytes")
    parser.add_argument("--decode-time", type=duration_argument,
                        help="total decode-time budget: seconds, or with a unit (90min, 45h)")
    parser.add_argument("--solver", choices=METHODS, default="auto",
                        help="auto (ILP, Lagrangian above a size), highs, cbc, lagrangian")
    parser.add_argument("--time-limit", type=duration_argument, default=60.0,
                        help="solver time limit per solve (default 60 s); the status and "
                             "proved gap say how far it got")


def sweep_request(args: argparse.Namespace, target_bpp: str | None) -> SweepRequest:
    options: tuple = (("level", args.level),) if args.codec == "bpg" else ()
    names = [n.strip() for n in args.filters.split(",") if n.strip()]
    filters = [NO_FILTER]
    for name in names:
        if name == "default":
            filters += [f for f in default_filters(args.codec) if f not in filters]
        elif name != "none":
            entry = filter_for(name, args.codec, gray=False)
            filters.append(FilterSpec(entry.name, entry.selector, entry.sha256))
    quantizers = tuple(parse_quantizers(args.qps)) if args.qps else None
    return SweepRequest(CodecSpec(args.codec, options), tuple(filters), quantizers,
                        float(target_bpp) if target_bpp else 0.15)


def default_filters(codec: str) -> list[FilterSpec]:
    """The registered networks marked as defaults for this codec."""
    return [FilterSpec(e.name, e.selector, e.sha256) for e in registry.load_registry()
            if e.codec == codec and e.default]


@contextlib.contextmanager
def backend_context(args: argparse.Namespace):
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


def note(message: str) -> None:
    print(f"rcodec: {message}", file=sys.stderr)


def progress_bar(total: int, what: str) -> tqdm:
    return tqdm(total=total, desc=what, unit="img", leave=False, disable=None)


def _sweep(args: argparse.Namespace, paths: list[Path], request: SweepRequest) -> list[dict]:
    with progress_bar(len(paths), "sweep") as bar, backend_context(args):
        return run_sweep(paths, request, args.cache or default_cache_root(), args.jobs,
                         args.backend, bar.update)


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, help="folder of images")
    parser.add_argument("-o", "--output", type=Path, required=True, help="sweep table (CSV)")
    add_sweep_options(parser)


def run_sweep_command(args: argparse.Namespace) -> int:
    paths = list_images(args.images)
    rows = _sweep(args, paths, job.with_calibration(sweep_request(args, args.bpp), False))
    write_csv(args.output, rows, COLUMNS)
    print(f"{args.output}: {len(rows)} rows for {len(paths)} images")
    return 0


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", type=Path, help="sweep table from `rcodec sweep`")
    add_budget_options(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="plan table (CSV)")
    parser.add_argument("--json", type=Path, help="also write the totals as JSON here")


def run_plan(args: argparse.Namespace) -> int:
    rows = read_sweep(args.sweep)
    budget = job.Budget(args.bpp, args.bytes, args.decode_time)
    plan, max_bytes = job.plan_rows_for(rows, budget, args.solver, args.time_limit)
    write_csv(args.output, plan_rows(rows, plan), PLAN_COLUMNS)
    summary = plan_summary(rows, plan, max_bytes, args.decode_time)
    if args.json:
        import json

        atomic_write_text(args.json, json.dumps(summary, indent=2))
    print_summary(summary)
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


def budgeted_job(args: argparse.Namespace) -> tuple[list[Path], SweepRequest, job.Budget]:
    """Images, sweep request (calibrated when a decode-time budget asks for it) and budget of
    a command with budget and sweep options."""
    paths = list_images(args.images)
    request = sweep_request(args, args.bpp or bpp_of_bytes(args.bytes, paths))
    request = job.with_calibration(request, args.decode_time is not None, paths, note)
    return paths, request, job.Budget(args.bpp, args.bytes, args.decode_time)


def run_compress(args: argparse.Namespace) -> int:
    paths, request, budget = budgeted_job(args)
    with progress_bar(len(paths), "sweep") as bar, backend_context(args):
        manifest = job.compress(args.images, args.output, budget, request,
                                args.cache or default_cache_root(), args.jobs, args.backend,
                                args.solver, bar.update, args.time_limit)
    print_summary(manifest["summary"])
    print(f"wrote {len(manifest['plan'])} files and manifest.json to {args.output}")
    return 0


def bpp_of_bytes(total_bytes: int, paths: list[Path]) -> str:
    """The rate a byte budget means for these images: the adaptive window's target."""
    pixels = sum(height * width for height, width in map(image_shape, paths))
    return str(8 * total_bytes / pixels)


def add_decompress_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="folder written by `rcodec compress`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG folder")
    parser.add_argument("--jobs", type=int, default=-1,
                        help="images decoded at once (default: all cores)")
    add_filter_resource_options(parser)


def run_decompress(args: argparse.Namespace) -> int:
    count = len(list(args.input.glob("*.rcb")))
    with progress_bar(count, "decode") as bar:
        outputs = job.decompress(args.input, args.output, args.jobs, bar.update,
                                 threads=args.threads, max_memory=args.max_memory)
    print(f"decoded {len(outputs)} images into {args.output}")
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("originals", type=Path, help="folder of original images")
    parser.add_argument("decoded", type=Path, help="folder of decoded PNGs")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")


def run_evaluate(args: argparse.Namespace) -> int:
    result = job.evaluate(args.originals, args.decoded)
    if args.json:
        import json

        atomic_write_text(args.json, json.dumps(result, indent=2))
    print(f"images {result['images']}   pooled PSNR {result['pooled_psnr']:.3f} dB   "
          f"mean PSNR {result['mean_psnr']:.3f} dB   MS-SSIM {result['mean_ms_ssim']:.5f}")
    return 0


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path("demo-out"))
    parser.add_argument("--bpp", default="0.15")


def run_demo(args: argparse.Namespace) -> int:
    """Compress the bundled photographs, decompress them and evaluate: the quick start."""
    from rcodec.samples import copy_samples

    images = copy_samples(args.output / "images")
    compressed, decoded = args.output / "compressed", args.output / "decoded"
    argv = [str(images), "-o", str(compressed), "--bpp", args.bpp, "--filters", "none,default"]
    from rcodec.cli import build_parser

    parser = build_parser()
    run_compress(parser.parse_args(["compress", *argv]))
    run_decompress(parser.parse_args(["decompress", str(compressed), "-o", str(decoded)]))
    return run_evaluate(parser.parse_args(["evaluate", str(images), str(decoded), "--json",
                                           str(args.output / "evaluation.json")]))
