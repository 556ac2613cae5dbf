"""The sweep: every image x candidate quantizer x post-filter, measured on the real output.

Each row describes exactly what the decoder will output for that choice: the bitstream is
encoded once, cached, and later written unchanged by `compress`; quality is measured on the
decoded (and filtered) pixels, never estimated. Images run in parallel with joblib.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs, parallel_config

from rcodec import metrics, units
from rcodec.codec import container, registry
from rcodec.codec.base import Codec
from rcodec.codec.images import read_rgb
from rcodec.errors import RcodecError, in_file
from rcodec.optimize.cache import SweepCache, digest
from rcodec.optimize.calibration import Calibration
from rcodec.optimize.workers import allow_resident_networks
from rcodec.postfilter import consistency
from rcodec.postfilter import registry as model_registry
from rcodec.postfilter.inference import (
    apply_views,
    available_cores,
    effective_precision,
    projects_output,
    shared_run,
    torch_threads,
)
from rcodec.postfilter.models import revision
from rcodec.postfilter.registry import ModelEntry
from rcodec.postfilter.timing import timed_items
from rcodec.version import __version__

#: Columns of the sweep table, in order.
COLUMNS = ("image", "codec", "quantizer", "filter", "bytes", "sse", "pixels", "psnr", "ms_ssim",
           "decode_seconds", "decode_time_source", "encode_seconds")


@dataclasses.dataclass(frozen=True)
class CodecSpec:
    """A codec by name and encoder options: everything that determines the bitstream."""

    name: str = registry.DEFAULT_CODEC
    options: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Codec:
        return registry.make_codec(self.name, **dict(self.options))

    def key(self) -> dict[str, Any]:
        """What determines the bitstream: the codec's settings with their defaults (so that
        a changed default never serves an old cached bitstream), and the library versions."""
        return {"codec": self.name, "options": self.build().settings(), "rcodec": __version__,
                "libav": av.library_versions.get("libavcodec")}


@dataclasses.dataclass(frozen=True)
class FilterSpec:
    """A post-filter candidate: its name, selector byte, and the hash of its weights."""

    name: str
    selector: int
    sha256: str
    #: The quantizers the network was validated on (its registry range); None: all.
    quantizer_range: tuple[int, int] | None = None

    def offered_at(self, quantizer: int) -> bool:
        """Whether the sweep offers this filter at `quantizer` (only inside its range)."""
        low, high = self.quantizer_range or (quantizer, quantizer)
        return low <= quantizer <= high

    def cache_key(self) -> dict[str, str]:
        """What determines this filter's output besides the decoded image."""
        key = {"filter": self.name, "weights": self.sha256}
        if self.selector == container.NO_FILTER:
            return key
        entry = model_registry.find(self.name)
        key |= {"precision": effective_precision(entry)}
        if entry.ensemble != 1:  # (absent for one view: the keys of every earlier row)
            key |= {"views": entry.ensemble}
        code = revision(entry.arch)
        if code != 1:
            key |= {"revision": code}
        if projects_output(entry):
            key |= {"projection": consistency.REVISION}
        return key


NO_FILTER = FilterSpec("none", container.NO_FILTER, "")


def image_digest(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes() + str(rgb.shape).encode()
                          ).hexdigest()


