"""What a plan maximises: the score users report, as a per-image loss the planner minimises.

- "pooled-psnr" (the CLIC rule): PSNR of the total squared error over every RGB sample of
  the set; the loss is each image's squared error.
- "mean-psnr" (CompressAI and most papers): the mean of per-image PSNR; the loss is the
  image's PSNR below the best any of its candidates reaches.
- "ms-ssim": the mean of per-image MS-SSIM; the loss is 1 - MS-SSIM.

Each is a sum over images of something fixed per (image, candidate), so the ILP and the
Lagrangian path optimise it exactly, and their proved bound on the total loss becomes a
proved gap in the objective's own unit (dB, or MS-SSIM).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rcodec.errors import RcodecError
from rcodec.metrics import psnr_from_sse

OBJECTIVES = ("pooled-psnr", "mean-psnr", "ms-ssim")
DEFAULT = "pooled-psnr"
#: PSNR of a lossless candidate (an infinite PSNR would make the mean meaningless).
LOSSLESS_PSNR = 100.0


def check(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise RcodecError(f"unknown objective {objective!r} (choose from "
                          f"{', '.join(OBJECTIVES)})")
    return objective


def row_psnr(row: dict) -> float:
    return min(psnr_from_sse(int(row["sse"]), 3 * int(row["pixels"])), LOSSLESS_PSNR)


def losses(rows: Sequence[dict], objective: str) -> np.ndarray:
    """Each row's loss (>= 0): squared error (an int64 array, kept exact), or a float."""
    check(objective)
    if objective == "pooled-psnr":
        return np.array([row["sse"] for row in rows], np.int64)
    if objective == "ms-ssim":
        return np.array([max(0.0, 1.0 - float(row["ms_ssim"])) for row in rows], np.float64)
    psnr = np.array([row_psnr(row) for row in rows], np.float64)
    best: dict[str, float] = {}
    for row, value in zip(rows, psnr, strict=True):
        best[row["image"]] = max(best.get(row["image"], -math.inf), value)
    return np.array([best[row["image"]] - value for row, value in zip(rows, psnr, strict=True)])


def score(chosen: Sequence[dict], objective: str) -> float:
    """The objective's value for one row per image."""
    check(objective)
    if objective == "pooled-psnr":
        pixels = sum(int(row["pixels"]) for row in chosen)
        return psnr_from_sse(sum(int(row["sse"]) for row in chosen), 3 * pixels)
    if objective == "ms-ssim":
        return float(np.mean([float(row["ms_ssim"]) for row in chosen]))
    return float(np.mean([row_psnr(row) for row in chosen]))


def proved_gap(chosen: Sequence[dict], objective: str, total_loss: float,
               lower_bound: float) -> float:
    """How far the optimum can be above the plan's score, in the objective's unit: dB for
    the PSNRs, MS-SSIM for "ms-ssim" (from the solver's proved lower bound on the loss)."""
    check(objective)
    if objective == "pooled-psnr":
        if lower_bound <= 0:
            return math.inf if total_loss > 0 else 0.0
        return 10 * math.log10(total_loss / lower_bound)
    return max(0.0, total_loss - lower_bound) / len(chosen)


def default_tune(objective: str) -> str:
    """The encoder tuning that suits an objective (for codecs with a tune option)."""
    return "ssim" if check(objective) == "ms-ssim" else "psnr"
