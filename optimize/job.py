"""The main job: sweep, plan and write one container per image; decompress; evaluate."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from PIL import features

from rcodec import metrics
from rcodec.codec import container
from rcodec.codec.hevc import x265_version
from rcodec.codec.images import image_paths, image_shape, read_rgb, write_png
from rcodec.errors import BudgetError, RcodecError, in_file
from rcodec.fileio import atomic_write_bytes, atomic_write_text
from rcodec.optimize import lazy
from rcodec.optimize.cache import SweepCache
from rcodec.optimize.calibration import ensure_calibration, load_calibration
from rcodec.optimize.plan import Plan, budget_bytes_for_bpp, solve
from rcodec.optimize.sweep import NO_FILTER, ImageSweeper, SweepRequest, Wanted, run_sweep
from rcodec.optimize.table import plan_rows, plan_summary, to_candidates, total_pixels
from rcodec.postfilter.inference import available_cores
from rcodec.postfilter.pipeline import decode_bytes
from rcodec.version import __version__

Progress = Callable[[int], None] | None


@dataclasses.dataclass(frozen=True)
class Budget:
    """A total size budget (bpp as the CLIC rules count it, or bytes) and optional decode time."""

    bpp: float | str | None = None
    bytes: int | None = None
    decode_seconds: float | None = None

    def __post_init__(self) -> None:
        """Refuse what cannot be a budget here, before anything is swept."""
        if self.bpp is not None:
            budget_bytes_for_bpp(self.bpp, 0)  # raises on anything but a number >= 0
            if Fraction(str(self.bpp)) <= 0:
                raise RcodecError(f"bits per pixel must be positive, got {self.bpp}")
        if self.bytes is not None and (isinstance(self.bytes, bool) or not isinstance(
                self.bytes, int | np.integer) or self.bytes <= 0):
            raise RcodecError(f"the byte budget must be a positive whole number, got "
                              f"{self.bytes!r}")
        if self.decode_seconds is not None and (
                isinstance(self.decode_seconds, bool)
                or not isinstance(self.decode_seconds, int | float)
                or not 0 < self.decode_seconds < float("inf")):
            raise RcodecError(f"the decode-time budget must be a positive number of seconds, "
                              f"got {self.decode_seconds!r}")

    def max_bytes(self, pixels: int) -> int:
        if (self.bpp is None) == (self.bytes is None):
            raise RcodecError("give exactly one of a bpp target and a byte budget")
        return int(self.bytes) if self.bytes is not None else budget_bytes_for_bpp(self.bpp,
                                                                                   pixels)

    def target_bpp(self, pixels: int) -> float:
        """The rate the budget means for images of `pixels` pixels in all (what the sweep's
        adaptive quantizer window centres on)."""
        if pixels <= 0:
            raise RcodecError("the images have no pixels")
        max_bytes = self.max_bytes(pixels)  # (also checks the budget)
        return float(Fraction(str(self.bpp))) if self.bpp is not None else 8 * max_bytes / pixels


def plan_rows_for(rows: list[dict], budget: Budget, solver: str = "auto",
                  time_limit: float = 60.0) -> tuple[Plan, int]:
    """Solve the plan of a sweep table under a budget; return it and the byte budget."""
    candidates, _ = to_candidates(rows)
    max_bytes = budget.max_bytes(total_pixels(rows))
    return solve(candidates, max_bytes, budget.decode_seconds, solver, time_limit), max_bytes


def _names_to_rows_index(rows: list[dict]) -> list[dict]:
    """Rows sorted by image name, the order `to_candidates` numbers images in."""
    return sorted(rows, key=lambda r: (r["image"], r["quantizer"], r["filter"]))


def clipped_images(rows: list[dict], plan: Plan, quantizer_range: tuple[int, int],
                   ) -> dict[str, int]:
    """Images whose chosen quantizer sits on their window's edge (not the codec's): the edge."""
    low, high = quantizer_range
    window: dict[str, list[int]] = {}
    for row in rows:
        window.setdefault(row["image"], []).append(row["quantizer"])
    clipped = {}
    for index in plan.choice:
        row = rows[int(index)]
        q, qs = row["quantizer"], window[row["image"]]
        if (q == min(qs) and q != low) or (q == max(qs) and q != high):
            clipped[row["image"]] = q
    return clipped


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """A sweep's rows, the plan solved over them, the byte budget, and how many network
    evaluations it took (against the exhaustive sweep of the same windows)."""

    rows: list[dict]
    plan: Plan
    max_bytes: int
    evaluations: dict[str, int]


def sweep_and_plan(paths: Sequence[Path], request: SweepRequest, budget: Budget,
                   cache_root: Path, jobs: int = -1, backend: str | None = None,
                   solver: str = "auto", progress: Progress = None, time_limit: float = 60.0,
                   lazy_filters: bool = True) -> SweepPlan:
    """Sweep, plan, and widen any adaptive window the optimum touches until none is clipped.

    With `lazy_filters` the networks are measured only where the plan can use them
    (rcodec.optimize.lazy); otherwise at every quantizer of every window. `time_limit`:
    seconds per solve (the plan's status and gap say how far it got)."""
    networks = tuple(spec for spec in request.filters if spec.selector != NO_FILTER.selector)
    first = dataclasses.replace(request, filters=(NO_FILTER,)) if lazy_filters else request
    rows = lazy.merge([], run_sweep(paths, first, cache_root, jobs, backend, progress))
    low, high = request.codec.build().quantizer_range
    fixed = request.quantizers is not None
    while True:
        plan, max_bytes = plan_rows_for(rows, budget, solver, time_limit)
        clipped = {} if fixed else clipped_images(rows, plan, (low, high))
        wanted: dict[str, Wanted] = {}
        for name, edge in clipped.items():  # the window grows by the codec alone...
            half = request.half_width
            wanted[name] = {q: () for q in range(max(low, edge - half),
                                                  min(high, edge + half) + 1)}
            if not lazy_filters:  # ...unless every window quantizer takes every network
                wanted[name] = {q: networks for q in wanted[name]}
        if lazy_filters and not clipped:
            allowed = _admissible(rows, fixed, (low, high))
            wanted = lazy.missing(rows, plan, networks, allowed)
        if not wanted:
            return SweepPlan(rows, plan, max_bytes, lazy.evaluations(rows, networks))
        again = [p for p in paths if p.name in wanted]
        rows = lazy.merge(rows, run_sweep(again, request, cache_root, jobs, backend,
                                          wanted=wanted))


def _admissible(rows: Sequence[dict], fixed: bool, quantizer_range: tuple[int, int],
                ) -> dict[str, range | set[int]]:
    """Quantizers a network may be measured at, per image: those given (`fixed`), or any
    the codec has (a neighbour beyond the window widens it)."""
    low, high = quantizer_range
    given: dict[str, set[int]] = {}
    for row in rows:
        given.setdefault(row["image"], set()).add(row["quantizer"])
    return {image: qs if fixed else range(low, high + 1) for image, qs in given.items()}


def with_calibration(request: SweepRequest, required: bool, paths: Sequence[Path] = (),
                     notify: Callable[[str], None] | None = None) -> SweepRequest:
    """The request with this machine's decode-time calibration attached: measured first
    (for the sizes of the images at `paths`) when `required` (a decode-time budget) and
    incomplete; otherwise only when already on file."""
    filters = [(spec.name, spec.sha256) for spec in request.filters]
    if required:
        shapes = [image_shape(path) for path in paths]
        calibration = ensure_calibration(request.codec.name, filters, shapes, notify)
    else:
        calibration = load_calibration()
        if calibration is not None and not calibration.covers(request.codec.name, filters):
            calibration = None
    return dataclasses.replace(request, calibration=calibration)


def versions() -> dict[str, str | None]:
    """Versions of everything that determines the output bytes."""
    return {"rcodec": __version__, "pyav": av.__version__,
            "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
            "x265": x265_version(), "libjpeg_turbo": features.version("libjpeg_turbo")}


def compress(images: Path | Sequence[Path], out_dir: Path, budget: Budget,
             request: SweepRequest, cache_root: Path, jobs: int = -1,
             backend: str | None = None, solver: str = "auto", progress: Progress = None,
             time_limit: float = 60.0, lazy_filters: bool = True) -> dict:
    """Write OUT/<stem>.rcb for every image (a folder's, or those listed) under the plan,
    plus OUT/manifest.json (with the network evaluations the plan took)."""
    paths = image_paths(images)
    swept = sweep_and_plan(paths, request, budget, cache_root, jobs, backend, solver, progress,
                           time_limit, lazy_filters)
    rows, plan, max_bytes = swept.rows, swept.plan, swept.max_bytes
    chosen = plan_rows(rows, plan)
    # The manifest, written last, marks a finished folder: drop an older one first, so that a
    # compress killed while writing never leaves new files beside the manifest of another plan.
    (out_dir / "manifest.json").unlink(missing_ok=True)
    written = write_containers(paths, chosen, request, cache_root, out_dir)
    if written > max_bytes:
        raise BudgetError(f"wrote {written} bytes, over the budget of {max_bytes}")
    summary = plan_summary(rows, plan, max_bytes, budget.decode_seconds)
    manifest = {"summary": summary, "budget": dataclasses.asdict(budget),
                "codec": {"name": request.codec.name,
                          "options": request.codec.build().settings()},
                "filters": [spec.name for spec in request.filters],
                "evaluations": swept.evaluations, "plan": chosen, "versions": versions()}
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2))
    return manifest