class ImageSweeper:
    """Measures one image's candidates, through the cache."""

    def __init__(self, path: Path, codec: CodecSpec, cache: SweepCache,
                 threads: int | None = None) -> None:
        self.path = path
        self.threads = threads  # post-filter threads (None: all available cores)
        self.rgb = read_rgb(path)
        self.pixels = self.rgb.shape[0] * self.rgb.shape[1]
        self.codec_spec = codec
        self.codec = codec.build()
        self.cache = cache
        self._base_key = {"image": image_digest(self.rgb), **codec.key()}

    def payload_key(self, quantizer: int) -> str:
        return digest({**self._base_key, "quantizer": quantizer})

    def payload(self, quantizer: int) -> bytes:
        """The codec's bitstream at this quantizer (from the cache when there)."""
        key = self.payload_key(quantizer)
        data = self.cache.get_bytes(key)
        if data is None:
            start = time.perf_counter()
            data = self.codec.encode(self.rgb, quantizer)
            seconds = time.perf_counter() - start
            self.cache.put_bytes(key, data)
            self.cache.put_json(digest({"encode_seconds": key}), {"seconds": seconds})
        return data

    def encode_seconds(self, quantizer: int) -> float | None:
        """How long the cached encode at this quantizer took, when it was timed."""
        record = self.cache.get_json(digest({"encode_seconds": self.payload_key(quantizer)}))
        return None if record is None else float(record["seconds"])

    def bpp(self, quantizer: int) -> float:
        return 8 * (len(self.payload(quantizer)) + 1) / self.pixels

    def rows(self, quantizers: Iterable[int], filters: Sequence[FilterSpec],
             calibration: Calibration | None = None) -> list[dict]:
        """One row per quantizer x filter. Decode time is predicted from `calibration` when
        given (it times each stage alone), else the time measured here in the sweep."""
        out = []
        for quantizer in quantizers:
            offered = [f for f in filters if f.offered_at(quantizer)]
            out.extend(self._rows_at(quantizer, offered, calibration))
        return out

    def _rows_at(self, quantizer: int, filters: Sequence[FilterSpec],
                 calibration: Calibration | None) -> list[dict]:
        payload = self.payload(quantizer)
        keys = {f.name: digest({"payload": self.payload_key(quantizer), **f.cache_key()})
                for f in filters}
        records = {name: self.cache.get_json(key) for name, key in keys.items()}
        missing = [f for f in filters if records[f.name] is None]
        if missing:
            start = time.perf_counter()
            decoded = self.codec.decode(payload)
            codec_seconds = time.perf_counter() - start
            for spec, output, seconds in filter_outputs(missing, decoded, payload,
                                                        self.threads):
                record = {"sse": metrics.sse(output, self.rgb),
                          "ms_ssim": metrics.ms_ssim(output, self.rgb),
                          "decode_seconds": codec_seconds + seconds}
                self.cache.put_json(keys[spec.name], record)
                records[spec.name] = record
        encode_seconds = self.encode_seconds(quantizer)
        rows = []
        for spec in filters:
            record = records[spec.name]
            seconds, source = record["decode_seconds"], "measured"
            if calibration is not None:
                seconds = calibration.seconds(self.codec_spec.name, spec.name, spec.sha256,
                                              *self.rgb.shape[:2])
                source = "calibrated"
            rows.append({
                "image": self.path.name, "codec": self.codec_spec.name, "quantizer": quantizer,
                "filter": spec.name, "bytes": len(payload) + 1, "sse": record["sse"],
                "pixels": self.pixels,
                "psnr": metrics.psnr_from_sse(record["sse"], 3 * self.pixels),
                "ms_ssim": record["ms_ssim"], "decode_seconds": seconds,
                "decode_time_source": source, "encode_seconds": encode_seconds})
        return rows


def filter_outputs(specs: Sequence[FilterSpec], decoded: np.ndarray, payload: bytes,
                   threads: int | None = None,
                   ) -> Iterator[tuple[FilterSpec, np.ndarray, float]]:
    """Each filter's output on the decoded image, with the seconds it takes alone. Networks
    that average different views of one network (a network and its "-x4" entry) run
    together, every view once (`apply_views`, the same pixels as each alone); each is timed
    up to its own output, as a decoder running it alone would spend."""
    groups: dict[tuple, list[tuple[FilterSpec, ModelEntry]]] = {}
    for spec in specs:
        if spec.selector == container.NO_FILTER:
            yield spec, decoded, 0.0
            continue
        entry = model_registry.find(spec.name)
        groups.setdefault(shared_run(entry), []).append((spec, entry))
    for group in groups.values():
        spec_of = {entry.name: spec for spec, entry in group}
        outputs = apply_views([entry for _, entry in group], decoded, payload, threads=threads)
        for (entry, output), seconds in timed_items(outputs):
            yield spec_of[entry.name], output, seconds


# --- candidate quantizers ---------------------------------------------------------------------


def quantizer_window(sweeper: ImageSweeper, target_bpp: float, half_width: int) -> list[int]:
    """Quantizers around the one whose rate is closest to the target, `half_width` each side.

    Brackets the target from a typical quantizer with growing steps, then bisects; every probe
    is cached, and most fall inside the window that is swept anyway.
    """
    low, high = sweeper.codec.quantizer_range
    by_rate = list(range(low, high + 1))  # ordered so that the rate falls along the list
    if not sweeper.codec.quantizer_lowers_rate:
        by_rate.reverse()
    guess = sweeper.codec.typical_quantizer
    i = by_rate.index(min(max(guess, low), high))
    last = len(by_rate) - 1

    def over(index: int) -> bool:
        return sweeper.bpp(by_rate[index]) > target_bpp

    step = 4
    if over(i):  # too many bits: look towards lower rates
        above, below = i, min(i + step, last)
        while over(below) and below < last:
            above, below, step = below, min(below + 2 * step, last), 2 * step
    else:
        above, below = max(i - step, 0), i
        while not over(above) and above > 0:
            above, below, step = max(above - 2 * step, 0), above, 2 * step
    while below - above > 1:
        middle = (above + below) // 2
        if over(middle):
            above = middle
        else:
            below = middle
    best = min((by_rate[above], by_rate[below]),
               key=lambda q: abs(sweeper.bpp(q) - target_bpp))
    return list(range(max(low, best - half_width), min(high, best + half_width) + 1))


