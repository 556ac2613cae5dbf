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
from rcodec.optimize import objective as objectives
from rcodec.optimize.cache import SweepCache
from rcodec.optimize.calibration import ensure_calibration, load_calibration
from rcodec.optimize.plan import Plan, budget_bytes_for_bpp, solve
from rcodec.optimize.sweep import NO_FILTER, ImageSweeper, SweepRequest, Wanted, run_sweep
from rcodec.optimize.table import plan_rows, plan_summary, to_candidates, total_pixels
from rcodec.optimize.workers import allow_resident_networks
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
                  time_limit: float = 60.0, objective: str = objectives.DEFAULT,
                  ) -> tuple[Plan, int]:
    """Solve the plan of a sweep table under a budget for an objective (rcodec.optimize.
    objective); return it and the byte budget."""
    candidates, _ = to_candidates(rows, objective)
    max_bytes = budget.max_bytes(total_pixels(rows))
    return solve(candidates, max_bytes, budget.decode_seconds, solver, time_limit), max_bytes


def clipped_images(rows: list[dict], plan: Plan, ranges: dict[str, tuple[int, int]],
                   ) -> dict[tuple[str, str], int]:
    """(image, codec) pairs whose chosen quantizer sits on their window's edge (not the
    codec's own): the edge."""
    window: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        window.setdefault((row["image"], row["codec"]), []).append(row["quantizer"])
    clipped = {}
    for index in plan.choice:
        row = rows[int(index)]
        low, high = ranges[row["codec"]]
        q, qs = row["quantizer"], window[row["image"], row["codec"]]
        if (q == min(qs) and q != low) or (q == max(qs) and q != high):
            clipped[row["image"], row["codec"]] = q
    return clipped


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """A sweep's rows, the plan solved over them, the byte budget, and how many network
    evaluations it took (against the exhaustive sweep of the same windows)."""

    rows: list[dict]
    plan: Plan
    max_bytes: int
    evaluations: dict[str, int]


def sweep_and_plan(paths: Sequence[Path], requests: SweepRequest | Sequence[SweepRequest],
                   budget: Budget, cache_root: Path, jobs: int = -1,
                   backend: str | None = None, solver: str = "auto", progress: Progress = None,
                   time_limit: float = 60.0, lazy_filters: bool = True,
                   objective: str = objectives.DEFAULT) -> SweepPlan:
    """Sweep every codec asked for (one request each), plan one (codec, quantizer, filter)
    per image for the objective, and widen any adaptive window the optimum touches until
    none is clipped.

    With `lazy_filters` the networks are measured only where the plan can use them
    (rcodec.optimize.lazy); otherwise at every quantizer of every window. `time_limit`:
    seconds per solve (the plan's status and gap say how far it got)."""
    by_codec = _by_codec(requests)
    networks = {name: tuple(f for f in request.filters if f.selector != NO_FILTER.selector)
                for name, request in by_codec.items()}
    rows: list[dict] = []
    for request in by_codec.values():
        first = dataclasses.replace(request, filters=(NO_FILTER,)) if lazy_filters else request
        rows = lazy.merge(rows, run_sweep(paths, first, cache_root, jobs, backend, progress))
    ranges = {name: r.codec.build().quantizer_range for name, r in by_codec.items()}
    while True:
        plan, max_bytes = plan_rows_for(rows, budget, solver, time_limit, objective)
        wanted = _widened(rows, plan, by_codec, ranges, networks, lazy_filters)
        if lazy_filters and not wanted:
            wanted = lazy.missing(rows, plan, networks, _admissible(rows, by_codec, ranges),
                                  objectives.losses(rows, objective))
        if not wanted:
            return SweepPlan(rows, plan, max_bytes, lazy.evaluations(rows, networks))
        for name, per_image in wanted.items():
            again = [p for p in paths if p.name in per_image]
            rows = lazy.merge(rows, run_sweep(again, by_codec[name], cache_root, jobs,
                                              backend, wanted=per_image))


def _by_codec(requests: SweepRequest | Sequence[SweepRequest]) -> dict[str, SweepRequest]:
    listed = [requests] if isinstance(requests, SweepRequest) else list(requests)
    by_codec = {request.codec.name: request for request in listed}
    if len(by_codec) != len(listed) or not listed:
        raise RcodecError("give one sweep request per codec")
    return by_codec


