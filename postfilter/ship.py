"""Ship a trained run as a registered network (a maintainer's tool, not part of the CLI).

  python -m rcodec.postfilter.ship RUN_DIR --name bpg-m-qp40 --selector 2 --range 34:46 \\
      --description "..." [--default] [--precision bf16] [--store bf16] [--time-against NAME]
  python -m rcodec.postfilter.ship --ensemble-of bpg-m-qp40 --views 4 --name bpg-m-qp40-x4 \\
      --selector 3 --description "..." [--default] [--time-against NAME]

RUN_DIR is a training run's folder, or any folder holding its best.safetensors and
report.json (what scripts/train-gpu.sh brings back from a GPU machine). Copies
RUN_DIR/best.safetensors to postfilter/weights/<name>.safetensors (with --store bf16, its
parameters rounded to bfloat16: half the bytes, and the very pixels of bf16 inference, whose
autocast rounds every convolution's weights so anyway), and appends the entry (architecture
and config from the run's state.json or report.json, sha256, parameter count, steps seen,
seconds per megapixel timed here) to the registry. A name or selector byte already in the
registry is refused: files written with a selector must keep decoding with its network.

`--ensemble-of` registers a shipped network again, averaging several flips and transposes of
each image (rcodec.postfilter.ensemble): a new name and selector, the same weights file, its
own timing.

Steps seen count from the first step: a run that went on from a registered network (`--init`)
adds that network's steps to its own. `--time-against NAME` times the new network beside a
shipped one and records that one's registered time scaled by their ratio, so a busy machine
(a training run beside it) does not inflate the figure the planner budgets decode time by.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rcodec.codec import registry as codec_registry
from rcodec.codec.images import read_bytes
from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_bytes, atomic_write_text
from rcodec.postfilter.ensemble import VIEW_COUNTS, check_views
from rcodec.postfilter.models import build, input_kind, parameter_count
from rcodec.postfilter.registry import ModelEntry, load_registry
from rcodec.postfilter.timing import calibration_image, time_filter
from rcodec.postfilter.weights import (
    parse_safetensors,
    read_metadata,
    sha256_hex,
    tensors_to_bytes,
    weights_dir,
)


def ship(run_dir: Path, name: str, selector: int, quantizer_range: tuple[int, int],
         description: str, default: bool = False, precision: str = "fp32",
         store: str = "fp32", time_against: str | None = None) -> ModelEntry:
    entries = _unused(name, selector)
    control = _shipped(entries, time_against) if time_against else None
    config, data, model = trained_model(run_dir)
    if store == "bf16":
        data = parameters_as_bf16(model, read_metadata(data))
    file_name = f"{name}.safetensors"
    atomic_write_bytes(weights_dir() / file_name, data)
    entry = ModelEntry(
        name=name, selector=selector, arch=config["arch"],
        config=config.get("arch_config", {}), codec=config["codec"],
        quantizer_range=quantizer_range, weights=file_name, sha256=sha256_hex(data),
        params=parameter_count(model), description=description,
        # Luma and DCT-domain networks both filter the Y plane (inference tells them apart).
        channels="rgb" if input_kind(config["arch"]) == "rgb" else "y",
        default=default, steps=_steps_from_start(entries, config, read_metadata(data)),
        precision=precision)
    return _register_timed(entries, entry, control)


def trained_model(run_dir: Path) -> tuple[dict, bytes, nn.Module]:
    """The run's config (run_config), the bytes of its best.safetensors and the network
    holding them."""
    config = run_config(run_dir)
    data = read_bytes(run_dir / "best.safetensors")
    model = build(config["arch"], **config.get("arch_config", {}))
    model.load_state_dict(parse_safetensors(data, run_dir / "best.safetensors"), strict=True)
    return config, data, model


def run_config(run_dir: Path) -> dict:
    """The run's architecture, its options and codec: from state.json, or from report.json
    alone where only the best weights and the report came back (scripts/train-gpu.sh's
    output)."""
    state = run_dir / "state.json"
    if state.is_file():
        return json.loads(read_bytes(state))["config"]
    report = json.loads(read_bytes(run_dir / "report.json"))
    try:
        return {key: report[key] for key in ("arch", "arch_config", "codec")}
    except KeyError as missing:
        raise RcodecError(f"{run_dir / 'report.json'}: no {missing} (not a training report)"
                          ) from None


def _steps_from_start(entries: list[ModelEntry], config: dict, metadata: dict[str, str]) -> int:
    """The run's own steps, plus those of the registered network it started from."""
    source = next((e for e in entries if e.name == config.get("init_weights")), None)
    return int(metadata.get("step", 0)) + (source.steps if source and source.steps else 0)


def ship_views(base: str, name: str, selector: int, views: int, description: str,
               default: bool = False, time_against: str | None = None) -> ModelEntry:
    """Register the shipped network `base` again, averaging `views` views of each image."""
    entries = _unused(name, selector)
    source = _shipped(entries, base)
    control = _shipped(entries, time_against) if time_against else None
    check_views(views)
    if views == source.ensemble:
        raise RcodecError(f"{base!r} already averages {views} views")
    entry = dataclasses.replace(source, name=name, selector=selector, ensemble=views,
                                description=description, default=default,
                                seconds_per_mpx=None)
    return _register_timed(entries, entry, control)


