"""The JPEG artifact-removal comparison table (docs/jpeg-artifact-removal.md).

For each quality, on a validation folder, following shared/JPEG-NOTES.md: the original's Y is
MATLAB's rgb2ycbcr luma; it is encoded as a one-component JPEG by Pillow (libjpeg-turbo,
standard IJG tables); the distorted JPEG and every Y network trained for that quality are
scored by mean per-image PSNR, SSIM (rcodec.metrics.ssim: Gaussian 11x11, sigma 1.5, valid
window, no downsampling) and PSNR-B, with parameter counts and CPU milliseconds per megapixel.
Networks come from the registry (codec jpeg) and from training run folders. Colour networks
(RGB input, e.g. the block-context net) get their own rows: the RGB original through a colour
JPEG (4:2:0), scored on RGB.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np
from torch import nn

from rcodec import metrics
from rcodec.codec.images import image_paths, read_bytes, read_rgb
from rcodec.codec.jpeg import JpegCodec
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.errors import RcodecError
from rcodec.postfilter import registry
from rcodec.postfilter.inference import (
    decode_dct,
    effective_precision,
    filter_luma_views,
    load_model,
    restore_views,
    to_uint8,
)
from rcodec.postfilter.models import build, is_conditioned, parameter_count
from rcodec.postfilter.timing import timed_items
from rcodec.postfilter.weights import parse_safetensors, read_metadata

#: Published numbers on bsds500 val with MATLAB's encoder (PSNR / SSIM / PSNR-B), for
#: orientation only: a different encoder and SSIM convention.
PUBLISHED = {
    10: {"distorted JPEG": (27.58, 0.769, 24.97), "L4 (published)": (28.75, 0.800, 28.29)},
    20: {"distorted JPEG": (29.72, 0.852, 26.97), "L4 (published)": (30.90, 0.871, 30.13),
         "L8 (published)": (30.99, 0.872, 30.19)},
}


#: The method name of each quality's baseline row: the JPEG as decoded.
DISTORTED = "distorted JPEG"


@dataclasses.dataclass
class Network:
    name: str
    arch: str
    model: nn.Module
    qualities: tuple[int, int]
    #: Training steps its weights have seen.
    steps: int = 0
    #: Inference precision (a registered network's, on this machine).
    precision: str = "fp32"
    #: Views of each image its output averages (a registered network's `ensemble`).
    views: int = 1

    @property
    def kind(self) -> str:
        return getattr(self.model, "input_kind", "rgb")


def registered_networks(names: Collection[str] | None = None) -> list[Network]:
    """The registered JPEG networks, or those of them named (each loaded only if wanted)."""
    entries = [e for e in registry.load_registry() if e.codec == "jpeg"]
    if names is not None:
        unknown = set(names) - {e.name for e in entries}
        if unknown:
            raise RcodecError(f"not registered JPEG networks: {', '.join(sorted(unknown))}")
        entries = [e for e in entries if e.name in names]
    return [Network(e.name, e.arch, load_model(e), e.quantizer_range, e.steps,
                    effective_precision(e), e.ensemble) for e in entries]


def run_network(run_dir: Path) -> Network:
    """A training run's best weights as a table entry (for the qualities it trained on)."""
    config = json.loads(read_bytes(run_dir / "state.json"))["config"]
    model = build(config["arch"], **config.get("arch_config", {}))
    weights = run_dir / "best.safetensors"
    data = read_bytes(weights)
    model.load_state_dict(parse_safetensors(data, weights), strict=True)
    model.eval().requires_grad_(False)
    qualities = config.get("quantizers") or [config["quantizer"]]
    return Network(f"{config['arch']} ({run_dir.name})", config["arch"], model,
                   (int(min(qualities)), int(max(qualities))),
                   int(read_metadata(data).get("step", 0)))