def rate_span(path: Path, codec: CodecSpec, cache_root: str, low_bpp: float,
              high_bpp: float) -> tuple[int, int]:
    """The quantizers (lowest, highest) that bracket rates from `low_bpp` to `high_bpp` for
    one image, one step beyond each end where the codec allows (probes are cached)."""
    sweeper = ImageSweeper(path, codec, SweepCache(cache_root))
    ends = quantizer_window(sweeper, low_bpp, 1) + quantizer_window(sweeper, high_bpp, 1)
    return min(ends), max(ends)


def parse_quantizers(text: str) -> list[int]:
    """'38:42' (inclusive), '30:50:2' (with a step) or '30,35,40'."""
    try:
        return units.parse_quantizers(text)
    except ValueError as error:
        raise RcodecError(str(error)) from None


@dataclasses.dataclass(frozen=True)
class SweepRequest:
    """What to sweep: codec, candidate quantizers (or an adaptive window) and filters."""

    codec: CodecSpec
    filters: tuple[FilterSpec, ...] = (NO_FILTER,)
    quantizers: tuple[int, ...] | None = None  # None: adaptive window around target_bpp
    target_bpp: float = 0.15
    half_width: int = 2
    extra: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    #: Decode-time model; None: the times measured during the sweep.
    calibration: Calibration | None = None


#: Measurements asked of one image: quantizer -> the filters wanted there (the codec alone,
#: NO_FILTER, is always measured with them).
Wanted = dict[int, tuple[FilterSpec, ...]]


def sweep_one(path: Path, request: SweepRequest, cache_root: str,
              threads: int | None = None, wanted: Wanted | None = None) -> list[dict]:
    """All rows for one image (the unit of parallel work), or with `wanted` only those
    measurements. `threads` bounds torch's threads for everything here, MS-SSIM included: a
    worker with the default (all cores) beside other workers made small MS-SSIM calls up to
    1000x slower."""
    with torch_threads(threads):
        sweeper = ImageSweeper(path, request.codec, SweepCache(cache_root), threads)
        if wanted is None:
            return _sweep_one(sweeper, path, request)
        return [row for quantizer, specs in sorted(wanted.items())
                for row in sweeper.rows([quantizer], (NO_FILTER, *specs), request.calibration)]


def _sweep_one(sweeper: ImageSweeper, path: Path, request: SweepRequest) -> list[dict]:
    if request.quantizers is not None:
        quantizers = set(request.quantizers)
    else:
        quantizers = set(quantizer_window(sweeper, request.target_bpp, request.half_width))
    quantizers |= set(request.extra.get(path.name, ()))
    low, high = sweeper.codec.quantizer_range
    quantizers = {q for q in quantizers if low <= q <= high}
    return sweeper.rows(sorted(quantizers), request.filters, request.calibration)


def run_sweep(paths: Sequence[Path], request: SweepRequest, cache_root: str | Path,
              jobs: int = -1, backend: str | None = None,
              progress: Callable[[int], None] | None = None,
              wanted: dict[str, Wanted] | None = None) -> list[dict]:
    """Sweep every image in parallel (with `wanted`, only the measurements it names per
    image name); rows come back in the order of `paths`."""
    results: dict[Path, list[dict]] = {}
    # Share the cores out between the image workers rather than oversubscribe them with a
    # full set of post-filter threads each (outputs do not depend on the thread count).
    threads = None if backend else max(1, available_cores() // max(1, min(
        effective_n_jobs(jobs), len(paths))))
    tasks = (delayed(_tagged)(path, request, str(cache_root), threads,
                              None if wanted is None else wanted.get(path.name, {}))
             for path in paths)
    # parallel_config, unlike Parallel(backend=...), registers external backends such as dask.
    config = {"n_jobs": jobs} | ({"backend": backend} if backend else {})
    with parallel_config(**config):
        for path, rows in Parallel(return_as="generator_unordered")(tasks):
            results[path] = rows
            if progress:
                progress(1)
    return [row for path in paths for row in results[path]]


def _tagged(path: Path, request: SweepRequest, cache_root: str,
            threads: int | None = None, wanted: Wanted | None = None,
            ) -> tuple[Path, list[dict]]:
    allow_resident_networks()
    try:
        return path, sweep_one(path, request, cache_root, threads, wanted)
    except RcodecError as error:
        if str(path) in str(error):
            raise
        raise in_file(path, error) from None