def _shipped(entries: list[ModelEntry], name: str) -> ModelEntry:
    """The registered network `name`."""
    found = next((e for e in entries if e.name == name), None)
    if found is None:
        raise RcodecError(f"no shipped network named {name!r}")
    return found


def _unused(name: str, selector: int) -> list[ModelEntry]:
    """The registry's entries, after checking that neither `name` nor `selector` is given."""
    entries = load_registry()
    if any(e.name == name or e.selector == selector for e in entries):
        raise RcodecError(f"name {name!r} or selector {selector} is already registered")
    if not 1 <= selector <= 255:
        raise RcodecError(f"selector must be 1..255, got {selector}")
    return entries


def _register_timed(entries: list[ModelEntry], entry: ModelEntry,
                    control: ModelEntry | None = None) -> ModelEntry:
    """Append `entry` to the registry, then time it here (on the bundled calibration photo, at
    the middle of its quantizer range) and record its seconds per megapixel: as measured, or
    with a `control`, the control's registered figure times their ratio measured side by
    side (alternating, the best of each, so load that comes and goes hits both alike)."""
    _write_registry([*entries, entry])
    if control is None:
        seconds = _seconds_per_mpx(entry)
    elif control.seconds_per_mpx is None:
        raise RcodecError(f"{control.name!r} has no registered time to scale")
    else:
        rounds = [(_seconds_per_mpx(entry), _seconds_per_mpx(control)) for _ in range(2)]
        ratio = min(new for new, _ in rounds) / min(old for _, old in rounds)
        seconds = control.seconds_per_mpx * ratio
    entry = dataclasses.replace(entry, seconds_per_mpx=round(seconds, 3))
    _write_registry([*entries, entry])
    return entry


def _seconds_per_mpx(entry: ModelEntry) -> float:
    """`entry`'s seconds per megapixel, timed here on a decode of the calibration photo."""
    payload, decoded = _calibration_decode(entry.codec, sum(entry.quantizer_range) // 2)
    return time_filter(entry, decoded, repeats=5, payload=payload)["seconds_per_mpx"]


@functools.cache
def _calibration_decode(codec_name: str, quantizer: int) -> tuple[bytes, np.ndarray]:
    """The calibration photo coded at `quantizer` and decoded, once per process (timing
    against a control times each network twice)."""
    codec = codec_registry.make_codec(codec_name)
    payload = codec.encode(calibration_image(), quantizer)
    decoded = codec.decode(payload)
    decoded.setflags(write=False)  # shared by every caller in this process
    return payload, decoded


def parameters_as_bf16(model: nn.Module, metadata: dict[str, str]) -> bytes:
    """Safetensors bytes of `model` with its parameters in bfloat16 and its buffers (the
    RGB mean, subtracted outside any convolution) left in float32."""
    parameters = {name for name, _ in model.named_parameters()}
    state = {name: tensor.to(torch.bfloat16) if name in parameters else tensor
             for name, tensor in model.state_dict().items()}
    return tensors_to_bytes(state, metadata)


def _write_registry(entries: list[ModelEntry]) -> None:
    atomic_write_text(weights_dir() / "registry.json",
                      json.dumps([e.to_json() for e in entries], indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?", help="a training run's folder")
    parser.add_argument("--ensemble-of", metavar="NAME",
                        help="register this shipped network again, averaging --views views")
    parser.add_argument("--views", type=int, choices=VIEW_COUNTS, default=1)
    parser.add_argument("--name", required=True)
    parser.add_argument("--selector", type=int, required=True)
    parser.add_argument("--range", help="quantizer range of a run, e.g. 34:46")
    parser.add_argument("--description", required=True)
    parser.add_argument("--default", action="store_true")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="inference precision (bf16 where the CPU has it natively)")
    parser.add_argument("--store", choices=["fp32", "bf16"], default="fp32",
                        help="the weight file's parameter type")
    parser.add_argument("--time-against", metavar="NAME",
                        help="record NAME's registered time scaled by the ratio of the two, "
                             "timed side by side")
    args = parser.parse_args()
    if (args.run is None) == (args.ensemble_of is None):
        parser.error("give a run folder or --ensemble-of NAME")
    if args.ensemble_of is not None:
        entry = ship_views(args.ensemble_of, args.name, args.selector, args.views,
                           args.description, args.default, args.time_against)
        print(json.dumps(entry.to_json(), indent=2))
        return
    if args.range is None:
        parser.error("a run needs --range")
    low, high = (int(part) for part in args.range.split(":"))
    entry = ship(args.run, args.name, args.selector, (low, high), args.description,
                 args.default, args.precision, args.store, args.time_against)
    print(json.dumps(entry.to_json(), indent=2))


if __name__ == "__main__":
    main()