def _outputs(group: Sequence[Network], files: list[bytes], decoded: list[np.ndarray],
             quality: int) -> dict[int, tuple[list[np.ndarray], float]]:
    """The outputs of networks that average different views of one model (`_shared`), by
    view count, with the seconds each count's outputs take alone: every view runs once for
    all the counts, as the sweep runs a network and its view entries."""
    counts = tuple(dict.fromkeys(net.views for net in group))
    outputs: dict[int, list[np.ndarray]] = {count: [] for count in counts}
    seconds = dict.fromkeys(counts, 0.0)
    for file, image in zip(files, decoded, strict=True):
        for (count, output), spent in timed_items(_views(group[0], file, image, quality,
                                                         counts)):
            outputs[count].append(output)
            seconds[count] += spent
    return {count: (outputs[count], seconds[count]) for count in counts}


def _views(net: Network, file: bytes, image: np.ndarray, quality: int,
           counts: tuple[int, ...]) -> Iterator[tuple[int, np.ndarray]]:
    """One image's uint8 output averaging each of `counts` views, fewest first."""
    precision = net.precision
    # A quality-conditioned net is told the quality (decoding reads it back from the file).
    told = float(quality) if is_conditioned(net.model) else None
    if net.kind == "dct":  # (registered DCT-domain networks average one view)
        yield 1, decode_dct(net.model, file, image, precision=precision)
    elif net.kind == "y":  # projected onto the file's intervals, as a decoder does
        yield from filter_luma_views(net.model, image, counts, precision=precision,
                                     quantizer=told, coefficients=read_coefficients(file))
    else:
        for count, output in restore_views(net.model, image, counts, precision=precision,
                                           quantizer=told):
            yield count, to_uint8(output)


def _shared(nets: Sequence[Network]) -> list[list[Network]]:
    """`nets` grouped by the model run they share (entries with the same weights, such as
    a network and its "-x4" one, hold the same loaded model), in order of first appearance."""
    groups: dict[tuple[int, str], list[Network]] = {}
    for net in nets:
        groups.setdefault((id(net.model), net.precision), []).append(net)
    return list(groups.values())


def _scores(outputs: list[np.ndarray], originals: list[np.ndarray]) -> dict[str, float]:
    pairs = list(zip(outputs, originals, strict=True))
    return {"psnr": float(np.mean([metrics.psnr(o, y) for o, y in pairs])),
            "ssim": float(np.mean([metrics.ssim(o, y) for o, y in pairs])),
            "psnr_b": float(np.mean([metrics.psnr_b(o, y) for o, y in pairs]))}


def compare(images: Path | Sequence[Path], qualities: Sequence[int], networks: Sequence[Network],
            limit: int | None = None) -> dict:
    """The table's numbers as JSON-ready data: rows of the luma ("Y") networks on gray JPEGs
    of the MATLAB luma, then of the colour ("RGB") ones on colour JPEGs."""
    paths = image_paths(images)[:limit]
    rgbs = [read_rgb(p) for p in paths]
    sets = {"Y": ([metrics.rgb_to_matlab_y(rgb) for rgb in rgbs],
                  [n for n in networks if n.kind != "rgb"]),
            "RGB": (rgbs, [n for n in networks if n.kind == "rgb"])}
    codec = JpegCodec()
    rows = []
    for space, (originals, nets) in sets.items():
        if space == "RGB" and not nets:
            continue
        pixels = sum(o.shape[0] * o.shape[1] for o in originals)
        for quality in qualities:
            files = [codec.encode(o, quality) for o in originals]
            decoded = [codec.decode(f).reshape(o.shape)
                       for f, o in zip(files, originals, strict=True)]
            rows.append({"space": space, "quality": quality, "method": DISTORTED,
                         "params": 0, "steps": None, "ms_per_mpx": None,
                         **_scores(decoded, originals)})
            offered = [n for n in nets if n.qualities[0] <= quality <= n.qualities[1]]
            results = {}
            for group in _shared(offered):
                by_views = _outputs(group, files, decoded, quality)
                results |= {id(net): by_views[net.views] for net in group}
            for net in offered:
                outputs, seconds = results[id(net)]
                rows.append({"space": space, "quality": quality, "method": net.name,
                             "params": parameter_count(net.model), "steps": net.steps,
                             "ms_per_mpx": 1000 * seconds / (pixels / 1e6),
                             **_scores(outputs, originals)})
    return {"images": len(paths), "folder": str(paths[0].parent), "rows": rows}