def container_name(image_name: str) -> str:
    """The container file an image is written to: its stem with .rcb."""
    return f"{Path(image_name).stem}.rcb"


def write_containers(paths: Sequence[Path], chosen: Sequence[dict], request: SweepRequest,
                     cache_root: Path, out_dir: Path) -> int:
    """Write each image's chosen cached bitstream, unchanged, as OUT/<stem>.rcb; remove .rcb
    files no longer planned; return the bytes written (each file checked against its row)."""
    cache = SweepCache(cache_root)
    by_name = {p.name: p for p in paths}
    out_dir.mkdir(parents=True, exist_ok=True)
    selectors = {spec.name: spec.selector for spec in request.filters}
    written = 0
    for row in chosen:
        sweeper = ImageSweeper(by_name[row["image"]], request.codec, cache)
        data = container.pack(selectors[row["filter"]], sweeper.payload(row["quantizer"]))
        if len(data) != row["bytes"]:
            raise RcodecError(f"{row['image']}: cached bitstream changed size; clear the cache")
        atomic_write_bytes(out_dir / container_name(row["image"]), data)
        written += len(data)
    planned = {container_name(r["image"]) for r in chosen}
    for stale in out_dir.glob("*.rcb"):
        if stale.name not in planned:
            stale.unlink()
    return written


