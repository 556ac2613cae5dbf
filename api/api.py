"""rcodec's public Python API: the main job in a few calls. Every `rcodec` command is one of
these calls between parsing its arguments and printing the result.

    import rcodec
    result = rcodec.compress("photos/", "out/", bpp=0.15)
    rcodec.decompress("out/", "decoded/")
    print(rcodec.evaluate("photos/", "decoded/").pooled_psnr)

Paths may be `str` or `os.PathLike`; `images` is a folder or a list of image files. The
target rate is given once (`bpp` or `bytes`); a decode-time budget calibrates this machine
first when needed; filter choices ("default", "none", network names) are resolved in one
place (`rcodec.optimize.request`).

The dataset-level layers load torch (the post-filters) and the solvers: they are imported
on first use, so that codec-only calls (`encode`, `decode`, `info`) and the commands built on
them start fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rcodec.codec import container as containers
from rcodec.codec import registry as codec_registry
from rcodec.codec.images import image_paths, image_shape, open_image, read_bytes, read_rgb
from rcodec.codec.samples import copy_samples
from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_text
from rcodec.postfilter import registry as model_registry
from rcodec.postfilter.pipeline import decode_bytes

PathLike = str | os.PathLike[str]
#: A folder of images, or image files.
Images = PathLike | Sequence[PathLike]
#: Called with the number of images (or files) just finished.
Progress = Callable[[int], None] | None
#: "default", "none", network names, or a comma-separated string of them.
Filters = str | Sequence[str]
#: A codec's name, several (a list or "bpg,avif"), or "all" registered.
Codecs = str | Sequence[str]


# --- results --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CompressResult:
    """What `compress` wrote: OUT/<stem>.rcb per image and OUT/manifest.json, whose content
    this is (the plan's rows, totals, budgets, solver status and proved gap, versions)."""

    out: Path
    manifest: dict[str, Any]

    @property
    def plan(self) -> list[dict[str, Any]]:
        """One row per image: its quantizer, filter, bytes, squared error, ..."""
        return self.manifest["plan"]

    @property
    def summary(self) -> dict[str, Any]:
        """Totals: bytes and bpp against the budget, pooled and mean PSNR, MS-SSIM, decode
        time, and the solver's status, proved gap and time."""
        return self.manifest["summary"]

    @property
    def status(self) -> str:
        return str(self.summary["status"])

    @property
    def gap(self) -> float:
        return float(self.summary["gap"])

    @property
    def files(self) -> list[Path]:
        from rcodec.optimize.job import container_name  # (see the module docstring)

        return [self.out / container_name(row["image"]) for row in self.plan]


@dataclasses.dataclass(frozen=True)
class Scores:
    """Decoded images against their originals: pooled PSNR (the CLIC rule: squared error
    over all RGB samples of the set), mean per-image PSNR, mean MS-SSIM, and per image."""

    images: int
    pixels: int
    total_sse: int
    pooled_psnr: float
    mean_psnr: float
    ms_ssim: float
    per_image: list[dict[str, Any]]

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def to_json(self) -> dict[str, Any]:
        """The layout `rcodec evaluate --json` writes (MS-SSIM as `mean_ms_ssim`)."""
        return {"images": self.images, "pixels": self.pixels, "total_sse": self.total_sse,
                "pooled_psnr": self.pooled_psnr, "mean_psnr": self.mean_psnr,
                "mean_ms_ssim": self.ms_ssim, "per_image": self.per_image}


@dataclasses.dataclass(frozen=True)
class SweepTable:
    """The candidate table: one row per image x quantizer x filter, each a measurement of
    the decoder's real output (columns in `rcodec.optimize.table.COLUMNS`)."""

    rows: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    @property
    def images(self) -> list[str]:
        return sorted({row["image"] for row in self.rows})

    def write_csv(self, path: PathLike) -> Path:
        """Write the table as `rcodec sweep` does (atomically); return the path."""
        from rcodec.optimize.table import COLUMNS, write_csv  # (see the module docstring)

        write_csv(path, self.rows, COLUMNS)
        return Path(path)

    @classmethod
    def read_csv(cls, path: PathLike) -> SweepTable:
        from rcodec.optimize.table import read_sweep  # (see the module docstring)

        return cls(read_sweep(path))


@dataclasses.dataclass(frozen=True)
class PlanResult:
    """The plan of a sweep table: the chosen row per image and the totals (`summary`: bytes,
    bpp, PSNR, MS-SSIM, decode time, solver status and proved gap)."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    max_bytes: int

    def write_csv(self, path: PathLike) -> Path:
        from rcodec.optimize.table import PLAN_COLUMNS, write_csv  # (see the module docstring)

        write_csv(path, self.rows, PLAN_COLUMNS)
        return Path(path)


@dataclasses.dataclass(frozen=True)
class RdResult:
    """RD curves as CompressAI-layout dicts (with each point's plan) and the BD-rate /
    BD-PSNR table against the baseline curve; `files` are what was written."""

    curves: list[dict[str, Any]]
    bd: dict[str, Any]
    files: list[Path]


# --- the dataset job ------------------------------------------------------------------------


def compress(images: Images, out: PathLike, *, bpp: float | str | None = None,
             bytes: int | None = None, decode_time: float | None = None,  # noqa: A002
             codec: Codecs = codec_registry.DEFAULT_CODEC, filters: Filters = "default",
             quantizers: Sequence[int] | None = None,
             codec_options: Mapping[str, Any] | None = None,
             objective: str = "pooled-psnr", solver: str = "auto", time_limit: float = 60.0,
             cache: PathLike | None = None, jobs: int = -1, backend: str | None = None,
             progress: Progress = None, notify: Callable[[str], None] | None = None,
             lazy_filters: bool = True) -> CompressResult:
    """Sweep, plan and write OUT/<stem>.rcb for every image plus OUT/manifest.json.

    The budget is `bpp` (floor(bpp x pixels / 8) bytes, the CLIC count) or `bytes`, plus an
    optional total `decode_time` in seconds (this machine is calibrated first when needed).
    Candidates: every quantizer of an adaptive window per image (or `quantizers`) of every
    codec named (one, a list, "bpg,avif" or "all": the plan then picks each image's codec),
    each with no post-filter and the `filters` chosen for that codec, measured only where
    the plan can use them unless `lazy_filters` is off. The plan maximises the `objective`:
    "pooled-psnr" (the CLIC rule), "mean-psnr" or "ms-ssim". The files are the very
    bitstreams the sweep measured. `notify` receives one-line notes (e.g. that calibration
    is running).
    """
    from rcodec.optimize import job  # (see the module docstring)

    out = _output_folder(out)
    paths, requests, budget = _budgeted_job(images, bpp, bytes, decode_time, codec, filters,
                                            quantizers, codec_options, objective, notify)
    manifest = job.compress(paths, out, budget, requests, _cache_root(cache), jobs, backend,
                            solver, progress, time_limit, lazy_filters, objective)
    return CompressResult(out, manifest)


def decompress(src: PathLike, out: PathLike, *, jobs: int = -1, threads: int | None = None,
               max_memory: int | None = None, progress: Progress = None) -> list[Path]:
    """Decode every SRC/*.rcb into OUT/<stem>.png (codec, then the post-filter its selector
    byte names), `jobs` images at a time; return the PNG paths."""
    from rcodec.optimize import job  # (see the module docstring)

    return job.decompress(Path(src), _output_folder(out), jobs, progress, threads=threads,
                          max_memory=max_memory)


def evaluate(originals: Images, decoded: PathLike) -> Scores:
    """Score DECODED/<stem>.png against each original (pooled PSNR, mean PSNR, MS-SSIM)."""
    from rcodec.optimize import job  # (see the module docstring)

    result = job.evaluate(image_paths(originals), Path(decoded))
    return Scores(result["images"], result["pixels"], result["total_sse"],
                  result["pooled_psnr"], result["mean_psnr"], result["mean_ms_ssim"],
                  result["per_image"])


def sweep(images: Images, *, codec: Codecs = codec_registry.DEFAULT_CODEC,
          filters: Filters = "default", quantizers: Sequence[int] | None = None,
          bpp: float | str = 0.15,
          codec_options: Mapping[str, Any] | None = None, cache: PathLike | None = None,
          jobs: int = -1, backend: str | None = None, progress: Progress = None) -> SweepTable:
    """Measure every image at each candidate quantizer (`quantizers`, or an adaptive window
    around `bpp`) of each codec named, with every post-filter (the exhaustive table);
    decode times come from this machine's calibration when one is on file, else from the
    sweep's own timing (column decode_time_source)."""
    from rcodec.optimize import job  # (see the module docstring)
    from rcodec.optimize.request import sweep_requests
    from rcodec.optimize.sweep import run_sweep

    paths = image_paths(images)
    rows = []
    for request in sweep_requests(codec, filters, quantizers, _rate(bpp), codec_options):
        request = job.with_calibration(request, False)
        rows += run_sweep(paths, request, _cache_root(cache), jobs, backend, progress)
    return SweepTable(rows)


def plan(table: SweepTable | Sequence[dict[str, Any]] | PathLike, *,
         bpp: float | str | None = None, bytes: int | None = None,  # noqa: A002
         decode_time: float | None = None, objective: str = "pooled-psnr",
         solver: str = "auto", time_limit: float = 60.0) -> PlanResult:
    """One (codec, quantizer, filter) per image of a sweep table (or its CSV) maximising
    the `objective` under the byte budget (`bpp` or `bytes`) and the optional
    `decode_time` budget."""
    from rcodec.optimize import job  # (see the module docstring)
    from rcodec.optimize.table import plan_rows, plan_summary, read_sweep

    if isinstance(table, SweepTable):
        rows = table.rows
    elif isinstance(table, str | os.PathLike):
        rows = read_sweep(table)
    else:
        rows = list(table)
    budget = job.Budget(bpp, bytes, decode_time)
    rows = sorted(rows, key=lambda r: (r["image"], r["codec"], r["quantizer"], r["filter"]))
    chosen, max_bytes = job.plan_rows_for(rows, budget, solver, time_limit, objective)
    return PlanResult(plan_rows(rows, chosen), plan_summary(rows, chosen, max_bytes,
                                                             decode_time, objective), max_bytes)


def rd(images: Images, out: PathLike, *, codecs: Codecs = (codec_registry.DEFAULT_CODEC,),
       filters: Filters = "default", bpp: str | Sequence[float] = "0.05:0.6:12",
       baseline: str | None = None, codec_options: Mapping[str, Any] | None = None,
       objective: str = "pooled-psnr", cache: PathLike | None = None, jobs: int = -1,
       progress: Progress = None, lazy_filters: bool = True) -> RdResult:
    """Rate-distortion curves per codec (fixed quantizer, optimal per image, and optimal
    with post-filters) as CompressAI-layout JSON in OUT, rd.png / rd.svg, and BD-rate /
    BD-PSNR in OUT/bd.json against `baseline` (default: the first codec's fixed curve).
    The plans maximise the `objective`; `codec_options` apply to every codec that has them
    (e.g. BPG's level). With several codecs, a "mixed-plan" curve lets every image pick its
    codec."""
    from rcodec.challenge.rd import parse_rates, rd_curves, write_rd  # (module docstring)
    from rcodec.optimize.request import sweep_requests

    requests = sweep_requests(codecs, filters, None, 0.15, codec_options, objective)
    rates = parse_rates(bpp) if isinstance(bpp, str) else sorted(float(r) for r in bpp)
    curves = rd_curves(image_paths(images), requests, rates, _cache_root(cache), jobs,
                       progress, lazy_filters, objective)
    out = _output_folder(out)
    table = write_rd(curves, out, baseline or f"{requests[0].codec.name}-fixed")
    files = sorted(p for p in out.iterdir() if p.is_file())
    return RdResult([curve.compressai() for curve in curves], table, files)


# --- challenge submissions --------------------------------------------------------------------


def pack_submission(images: Images, out: PathLike, *, bpp: float | str | None = None,
                    bytes: int | None = None,  # noqa: A002
                    decode_time: float | None = None,
                    codec: Codecs = codec_registry.DEFAULT_CODEC,
                    filters: Filters = "default", quantizers: Sequence[int] | None = None,
                    codec_options: Mapping[str, Any] | None = None,
                    objective: str = "pooled-psnr", solver: str = "auto",
                    time_limit: float = 60.0, cache: PathLike | None = None, jobs: int = -1,
                    backend: str | None = None, progress: Progress = None,
                    notify: Callable[[str], None] | None = None) -> dict[str, Any]:
    """A challenge submission in OUT: images/<stem>.rcb, a self-contained decoder/ (only
    the networks the plan uses) and report.json, all within the byte cap (`bpp` or
    `bytes`, the report counted too); returns the report."""
    from rcodec.challenge.pack import pack  # (see the module docstring)

    out = _output_folder(out)
    paths, requests, budget = _budgeted_job(images, bpp, bytes, decode_time, codec, filters,
                                            quantizers, codec_options, objective, notify)
    return pack(paths, out, budget, requests, _cache_root(cache), jobs, backend, solver,
                progress, time_limit, objective)


def check_submission(submission: PathLike, images: Images, *, bytes: int | None = None,  # noqa: A002
                     bpp: float | str | None = None, memory_limit: int = 8 << 30,
                     time_limit: float = 3600.0, decoded: PathLike | None = None) -> list:
    """Check a submission against the rules (byte cap: `bytes`, `bpp`, or the report's;
    the decoder run in a clean interpreter under the memory and time limits; every PNG
    verified); returns the rules, each with `passed` and `detail`."""
    from rcodec.challenge.check import check  # (see the module docstring)
    from rcodec.challenge.pack import cap_for
    from rcodec.optimize import job

    paths = image_paths(images)
    cap = None
    if bpp is not None or bytes is not None:
        cap = cap_for(job.Budget(bpp=bpp, bytes=bytes), paths)
    return check(Path(submission), paths, cap, memory_limit, time_limit,
                 None if decoded is None else Path(decoded))


def score_submission(decoded: PathLike, images: Images, *,
                     compressed: PathLike | None = None) -> dict[str, Any]:
    """CLIC metrics: PSNR over all RGB samples, MS-SSIM (mean and pixel-weighted), bpp."""
    from rcodec.challenge.score import score  # (see the module docstring)

    return score(Path(decoded), image_paths(images),
                 None if compressed is None else Path(compressed))


def qp_table(images: Images, *, qps: str | Sequence[int] = "39:43", filters: str = "all",
             codec: str = codec_registry.DEFAULT_CODEC,
             codec_options: Mapping[str, Any] | None = None, cache: PathLike | None = None,
             jobs: int = -1) -> dict[str, Any]:
    """The CLIC 2018 post-processing table: per quantizer, bpp and PSNR / MS-SSIM of the
    plain codec (BPG by default) and each network."""
    from rcodec.challenge.table import qp_table as table  # (see the module docstring)

    return table(image_paths(images), qps, filters, dict(codec_options or {}),
                 _cache_root(cache), jobs, codec)


# --- networks -------------------------------------------------------------------------------


def calibrate(networks: Sequence[str] | None = None, *, codecs: Codecs | None = None,
              repeats: int = 5, progress: Callable[[str, float], None] | None = None,
              ) -> tuple[Any, Path]:
    """Time the decode of each codec (default: all registered), PNG output and each network
    (default: all registered) on this machine, add it to the calibration on file and save;
    returns it and its path."""
    from rcodec.optimize.calibration import (  # (see the module docstring)
        calibrate as measure,
    )
    from rcodec.optimize.calibration import load_calibration, save_calibration
    from rcodec.optimize.request import codec_names  # (see the module docstring)

    result = measure(None if networks is None else list(networks),
                     None if codecs is None else codec_names(codecs), repeats=max(1, repeats),
                     progress=progress, base=load_calibration())
    return result, save_calibration(result)


def calibrated_speeds() -> dict[str, float | None]:
    """Each registered network's seconds per megapixel as calibrated here (None: not yet)."""
    from rcodec.optimize.calibration import load_calibration  # (see the module docstring)

    calibration = load_calibration()
    return {e.name: calibration.filter_rate(e.name, e.sha256) if calibration else None
            for e in model_registry.load_registry()}


def train(**config: Any) -> Path:
    """Train (or resume: run it again with the same out_dir) a post-filter; the keywords are
    `rcodec.postfilter.train.TrainConfig`'s (arch, codec, quantizer, data_dir, val_dir,
    out_dir, ...). Returns the path of the run's best weights."""
    from rcodec.postfilter.train import TrainConfig  # (see the module docstring)
    from rcodec.postfilter.train import train as run

    return run(TrainConfig(**config))


def jpeg_table(images: Images, *, qualities: Sequence[int] = (10, 20, 30, 40, 50),
               runs: Sequence[PathLike] = (), limit: int | None = None,
               out: PathLike | None = None, networks: Sequence[str] | None = None,
               update: bool = False) -> tuple[dict[str, Any], str]:
    """The JPEG artifact-removal comparison (luma of one-component JPEGs; PSNR / SSIM /
    PSNR-B of each registered JPEG network, or of the named `networks` only, and of any
    training `runs`); with `out`, also written as Markdown there and as JSON beside it, and
    with `update`, merged into the table already there (the networks measured now replace
    their rows, the others are kept). Returns the data and the Markdown."""
    from rcodec.postfilter.jpeg_table import (  # (see the module docstring)
        compare,
        markdown,
        merge,
        registered_networks,
        run_network,
    )

    names = None if networks is None else set(networks)
    nets = registered_networks(names) + [run_network(Path(run)) for run in runs]
    result = compare(image_paths(images), list(qualities), nets, limit)
    if update:
        if out is None:
            raise RcodecError("updating a table needs the table's path (out)")
        previous = Path(out).with_suffix(".json")
        if previous.is_file():
            result = merge(json.loads(read_bytes(previous)), result)
    text = markdown(result)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
        write_json(out.with_suffix(".json"), result)
    return result, text


def compare(reference: PathLike | np.ndarray, decoded: PathLike | np.ndarray,
            ) -> dict[str, Any]:
    """Two images compared (`rcodec metrics`): exact squared error, PSNR, MS-SSIM, SSIM,
    PSNR-B."""
    from rcodec import metrics  # (see the module docstring: MS-SSIM loads torch)

    a = read_rgb(reference) if isinstance(reference, str | os.PathLike) else reference
    b = read_rgb(decoded) if isinstance(decoded, str | os.PathLike) else decoded
    if a.shape != b.shape:
        raise RcodecError(f"{decoded}: size {b.shape[1]}x{b.shape[0]} differs from "
                          f"{reference} ({a.shape[1]}x{a.shape[0]})")
    result: dict[str, Any] = {"sse": metrics.sse(b, a), "samples": a.size}
    result.update({name: fn(b, a) for name, fn in metrics.METRICS.items()})
    return result


# --- one image ------------------------------------------------------------------------------


def encode(image: PathLike | Image.Image | np.ndarray, *, codec: str = codec_registry.DEFAULT_CODEC,
           quantizer: int | None = None, filter: str | None = None,  # noqa: A002
           container: bool = False, **options: Any) -> bytes:
    """Encode one image: the codec's own bitstream, or with `container` (implied by
    `filter`) the .rcb container whose selector byte names the post-filter. `options` are
    the codec's encoder options (`rcodec.codec.registry.codec_class(codec).options`, e.g.
    level, tune, pixel_format for BPG; subsampling for JPEG)."""
    from rcodec.optimize.request import network_for  # (see the module docstring)

    cls = codec_registry.codec_class(codec)
    known = {option.name for option in cls.options}
    unknown = sorted(k for k, v in options.items() if v is not None and k not in known)
    if unknown:
        raise RcodecError(f"codec {codec} has no option {unknown[0]!r} "
                          f"(it has: {', '.join(sorted(known)) or 'none'})")
    if isinstance(image, str | os.PathLike):
        image = open_image(image)
    samples = cls.samples(image) if isinstance(image, Image.Image) else np.asarray(image)
    quantizer = cls.default_quantizer if quantizer is None else quantizer
    selector = containers.NO_FILTER
    if filter:  # checked before encoding: a network outside its range is never written
        entry = network_for(filter, codec, gray=samples.ndim == 2)
        low, high = entry.quantizer_range
        if not low <= quantizer <= high:
            raise RcodecError(f"post-filter {filter} is for {cls.quantizer_name} {low}..{high}"
                              f", not {quantizer}")
        selector = entry.selector
    data = codec_registry.make_codec(codec, **options).encode(samples, quantizer)
    if not (container or filter):
        return data
    return containers.pack(selector, data)


def decode(data: bytes | PathLike, *, threads: int | None = None,
           max_memory: int | None = None) -> np.ndarray:
    """Decode a plain codec file or an .rcb container (bytes, or a path to one) to the image
    the user sees, uint8 (uint16 for a 16-bit BPG): the post-filter is applied where the
    container's selector names one, with `threads` and `max_memory` bounding it."""
    if isinstance(data, str | os.PathLike):
        data = read_bytes(data)
    return decode_bytes(bytes(data), threads=threads, max_memory=max_memory)


def info(data: bytes | PathLike) -> dict[str, Any]:
    """Header fields of a plain codec file or a container (`rcodec info`), with the
    quantizer the file was coded at where the codec can tell (BPG's qp, JPEG's quality)."""
    if isinstance(data, str | os.PathLike):
        data = read_bytes(data)
    data = bytes(data)
    try:
        cls = codec_registry.codec_for_bytes(data)
    except RcodecError:
        cls = None
    if cls is not None:
        header = cls.info(data)
        try:
            quantizer = cls.bitstream_quantizer(data)
        except RcodecError:  # a damaged slice header past a sound file header: show the rest
            quantizer = None
        told = {} if quantizer is None else {cls.quantizer_name: quantizer}
        return {"format": cls.format_name, **header, **told}
    parsed = containers.unpack(data, model_registry.known_selectors())
    name = "none" if parsed.selector == containers.NO_FILTER else model_registry.find(
        parsed.selector).name
    return {"format": "rcodec container", "selector": parsed.selector, "filter": name,
            "payload": info(parsed.payload)}


def models() -> list[model_registry.ModelEntry]:
    """The registered post-filter networks (`rcodec models`)."""
    return model_registry.load_registry()


def sample_images(out: PathLike) -> Path:
    """Copy the photographs bundled with rcodec (scikit-image's public-domain samples) into
    the folder `out`; return it."""
    return copy_samples(_output_folder(out))


# --- helpers --------------------------------------------------------------------------------


def _budgeted_job(images: Images, bpp: float | str | None, total_bytes: int | None,
                  decode_time: float | None, codec: Codecs, filters: Filters,
                  quantizers: Sequence[int] | None, codec_options: Mapping[str, Any] | None,
                  objective: str, notify: Callable[[str], None] | None):
    """Images, one sweep request per codec (calibrated when a decode-time budget asks for
    it) and the budget."""
    from rcodec.optimize import job  # (see the module docstring)
    from rcodec.optimize.objective import check
    from rcodec.optimize.request import sweep_requests

    check(objective)
    paths = image_paths(images)
    budget = job.Budget(bpp, total_bytes, _seconds(decode_time))
    pixels = sum(height * width for height, width in map(image_shape, paths))
    requests = sweep_requests(codec, filters, quantizers, budget.target_bpp(pixels),
                              codec_options, objective)
    return paths, [job.with_calibration(request, decode_time is not None, paths, notify)
                   for request in requests], budget


def _rate(bpp: float | str) -> float:
    try:
        return float(bpp)
    except (TypeError, ValueError):
        raise RcodecError(f"bits per pixel must be a number, got {bpp!r}") from None


def _seconds(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise RcodecError(f"the decode-time budget must be a positive number of seconds, "
                          f"got {value!r}")
    return float(value)


def _output_folder(out: PathLike) -> Path:
    """`out` as a folder to write into: refused when it is an existing file."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise RcodecError(f"{path}: exists and is not a folder (give a folder to write into)")
    return path


def _cache_root(cache: PathLike | None) -> Path:
    from rcodec.optimize.cache import default_cache_root  # (see the module docstring)

    return Path(cache) if cache is not None else default_cache_root()


def write_text(path: PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    atomic_write_text(path, text)
    return Path(path)


def write_json(path: PathLike, data: Any) -> Path:
    """Write JSON atomically (what the commands' --json options write)."""
    atomic_write_text(path, json.dumps(data, indent=2, default=json_default))
    return Path(path)


def json_default(value: Any) -> Any:
    """JSON for numpy scalars, paths and dataclasses (the commands' output)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
