"""The sweep and plan tables as CSV: documented columns, typed reading, atomic writing.

Sweep columns (one row per image x quantizer x filter):
  image               source file name
  codec               bpg or jpeg
  quantizer           BPG qp or JPEG quality
  filter              post-filter name ("none" for the plain codec)
  bytes               size of the file as written: selector byte + bitstream
  sse                 squared error over all RGB samples (8-bit) of the decoded, filtered image
  pixels              width x height
  psnr                10 log10(255^2 * 3 * pixels / sse)
  ms_ssim             MS-SSIM of the decoded, filtered image (RGB)
  decode_seconds      seconds to decode and filter
  decode_time_source  "measured" on this machine, or "calibrated" (`rcodec calibrate`)
  encode_seconds      seconds the cached encode took when it was made (empty if not timed)
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rcodec.codec.images import read_bytes
from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_text
from rcodec.metrics import psnr_from_sse
from rcodec.optimize.objective import DEFAULT as DEFAULT_OBJECTIVE
from rcodec.optimize.objective import losses, proved_gap, score
from rcodec.optimize.plan import Candidates, Plan
from rcodec.optimize.sweep import COLUMNS


def _optional_float(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


_TYPES = {"quantizer": int, "bytes": int, "sse": int, "pixels": int, "psnr": float,
          "ms_ssim": float, "decode_seconds": float, "encode_seconds": _optional_float}

PLAN_COLUMNS = ("image", "codec", "quantizer", "filter", "bytes", "predicted_sse", "psnr",
                "ms_ssim", "decode_seconds")


def write_csv(path: str | os.PathLike[str], rows: Sequence[dict], columns: Sequence[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def read_sweep(path: str | os.PathLike[str]) -> list[dict]:
    """Rows of a sweep table, typed; a missing column or bad value names the file and line."""
    path = Path(path)
    try:
        text = read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise RcodecError(f"{path}: not a sweep table (not UTF-8 text)") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("image", "codec", "quantizer", "filter", "bytes", "sse", "pixels",
                           "decode_seconds") if c not in (reader.fieldnames or [])]
    if missing:
        raise RcodecError(f"{path}: not a sweep table (missing columns {', '.join(missing)})")
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            rows.append({k: _TYPES.get(k, str)(v) for k, v in row.items()})
        except (TypeError, ValueError):
            raise RcodecError(f"{path}:{line}: malformed row") from None
    if not rows:
        raise RcodecError(f"{path}: the sweep table has no rows")
    return rows


def to_candidates(rows: Sequence[dict], objective: str = DEFAULT_OBJECTIVE,
                  ) -> tuple[Candidates, list[str]]:
    """The planner's arrays from sweep rows (the cost column is the objective's per-row
    loss, rcodec.optimize.objective), and the image names in index order."""
    names = sorted({row["image"] for row in rows})
    index = {name: i for i, name in enumerate(names)}
    candidates = Candidates(
        image=np.array([index[row["image"]] for row in rows], np.int64),
        bytes=np.array([row["bytes"] for row in rows], np.int64),
        sse=losses(rows, objective),
        decode_seconds=np.array([row["decode_seconds"] for row in rows], np.float64))
    return candidates, names


def total_pixels(rows: Sequence[dict]) -> int:
    return sum({row["image"]: row["pixels"] for row in rows}.values())


def plan_rows(rows: Sequence[dict], plan: Plan) -> list[dict]:
    """One row per image: the chosen candidate with its predicted error and time."""
    chosen = [rows[int(i)] for i in plan.choice]
    return [{"image": r["image"], "codec": r["codec"], "quantizer": r["quantizer"],
             "filter": r["filter"], "bytes": r["bytes"], "predicted_sse": r["sse"],
             "psnr": r.get("psnr"), "ms_ssim": r.get("ms_ssim"),
             "decode_seconds": r["decode_seconds"]} for r in chosen]


def plan_summary(rows: Sequence[dict], plan: Plan, max_bytes: int,
                 max_seconds: float | None, objective: str = DEFAULT_OBJECTIVE) -> dict:
    """Totals, budgets and the solver's proof of a plan, as JSON-ready values: `gap` is
    the solver's relative gap on the objective's loss, `gap_in_unit` what it proves in the
    objective's own unit (dB, or MS-SSIM), and `codecs` how many images each codec got."""
    chosen_rows = [rows[int(i)] for i in plan.choice]
    chosen = plan_rows(rows, plan)
    pixels = sum(r["pixels"] for r in chosen_rows)
    total_sse = sum(int(r["sse"]) for r in chosen_rows)
    mean = float(np.mean([r["psnr"] for r in chosen if r["psnr"] is not None]))
    codecs = {name: sum(r["codec"] == name for r in chosen_rows)
              for name in sorted({r["codec"] for r in chosen_rows})}
    return {
        "images": len(chosen), "pixels": pixels,
        "total_bytes": int(plan.total_bytes), "bpp": 8 * plan.total_bytes / pixels,
        "budget_bytes": max_bytes, "budget_bpp": 8 * max_bytes / pixels,
        "total_sse": total_sse,
        "pooled_psnr": psnr_from_sse(total_sse, 3 * pixels),
        "mean_psnr": mean,
        "mean_ms_ssim": float(np.mean([r["ms_ssim"] for r in chosen])),
        "decode_seconds": float(plan.total_seconds), "budget_decode_seconds": max_seconds,
        "objective": objective, "objective_value": score(chosen_rows, objective),
        "codecs": codecs,
        "solver": plan.method, "status": plan.status, "gap": float(plan.gap),
        "gap_in_unit": proved_gap(chosen_rows, objective, float(plan.total_sse),
                                  float(plan.lower_bound)),
        "lower_bound_sse": float(plan.lower_bound) if objective == DEFAULT_OBJECTIVE else None,
        "solve_seconds": float(plan.solve_seconds),
    }


__all__ = ["COLUMNS", "PLAN_COLUMNS", "plan_rows", "plan_summary", "read_sweep",
           "to_candidates", "total_pixels", "write_csv"]
