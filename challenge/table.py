"""`rcodec challenge table`: the table of the CLIC 2018 post-processing paper.

One row per BPG QP: bits per pixel, then pooled PSNR and mean MS-SSIM of plain BPG and of
each network, all on the same bitstreams (the sweep's cached ones).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optimize.sweep import (
    NO_FILTER,
    CodecSpec,
    FilterSpec,
    SweepRequest,
    parse_quantizers,
    run_sweep,
)
from postfilter import registry
from rcodec.errors import RcodecError
from rcodec.images import list_images
from rcodec.metrics import pooled_psnr


def bpg_filters(names: str) -> list[FilterSpec]:
    """'all' registered BPG networks, or the comma-separated ones named."""
    if names == "all":
        entries = [e for e in registry.load_registry() if e.codec == "bpg"]
    else:
        entries = [registry.find(n.strip()) for n in names.split(",") if n.strip() != "none"]
    for entry in entries:
        if entry.codec != "bpg":
            raise RcodecError(f"post-filter {entry.name} is for {entry.codec}, not bpg")
    return [FilterSpec(e.name, e.selector, e.sha256) for e in entries]


def qp_table(images_dir: Path, qps: str, filters: str, level: int, cache_root: Path,
             jobs: int = -1) -> dict:
    """The table as JSON-ready data: {"columns": [...], "rows": [...], ...}."""
    specs = [NO_FILTER, *bpg_filters(filters)]
    request = SweepRequest(CodecSpec("bpg", (("level", level),)), tuple(specs),
                           tuple(parse_quantizers(qps)))
    paths = list_images(images_dir)
    rows = run_sweep(paths, request, cache_root, jobs)
    table = []
    for qp in sorted({r["quantizer"] for r in rows}):
        at_qp = [r for r in rows if r["quantizer"] == qp]
        plain = [r for r in at_qp if r["filter"] == "none"]
        pixels = sum(r["pixels"] for r in plain)
        entry = {"qp": qp, "bpp": 8 * sum(r["bytes"] for r in plain) / pixels}
        for spec in specs:
            mine = [r for r in at_qp if r["filter"] == spec.name]
            entry[spec.name] = {"psnr": pooled_psnr(sum(r["sse"] for r in mine), 3 * pixels),
                                "ms_ssim": float(np.mean([r["ms_ssim"] for r in mine]))}
        table.append(entry)
    return {"images": len(paths), "level": level, "filters": [s.name for s in specs],
            "rows": table}


def format_markdown(result: dict) -> str:
    """The table in Markdown: QP, bpp, then PSNR (dB) / MS-SSIM per method."""
    names = result["filters"]
    head = "| QP | bpp | " + " | ".join(
        ("BPG" if n == "none" else n) + " PSNR / MS-SSIM" for n in names) + " |"
    rule = "|---:|---:|" + "---:|" * len(names)
    lines = [head, rule]
    for row in result["rows"]:
        cells = [f"{row[n]['psnr']:.3f} / {row[n]['ms_ssim']:.4f}" for n in names]
        lines.append(f"| {row['qp']} | {row['bpp']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