def merge(old: dict, new: dict) -> dict:
    """`old`'s table with `new`'s rows added: a method `new` measured replaces its old rows,
    the others are kept (each quality's rows stay together, the distorted JPEG first). Both
    must be of the same images."""
    if (old.get("images"), old.get("folder")) != (new["images"], new["folder"]):
        raise RcodecError(f"cannot update a table of {old.get('images')} images in "
                          f"{old.get('folder')} with one of {new['images']} in {new['folder']}")
    measured = {row["method"] for row in new["rows"]} - {DISTORTED}
    groups = {(row.get("space", "Y"), row["quality"]) for row in old["rows"]}
    rows = [row for row in old["rows"] if row["method"] not in measured]
    rows += [row for row in new["rows"] if row["method"] != DISTORTED
             or (row.get("space", "Y"), row["quality"]) not in groups]
    spaces = list(dict.fromkeys(["Y", "RGB", *(row.get("space", "Y") for row in rows)]))
    rows.sort(key=lambda row: (spaces.index(row.get("space", "Y")), row["quality"],
                               row["method"] != DISTORTED))
    return {**old, "rows": rows}


def markdown(result: dict) -> str:
    lines = [
        "# JPEG artifact removal on bsds500 val",
        "",
        "Generated by `rcodec jpeg-table` (do not edit by hand). "
        f"{result['images']} images; Y = MATLAB rgb2ycbcr luma, encoded as a one-component "
        "JPEG by Pillow's libjpeg-turbo with the standard IJG tables. PSNR, SSIM and PSNR-B "
        "are means over images; SSIM is Gaussian 11x11, sigma 1.5, valid window, no "
        "downsampling. CPU milliseconds per megapixel on this 2-core machine (bf16 where the "
        "network is registered so). Steps: training steps of 16 crops of 96x96 each (CPU "
        "training; the papers train for 10^5 and more). The DCT-domain net (hrcnn) reads the "
        "file's coefficients, dequantised by its table and divided by 255, with no pixel "
        "decode. The pixel-domain luma nets' outputs are projected onto the file's "
        "quantisation intervals, as decoders do (rcodec.postfilter.consistency).",
        "",
    ]
    base = {}
    for space in dict.fromkeys(row.get("space", "Y") for row in result["rows"]):
        if space == "RGB":
            lines += ["", "Colour networks: the RGB original through a colour JPEG (4:2:0), "
                          "scored on RGB.", ""]
        lines += ["| quality | method | PSNR | SSIM | PSNR-B | gain (dB) | params | steps "
                  "| ms/MP |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in result["rows"]:
            if row.get("space", "Y") != space:
                continue
            if row["method"] == DISTORTED:
                base[row["quality"]] = row["psnr"]
            speed = "" if row["ms_per_mpx"] is None else f"{row['ms_per_mpx']:.0f}"
            steps = "" if row.get("steps") is None else f"{row['steps']:,}"
            lines.append(f"| {row['quality']} | {row['method']} | {row['psnr']:.2f} | "
                         f"{row['ssim']:.3f} | {row['psnr_b']:.2f} | "
                         f"{row['psnr'] - base[row['quality']]:+.2f} | {row['params']:,} | "
                         f"{steps} | {speed} |")
    lines += ["", "Published, for orientation (MATLAB's encoder; other SSIM settings):", "",
              "| quality | method | PSNR | SSIM | PSNR-B |", "|---:|---|---:|---:|---:|"]
    for quality, methods in PUBLISHED.items():
        for name, (psnr, ssim, psnr_b) in methods.items():
            lines.append(f"| {quality} | {name} | {psnr:.2f} | {ssim:.3f} | {psnr_b:.2f} |")
    return "\n".join(lines) + "\n"