def _widened(rows: list[dict], plan: Plan, by_codec: dict[str, SweepRequest],
             ranges: dict[str, tuple[int, int]], networks: dict[str, tuple],
             lazy_filters: bool) -> dict[str, dict[str, Wanted]]:
    """The measurements that widen each adaptive window whose edge the plan chose: the
    codec alone there, or every network too when the filters are swept exhaustively."""
    wanted: dict[str, dict[str, Wanted]] = {}
    for (image, codec), edge in clipped_images(rows, plan, ranges).items():
        request = by_codec[codec]
        if request.quantizers is not None:
            continue
        low, high = ranges[codec]
        specs = () if lazy_filters else networks[codec]
        wanted.setdefault(codec, {})[image] = {
            q: specs for q in range(max(low, edge - request.half_width),
                                    min(high, edge + request.half_width) + 1)}
    return wanted


def _admissible(rows: Sequence[dict], by_codec: dict[str, SweepRequest],
                ranges: dict[str, tuple[int, int]]) -> dict[tuple[str, str], range | set[int]]:
    """Quantizers a network may be measured at, per image and codec: those given (fixed
    quantizers), or any the codec has (a neighbour beyond the window widens it)."""
    given: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        given.setdefault((row["image"], row["codec"]), set()).add(row["quantizer"])
    return {(image, codec): qs if by_codec[codec].quantizers is not None
            else range(ranges[codec][0], ranges[codec][1] + 1)
            for (image, codec), qs in given.items()}


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
             requests: SweepRequest | Sequence[SweepRequest], cache_root: Path,
             jobs: int = -1, backend: str | None = None, solver: str = "auto",
             progress: Progress = None, time_limit: float = 60.0, lazy_filters: bool = True,
             objective: str = objectives.DEFAULT) -> dict:
    """Write OUT/<stem>.rcb for every image (a folder's, or those listed) under the plan,
    plus OUT/manifest.json (with the network evaluations the plan took). Several requests
    (one per codec) let the plan pick each image's codec too."""
    paths = image_paths(images)
    by_codec = _by_codec(requests)
    swept = sweep_and_plan(paths, list(by_codec.values()), budget, cache_root, jobs, backend,
                           solver, progress, time_limit, lazy_filters, objective)
    rows, plan, max_bytes = swept.rows, swept.plan, swept.max_bytes
    chosen = plan_rows(rows, plan)
    # The manifest, written last, marks a finished folder: drop an older one first, so that a
    # compress killed while writing never leaves new files beside the manifest of another plan.
    (out_dir / "manifest.json").unlink(missing_ok=True)
    written = write_containers(paths, chosen, list(by_codec.values()), cache_root, out_dir)
    if written > max_bytes:
        raise BudgetError(f"wrote {written} bytes, over the budget of {max_bytes}")
    summary = plan_summary(rows, plan, max_bytes, budget.decode_seconds, objective)
    codecs = [{"name": name, "options": r.codec.build().settings()}
              for name, r in by_codec.items()]
    manifest = {"summary": summary, "budget": dataclasses.asdict(budget),
                "codec": codecs[0] if len(codecs) == 1 else None, "codecs": codecs,
                "filters": list(dict.fromkeys(spec.name for r in by_codec.values()
                                              for spec in r.filters)),
                "evaluations": swept.evaluations, "plan": chosen, "versions": versions()}
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2))
    return manifest


def container_name(image_name: str) -> str:
    """The container file an image is written to: its stem with .rcb."""
    return f"{Path(image_name).stem}.rcb"


def write_containers(paths: Sequence[Path], chosen: Sequence[dict],
                     requests: SweepRequest | Sequence[SweepRequest], cache_root: Path,
                     out_dir: Path) -> int:
    """Write each image's chosen cached bitstream, unchanged, as OUT/<stem>.rcb; remove .rcb
    files no longer planned; return the bytes written (each file checked against its row)."""
    cache = SweepCache(cache_root)
    by_name = {p.name: p for p in paths}
    by_codec = _by_codec(requests)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for row in chosen:
        request = by_codec[row["codec"]]
        selector = next(spec.selector for spec in request.filters if spec.name == row["filter"])
        sweeper = ImageSweeper(by_name[row["image"]], request.codec, cache)
        data = container.pack(selector, sweeper.payload(row["quantizer"]))
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
    allow_resident_networks()
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