def decompress(in_dir: Path, png_dir: Path, jobs: int = -1, progress: Progress = None, *,
               threads: int | None = None, max_memory: int | None = None) -> list[Path]:
    """Decode every OUT/*.rcb into PNG_DIR/<stem>.png, `jobs` images at a time.

    The cores are shared out: each worker's post-filter gets cores // workers threads unless
    `threads` says otherwise, so parallel images do not oversubscribe the CPU.
    """
    files = sorted(Path(in_dir).glob("*.rcb"))
    if not files:
        raise RcodecError(f"{in_dir}: no .rcb files to decompress")
    png_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    workers = min(effective_n_jobs(jobs), len(files))
    threads = threads or max(1, available_cores() // workers)
    runner = Parallel(n_jobs=workers, return_as="generator_unordered")
    for target in runner(delayed(_decode_one)(f, png_dir, threads, max_memory) for f in files):
        outputs.append(target)
        if progress:
            progress(1)
    return sorted(outputs)


def _decode_one(source: Path, png_dir: Path, threads: int | None = None,
                max_memory: int | None = None) -> Path:
    try:
        image = decode_bytes(source.read_bytes(), threads=threads, max_memory=max_memory)
    except RcodecError as error:
        raise in_file(source, error) from None
    target = png_dir / f"{source.stem}.png"
    write_png(target, image)
    return target


def score_decoded(originals: Sequence[Path], decoded_dir: Path) -> list[dict]:
    """Per original: pixels, exact squared error, PSNR and MS-SSIM of DECODED/<stem>.png."""
    per_image = []
    for original in originals:
        decoded = Path(decoded_dir) / f"{original.stem}.png"
        if not decoded.is_file():
            raise RcodecError(f"{decoded}: missing (no decoded image for {original.name})")
        reference, output = read_rgb(original), read_rgb(decoded)
        if reference.shape != output.shape:
            raise RcodecError(f"{decoded}: {output.shape[1]}x{output.shape[0]}, but "
                              f"{original} is {reference.shape[1]}x{reference.shape[0]}")
        error = metrics.sse(output, reference)
        per_image.append({"image": original.name, "pixels": reference.shape[0]
                          * reference.shape[1], "sse": error,
                          "psnr": metrics.psnr_from_sse(error, reference.size),
                          "ms_ssim": metrics.ms_ssim(output, reference)})
    return per_image


def evaluate(originals: Path | Sequence[Path], decoded_dir: Path) -> dict:
    """Pooled PSNR (CLIC), mean per-image PSNR and MS-SSIM of decoded images vs originals
    (a folder's images, or those listed)."""
    per_image = score_decoded(image_paths(originals), decoded_dir)
    pixels = sum(r["pixels"] for r in per_image)
    total = sum(r["sse"] for r in per_image)
    return {"images": len(per_image), "pixels": pixels, "total_sse": total,
            "pooled_psnr": metrics.pooled_psnr(total, 3 * pixels),
            "mean_psnr": float(np.mean([r["psnr"] for r in per_image])),
            "mean_ms_ssim": float(np.mean([r["ms_ssim"] for r in per_image])),
            "per_image": per_image}
