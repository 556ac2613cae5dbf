"""Timing a post-filter the way the decoder runs it: one image at a time, all cores, on the
tile windows it will see. Calibration (rcodec.optimize.calibration) and shipping a network
(rcodec.postfilter.ship) record these times."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from rcodec.codec.images import read_rgb
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.codec.samples import sample_paths
from rcodec.postfilter.consistency import project_luma
from rcodec.postfilter.dct import read_plane
from rcodec.postfilter.ensemble import view_shapes
from rcodec.postfilter.inference import (
    alignment,
    decode_tile,
    effective_precision,
    jfif_luma,
    load_model,
    projects_output,
    replace_luma,
    run_window,
    tile_windows,
    torch_threads,
)
from rcodec.postfilter.models import is_conditioned, receptive_radius

#: Seconds of untimed runs before timing: the first calls of a shape pay for JIT kernels, and
#: the CPU takes a moment to reach its working clock.
WARM_UP_SECONDS = 0.3


#: Timed seconds after which two runs are enough: a run this long varies by a few percent,
#: and the full-tile window of a deep U-Net takes 10-20 s a run on one core, so three more
#: runs would add a minute to the calibration for nothing.
ENOUGH_SECONDS = 2.0


def median_seconds(repeats: int, action: Callable[..., object], *args: object) -> float:
    """Median wall time of `action(*args)` over `repeats` runs, after warming up; over two
    (or `repeats` if fewer) once the runs have taken ENOUGH_SECONDS."""
    start = time.perf_counter()
    action(*args)
    while time.perf_counter() - start < WARM_UP_SECONDS:
        action(*args)
    times: list[float] = []
    while len(times) < repeats and not (len(times) >= 2 and sum(times) >= ENOUGH_SECONDS):
        start = time.perf_counter()
        action(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calibration_image() -> np.ndarray:
    """The bundled photograph closest to the 768x512 the challenge sets are made of."""
    path = next(p for p in sample_paths() if p.stem == "motorcycle")
    return read_rgb(path)


#: Window sides timed below the full tile window.
WINDOW_SIDES = (48, 96, 192, 320)

#: Window shapes of a dataset timed exactly: those covering the most pixels.
MAIN_WINDOWS = 8


def network_shapes(kind: str, image_shapes: Sequence[tuple[int, int]],
                   ) -> list[tuple[int, int]]:
    """The (height, width) a network of this input kind runs on for images of these shapes:
    a DCT-domain network sees whole 8x8 blocks."""
    if kind == "dct":
        return [(-(-h // 8) * 8, -(-w // 8) * 8) for h, w in image_shapes]
    return [(int(h), int(w)) for h, w in image_shapes]


def main_windows(tile: int, radius: int, image_shapes: Sequence[tuple[int, int]],
                 align: int = 1) -> list[tuple[int, int]]:
    """The window shapes that carry most of the work for images of these shapes."""
    work: Counter[tuple[int, int]] = Counter()
    for (height, width), count in Counter(map(tuple, image_shapes)).items():
        for _, (y0, y1, x0, x1) in tile_windows(height, width, tile, radius, align):
            work[y1 - y0, x1 - x0] += count * (y1 - y0) * (x1 - x0)
    return [shape for shape, _ in work.most_common(MAIN_WINDOWS)]


def timed_items(items: Iterable[Any]) -> Iterator[tuple[Any, float]]:
    """Each item with the seconds spent producing it and the items before it (not the time
    the caller spends between items): for outputs that become ready one after another, such
    as `inference.apply_views`', each one's cost alone."""
    iterator, spent = iter(items), 0.0
    while True:
        start = time.perf_counter()
        item = next(iterator, _DONE)
        spent += time.perf_counter() - start
        if item is _DONE:
            return
        yield item, spent


_DONE = object()


def time_filter(entry: Any, decoded: np.ndarray, repeats: int,
                image_shapes: Sequence[tuple[int, int]] = (),
                known: dict[str, Any] | None = None, payload: bytes = b"") -> dict[str, Any]:
    """Time a registered network on square windows up to the decoder's full tile window
    and on the main windows of `image_shapes`, keeping the shapes `known` already has.

    `decoded` is an RGB decode and `payload` its bitstream; a luma network is timed on the
    decode's luma, plus the conversions around it, a DCT-domain one plus reading `payload`'s
    coefficients (which must then be a JPEG). A network averaging several views runs once
    per view, a transposed view on its transposed windows: "seconds_per_mpx" counts them
    all."""
    model = load_model(entry)
    precision = effective_precision(entry)
    tile, radius = decode_tile(model, None, precision), receptive_radius(model)
    align, kind = alignment(model), getattr(model, "input_kind", "rgb")
    # A conditioned network is told a quantizer of its range (its speed does not depend on it).
    quantizer = sum(entry.quantizer_range) // 2 if is_conditioned(model) else None
    full = -(-(tile + 2 * radius) // align) * align
    timed = {}
    if known is not None and known.get("precision") == precision:
        timed = {(h, w): seconds for h, w, seconds in known["windows"]}
    wanted = {(side, side) for side in (*WINDOW_SIDES, full) if side <= full}
    shapes = view_shapes(network_shapes(kind, image_shapes), entry.ensemble)
    wanted |= set(main_windows(tile, radius, shapes, align))
    plane = decoded if kind == "rgb" else jfif_luma(decoded)
    height, width = plane.shape[:2]
    canvas = np.pad(plane, ((0, max(0, full - height)), (0, max(0, full - width)), (0, 0)),
                    mode="symmetric")
    device = next(model.parameters()).device
    with torch_threads(None), torch.inference_mode():
        for h, w in sorted(wanted - set(timed)):
            window = np.ascontiguousarray(canvas[:h, :w])
            timed[h, w] = median_seconds(repeats, run_window, model, window, device, precision,
                                         quantizer)
    extra = 0.0
    if kind != "rgb":
        extra = (median_seconds(repeats, _luma_round_trip, decoded, payload, kind,
                                projects_output(entry))
                 / (decoded.shape[0] * decoded.shape[1]) * 1e6)
    return {"sha256": entry.sha256, "tile": tile, "radius": radius, "precision": precision,
            "align": align, "input": kind, "extra_seconds_per_mpx": extra,
            "views": entry.ensemble,
            "windows": [[h, w, seconds] for (h, w), seconds in sorted(timed.items())],
            "seconds_per_mpx": entry.ensemble * timed[full, full] / (tile * tile) * 1e6}


def _luma_round_trip(decoded: np.ndarray, payload: bytes, kind: str, project: bool) -> None:
    """What a luma or DCT-domain filter does besides running its network (`project`: and
    projecting its output onto the JPEG's intervals, reading them from `payload`)."""
    height, width = decoded.shape[:2]
    luma = read_plane(payload)[0] if kind == "dct" else jfif_luma(decoded)[..., 0]
    luma = luma[:height, :width]
    if project:
        luma = project_luma(luma, read_coefficients(payload))
    replace_luma(decoded, luma)


