"""`rcodec challenge table`: the table of the CLIC 2018 post-processing paper.

One row per QP (of BPG, by default): bits per pixel, then pooled PSNR and mean MS-SSIM of the
plain codec and of each network, all on the same bitstreams (the sweep's cached ones).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rcodec.codec import registry as codec_registry
from rcodec.codec.images import image_paths
from rcodec.metrics import pooled_psnr
from rcodec.optimize.request import codec_spec, network_for, spec_of
from rcodec.optimize.sweep import NO_FILTER, FilterSpec, SweepRequest, parse_quantizers, run_sweep
from rcodec.postfilter import registry
from rcodec.postfilter.models import takes_quantizer


def table_filters(codec: str, names: str) -> list[FilterSpec]:
    """'all' networks registered for the codec, or the comma-separated ones named; each
    measured at every quantizer of the table, inside its registered range or not (the
    table is how a range is validated), except a network told the quantizer: the decoder
    runs that one only inside its range, so the table does too."""
    if names == "all":
        entries = [e for e in registry.load_registry() if e.codec == codec]
    else:
        entries = [network_for(n.strip(), codec) for n in names.split(",")
                   if n.strip() not in ("", "none")]
    return [spec_of(e) if takes_quantizer(e.arch, e.config)
            else dataclasses.replace(spec_of(e), quantizer_range=None) for e in entries]


def qp_table(images: Path | Sequence[Path], qps: str | Sequence[int], filters: str,
             options: Mapping[str, Any], cache_root: Path, jobs: int = -1,
             codec: str = codec_registry.DEFAULT_CODEC) -> dict:
    """The table as JSON-ready data: {"columns": [...], "rows": [...], ...}; `options` are
    the codec's encoder options (e.g. BPG's level)."""
    specs = [NO_FILTER, *table_filters(codec, filters)]
    request = SweepRequest(codec_spec(codec, options), tuple(specs),
                           tuple(parse_quantizers(qps) if isinstance(qps, str) else qps))
    paths = image_paths(images)
    rows = run_sweep(paths, request, cache_root, jobs)
    table = []
    for qp in sorted({r["quantizer"] for r in rows}):
        at_qp = [r for r in rows if r["quantizer"] == qp]
        plain = [r for r in at_qp if r["filter"] == "none"]
        pixels = sum(r["pixels"] for r in plain)
        entry = {"qp": qp, "bpp": 8 * sum(r["bytes"] for r in plain) / pixels}
        for spec in specs:
            mine = [r for r in at_qp if r["filter"] == spec.name]
            # None: the network is not offered at this quantizer (outside its range).
            entry[spec.name] = {"psnr": pooled_psnr(sum(r["sse"] for r in mine), 3 * pixels),
                                "ms_ssim": float(np.mean([r["ms_ssim"] for r in mine]))
                                } if mine else None
        table.append(entry)
    return {"images": len(paths), "codec": codec,
            "level": request.codec.build().settings().get("level"),
            "filters": [s.name for s in specs],
            "rows": table}


def format_markdown(result: dict) -> str:
    """The table in Markdown: QP, bpp, then PSNR (dB) / MS-SSIM per method."""
    names = result["filters"]
    plain = codec_registry.codec_class(result.get("codec", codec_registry.DEFAULT_CODEC))
    head = "| QP | bpp | " + " | ".join(
        (plain.format_name if n == "none" else n) + " PSNR / MS-SSIM" for n in names) + " |"
    rule = "|---:|---:|" + "---:|" * len(names)
    lines = [head, rule]
    for row in result["rows"]:
        cells = [f"{row[n]['psnr']:.3f} / {row[n]['ms_ssim']:.4f}" if row[n] else "-"
                 for n in names]
        lines.append(f"| {row['qp']} | {row['bpp']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
