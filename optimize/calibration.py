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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from rcodec.codec import registry as codec_registry
from rcodec.codec.images import png_bytes
from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_text
from rcodec.optimize.cache import default_cache_root
from rcodec.postfilter import registry
from rcodec.postfilter.ensemble import view_shapes
from rcodec.postfilter.inference import available_cores, tile_windows
from rcodec.postfilter.timing import (
    calibration_image,
    main_windows,
    median_seconds,
    network_shapes,
    time_filter,
)
from rcodec.version import __version__

FILE_NAME = "calibration.json"

#: Layout of the calibration file; files of another layout are measured again. (3: the
#: U-Nets decode in larger tiles than before, so the windows timed for them changed.)
FORMAT = 3


def calibration_path() -> Path:
    """$RCODEC_CALIBRATION, or calibration.json in the cache folder."""
    explicit = os.environ.get("RCODEC_CALIBRATION")
    return Path(explicit) if explicit else default_cache_root() / FILE_NAME


def machine_fingerprint() -> dict[str, Any]:
    """What decides how fast the decoder runs here."""
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
    #: name -> {"sha256", "seconds_per_mpx" (of output, in full tiles), "tile", "radius",
    #: "precision", "windows": [[height, width, seconds], ...]}
    filters: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    output_seconds_per_mpx: float = 0.0
    format: int = FORMAT

    def _filter(self, name: str, sha256: str) -> dict[str, Any] | None:
        known = self.filters.get(name)
        return known if known is not None and known.get("sha256") == sha256 else None

    def _windows_of(self, sha256: str) -> dict[str, Any] | None:
        """A record of any network with these weights: its window times hold for every
        entry of the weights (an entry averaging views runs the same network on each)."""
        return next((known for known in self.filters.values()
                     if known.get("sha256") == sha256), None)

    def filter_rate(self, name: str, sha256: str) -> float | None:
        """Seconds per megapixel of a network with these weights at full tiles, or None if
        not measured here."""
        if name == "none":
            return 0.0
        known = self._filter(name, sha256)
        return None if known is None else float(known["seconds_per_mpx"])

    def covers(self, codec: str, filters: Sequence[tuple[str, str]],
               image_shapes: Sequence[tuple[int, int]] = ()) -> bool:
        """Whether the codec and every filter were timed, on the main window shapes of
        images of these (height, width) shapes too."""
        if codec not in self.codecs:
            return False
        for name, sha in filters:
            if name == "none":
                continue
            known = self._filter(name, sha)
            if known is None:
                return False
            timed = {(h, w) for h, w, _ in known["windows"]}
            if not set(main_windows(known["tile"], known["radius"],
                                    _run_shapes(known, image_shapes), _align(known))) <= timed:
                return False
        return True

    def filter_seconds(self, name: str, sha256: str, height: int, width: int) -> float:
        """Predicted time of the network on an image: its tile windows, one by one, once
        per view it averages."""
        if name == "none":
            return 0.0
        known = self._filter(name, sha256)
        if known is None:
            raise RcodecError(f"no calibration for post-filter {name}; run `rcodec calibrate`")
        exact = {(h, w): seconds for h, w, seconds in known["windows"]}
        points = np.array(sorted((h * w, seconds) for h, w, seconds in known["windows"]))
        # Work outside the network (luma conversion, reading DCT coefficients) scales with
        # the image.
        total = float(known.get("extra_seconds_per_mpx", 0.0)) * height * width / 1e6
        windows = [window for h, w in _run_shapes(known, [(height, width)])
                   for _, window in tile_windows(h, w, known["tile"], known["radius"],
                                                 _align(known))]
        for y0, y1, x0, x1 in windows:
            shape = (y1 - y0, x1 - x0)
            pixels = shape[0] * shape[1]
            if shape in exact:
                total += exact[shape]
            elif pixels > points[-1, 0]:  # beyond the largest window timed: its rate per pixel
                total += pixels * points[-1, 1] / points[-1, 0]
            else:
                total += float(np.interp(pixels, points[:, 0], points[:, 1]))
        return total

    def seconds(self, codec: str, filter_name: str, sha256: str, height: int,
                width: int) -> float:
        """Predicted wall time to decode, filter and write one image."""
        if codec not in self.codecs:
            raise RcodecError(f"no calibration for codec {codec}; run `rcodec calibrate`")
        per_mpx = self.codecs[codec] + self.output_seconds_per_mpx
        return (per_mpx * height * width / 1e6
                + self.filter_seconds(filter_name, sha256, height, width))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_calibration(path: Path | None = None) -> Calibration | None:
    """This machine's calibration, or None when absent, unreadable or from another machine."""
    path = path or calibration_path()
    try:
        data = json.loads(path.read_text())
        if not _well_formed(data):
            return None
        calibration = Calibration(**data)
    except (OSError, ValueError, TypeError):
        return None
    if calibration.format != FORMAT or calibration.machine != machine_fingerprint():
        return None
    return calibration


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _well_formed(data: object) -> bool:
    """Whether JSON read from a calibration file has the layout this version writes (a file
    edited by hand, truncated or from another version is measured again, never trusted)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return False
    if set(data) != {f.name for f in dataclasses.fields(Calibration)}:
        return False
    codecs, filters = data["codecs"], data["filters"]
    if not (isinstance(data["machine"], dict) and isinstance(codecs, dict)
            and isinstance(filters, dict) and _is_number(data["output_seconds_per_mpx"])):
        return False
    if not all(isinstance(k, str) and _is_number(v) for k, v in codecs.items()):
        return False
    for record in filters.values():
        if not isinstance(record, dict) or not isinstance(record.get("sha256"), str):
            return False
        if not all(isinstance(record.get(k), int) and record[k] >= 0 for k in ("tile", "radius")):
            return False
        if record["tile"] < 1 or not _is_number(record.get("seconds_per_mpx")):
            return False
        windows = record.get("windows")
        if not isinstance(windows, list) or not windows or not all(
                isinstance(w, list) and len(w) == 3 and all(map(_is_number, w))
                and w[0] >= 1 and w[1] >= 1 for w in windows):
            return False
    return True


def save_calibration(calibration: Calibration, path: Path | None = None) -> Path:
    path = path or calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(calibration.to_json(), indent=2))
    return path


def calibrate(filter_names: Sequence[str] | None = None, codecs: Sequence[str] | None = None,
              repeats: int = 5, image: np.ndarray | None = None,
              progress: Callable[[str, float], None] | None = None,
              base: Calibration | None = None,
              image_shapes: Sequence[tuple[int, int]] = ()) -> Calibration:
    """Time every codec's decode, the PNG output and each named network (default: all
    registered) on one photograph; add them to `base` (a previous calibration) if given.
    Codecs (default: all registered) are timed at their typical quantizer. Networks are timed
    on square windows and on the main windows of `image_shapes`."""
    codecs = codec_registry.names() if codecs is None else codecs

    rgb = calibration_image() if image is None else image
    mpx = rgb.shape[0] * rgb.shape[1] / 1e6
    result = base if base is not None else Calibration(machine_fingerprint())
    entries = registry.load_registry()
    if filter_names is not None:
        entries = [registry.find(name) for name in filter_names]
    decoded: dict[str, tuple[np.ndarray, bytes]] = {}
    for name in dict.fromkeys([*codecs, *(entry.codec for entry in entries)]):
        codec = codec_registry.make_codec(name)
        payload = codec.encode(rgb, codec.typical_quantizer)
        decoded[name] = (codec.decode(payload), payload)
        if name in codecs:
            result.codecs[name] = median_seconds(repeats, codec.decode, payload) / mpx
            if progress:
                progress(f"decode {name}", result.codecs[name])
    result.output_seconds_per_mpx = median_seconds(repeats, png_bytes, rgb) / mpx
    if progress:
        progress("write PNG", result.output_seconds_per_mpx)
    for entry in entries:
        known = result._filter(entry.name, entry.sha256) or result._windows_of(entry.sha256)
        image, payload = decoded[entry.codec]
        result.filters[entry.name] = time_filter(entry, image, repeats, image_shapes, known,
                                                 payload)
        if progress:
            progress(entry.name, result.filters[entry.name]["seconds_per_mpx"])
    return result


def _align(known: dict[str, Any]) -> int:
    return int(known.get("align", 1))  # (absent from records of unstrided networks)


def _run_shapes(known: dict[str, Any], image_shapes: Sequence[tuple[int, int]],
                ) -> list[tuple[int, int]]:
    """The (height, width) a calibrated network runs on for images of these shapes: whole
    blocks for a DCT-domain one, once per view it averages (the "views" field is absent from
    records made before self-ensembles)."""
    shapes = network_shapes(known.get("input", "rgb"), image_shapes)
    return view_shapes(shapes, int(known.get("views", 1)))


def ensure_calibration(codec: str, filters: Sequence[tuple[str, str]],
                       image_shapes: Sequence[tuple[int, int]] = (),
                       notify: Callable[[str], None] | None = None) -> Calibration:
    """This machine's calibration covering `codec`, the (name, sha256) filters and the main
    windows of images of `image_shapes`: measured and saved first where it is incomplete."""
    current = load_calibration()
    if current is not None and current.covers(codec, filters, image_shapes):
        return current
    if notify:
        notify("timing the decoder on this machine (once per network and image size; see "
               "`rcodec calibrate`)")
    names = [name for name, _ in filters if name != "none"]
    fresh = calibrate(names, codecs=(codec,), base=current, image_shapes=image_shapes)
    save_calibration(fresh)
    return fresh
