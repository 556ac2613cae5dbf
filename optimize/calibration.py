"""Decode-time calibration: seconds per megapixel of every decode stage on this machine.

The planner's decode-time budget needs a time per (image, quantizer, filter) choice. Timing
each choice inside the sweep measures it under whatever else the machine is doing (the sweep
runs one worker per core), so instead `rcodec calibrate` times each stage alone, the way the
decoder runs it (one image at a time, all cores for the network), and the sweep predicts
`(codec + filter + PNG output) seconds per megapixel x megapixels`.

A calibration belongs to a machine: it records the CPU, the cores and the library versions it
was measured with, and is ignored anywhere else.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optimize.cache import default_cache_root
from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_text

#: Quantizer each codec is timed at (typical of the rates rcodec is used at).
CODEC_QUANTIZERS = {"bpg": 40, "jpeg": 50}

FILE_NAME = "calibration.json"


def calibration_path() -> Path:
    """$RCODEC_CALIBRATION, or calibration.json in the cache folder."""
    explicit = os.environ.get("RCODEC_CALIBRATION")
    return Path(explicit) if explicit else default_cache_root() / FILE_NAME


def machine_fingerprint() -> dict[str, Any]:
    """What decides how fast the decoder runs here."""
    import av
    import torch

    from postfilter.inference import available_cores
    from rcodec import __version__

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": available_cores(), "machine": platform.machine(),
            "torch": torch.__version__, "pyav": av.__version__, "rcodec": __version__}


@dataclasses.dataclass
class Calibration:
    """Seconds per megapixel of each decode stage, measured on one machine."""

    machine: dict[str, Any]
    codecs: dict[str, float] = dataclasses.field(default_factory=dict)
    #: name -> {"sha256": ..., "seconds_per_mpx": ...}
    filters: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    output_seconds_per_mpx: float = 0.0

    def filter_rate(self, name: str, sha256: str) -> float | None:
        """Seconds per megapixel of a network with these weights, or None if not measured."""
        if name == "none":
            return 0.0
        known = self.filters.get(name)
        if known is None or known.get("sha256") != sha256:
            return None
        return float(known["seconds_per_mpx"])

    def covers(self, codec: str, filters: Sequence[tuple[str, str]]) -> bool:
        return codec in self.codecs and all(
            self.filter_rate(name, sha) is not None for name, sha in filters)

    def seconds(self, codec: str, filter_name: str, sha256: str, pixels: int) -> float:
        """Predicted wall time to decode, filter and write one image."""
        rate = self.filter_rate(filter_name, sha256)
        if codec not in self.codecs or rate is None:
            raise RcodecError(f"no calibration for {codec} + {filter_name}; run "
                              "`rcodec calibrate`")
        return (self.codecs[codec] + rate + self.output_seconds_per_mpx) * pixels / 1e6

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_calibration(path: Path | None = None) -> Calibration | None:
    """This machine's calibration, or None when absent, unreadable or from another machine."""
    path = path or calibration_path()
    try:
        data = json.loads(path.read_text())
        calibration = Calibration(**data)
    except (OSError, ValueError, TypeError):
        return None
    if calibration.machine != machine_fingerprint():
        return None
    return calibration


def save_calibration(calibration: Calibration, path: Path | None = None) -> Path:
    path = path or calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(calibration.to_json(), indent=2))
    return path


def _median_seconds(repeats: int, action: Callable[..., object], *args: object) -> float:
    """Median wall time of `action(*args)` over `repeats` runs, after one warm-up run."""
    action(*args)  # warm-up: first calls pay for JIT kernels and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calibration_image() -> np.ndarray:
    """The bundled photograph closest to the 768x512 the challenge sets are made of."""
    from rcodec.images import read_rgb
    from rcodec.samples import sample_paths

    path = next(p for p in sample_paths() if p.stem == "motorcycle")
    return read_rgb(path)


def calibrate(filter_names: Sequence[str] | None = None, codecs: Sequence[str] = ("bpg", "jpeg"),
              repeats: int = 3, image: np.ndarray | None = None,
              progress: Callable[[str, float], None] | None = None,
              base: Calibration | None = None) -> Calibration:
    """Time every codec's decode, the PNG output and each named network (default: all
    registered) on one photograph; add them to `base` (a previous calibration) if given."""
    from postfilter import registry
    from postfilter.inference import apply_filter, load_model
    from rcodec.images import png_bytes
    from rcodec.pipeline import make_codec

    rgb = calibration_image() if image is None else image
    mpx = rgb.shape[0] * rgb.shape[1] / 1e6
    result = base if base is not None else Calibration(machine_fingerprint())
    entries = registry.load_registry()
    if filter_names is not None:
        entries = [registry.find(name) for name in filter_names]
    decoded: dict[str, tuple[np.ndarray, bytes]] = {}
    for name in dict.fromkeys([*codecs, *(entry.codec for entry in entries)]):
        codec = make_codec(name)
        payload = codec.encode(rgb, CODEC_QUANTIZERS[name])
        decoded[name] = (codec.decode(payload), payload)
        if name in codecs:
            result.codecs[name] = _median_seconds(repeats, codec.decode, payload) / mpx
            if progress:
                progress(f"decode {name}", result.codecs[name])
    result.output_seconds_per_mpx = _median_seconds(repeats, png_bytes, rgb) / mpx
    if progress:
        progress("write PNG", result.output_seconds_per_mpx)
    for entry in entries:
        load_model(entry)
        seconds = _median_seconds(repeats, apply_filter, entry, *decoded[entry.codec])
        result.filters[entry.name] = {"sha256": entry.sha256, "seconds_per_mpx": seconds / mpx}
        if progress:
            progress(entry.name, seconds / mpx)
    return result


def ensure_calibration(codec: str, filters: Sequence[tuple[str, str]],
                       notify: Callable[[str], None] | None = None) -> Calibration:
    """This machine's calibration covering `codec` and the (name, sha256) filters, measured
    and saved first when it is missing or incomplete."""
    current = load_calibration()
    if current is not None and current.covers(codec, filters):
        return current
    if notify:
        notify("timing the decoder on this machine (once; see `rcodec calibrate`)")
    names = [name for name, _ in filters if name != "none"]
    if current is not None:
        names = [n for n, sha in filters if n != "none" and current.filter_rate(n, sha) is None]
    fresh = calibrate(names, codecs=(codec,), base=current)
    save_calibration(fresh)
    return fresh
