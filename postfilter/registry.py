"""The model registry: every shipped post-filter network, by name and by selector byte.

A selector byte, once given to a network, is never reused: files written with it must keep
decoding with the same network. Weights are verified against their sha256 before use.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Any

from rcodec.errors import RcodecError
from rcodec.postfilter.ensemble import VIEW_COUNTS

_REGISTRY_FILE = "registry.json"


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One shipped network and what it is for."""

    name: str
    selector: int
    arch: str
    config: dict[str, Any]
    codec: str
    quantizer_range: tuple[int, int]
    weights: str
    sha256: str
    params: int
    seconds_per_mpx: float | None = None
    channels: str = "rgb"
    description: str = ""
    #: A default candidate of `rcodec compress --filters default` for its codec.
    default: bool = False
    #: Training steps the shipped weights have seen.
    steps: int = 0
    #: Inference precision: "bf16" only where measured within 0.01 dB of fp32
    #: (benchmarks/precision.py); used where the CPU computes bf16 natively.
    precision: str = "fp32"
    #: Flips and transposes of the image whose outputs are averaged (1, 2, 4 or 8; see
    #: rcodec.postfilter.ensemble): a network registered again with more views is another
    #: entry, with its own selector, sharing the weights file.
    ensemble: int = 1

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["quantizer_range"] = list(self.quantizer_range)
        return data


def weights_dir() -> Path:
    """The folder of the shipped weight files and registry.json (postfilter/weights/). Read
    through symlinks: a strict editable install links each file into a build tree, and
    shipping a network must write beside the real registry, not into that tree."""
    folder = Path(str(resources.files("rcodec.postfilter").joinpath("weights")))
    return (folder / _REGISTRY_FILE).resolve().parent


def load_registry() -> list[ModelEntry]:
    """All registered networks, from the registry file shipped with the package."""
    path = weights_dir() / _REGISTRY_FILE
    if not path.is_file():
        return []
    entries = []
    for item in json.loads(path.read_text()):
        item["quantizer_range"] = tuple(item["quantizer_range"])
        entry = ModelEntry(**item)
        if entry.ensemble not in VIEW_COUNTS:
            raise RcodecError(f"model registry: {entry.name!r} averages {entry.ensemble!r} "
                              "views (1, 2, 4 or 8)")
        entries.append(entry)
    selectors = [entry.selector for entry in entries]
    if len(set(selectors)) != len(selectors) or 0 in selectors:
        raise RcodecError("model registry reuses a selector byte or uses 0")
    return entries


def known_selectors() -> frozenset[int]:
    return frozenset(entry.selector for entry in load_registry())


def find(name_or_selector: str | int) -> ModelEntry:
    """The registry entry with this name or selector byte."""
    for entry in load_registry():
        if name_or_selector in (entry.name, entry.selector):
            return entry
    names = ", ".join(entry.name for entry in load_registry()) or "none registered"
    raise RcodecError(f"unknown post-filter {name_or_selector!r} (known: {names})")
