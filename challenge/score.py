"""`rcodec challenge score`: the CLIC metrics of a decoded set.

PSNR from the total squared error over all RGB samples of the set; MS-SSIM both as the plain
mean over images and weighted by pixels; bits per pixel from the compressed files when known.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rcodec import metrics
from rcodec.codec.images import image_paths
from rcodec.optimize.job import score_decoded

#: What a compressed file may be called.
COMPRESSED_SUFFIXES = (".rcb", ".bpg", ".jpg", ".jpeg")


def compressed_bytes(folder: Path, stems: set[str]) -> int | None:
    """Bytes of the compressed files of these images in `folder`, or None if any is missing."""
    total = 0
    for stem in stems:
        found = [folder / f"{stem}{suffix}" for suffix in COMPRESSED_SUFFIXES
                 if (folder / f"{stem}{suffix}").is_file()]
        if not found:
            return None
        total += found[0].stat().st_size
    return total


def score(decoded_dir: Path, images: Path | Sequence[Path], compressed_dir: Path | None = None,
          total_bytes: int | None = None) -> dict:
    """CLIC metrics of the PNGs in `decoded_dir` against the originals `images` (a folder or files).

    bpp counts `total_bytes` when given, else the compressed files (<stem>.rcb, .bpg, .jpg)
    found in `compressed_dir` or, failing that, in `decoded_dir` itself.
    """
    per_image = score_decoded(image_paths(images), decoded_dir)
    pixels = sum(r["pixels"] for r in per_image)
    stems = {Path(r["image"]).stem for r in per_image}
    if total_bytes is None:
        for folder in filter(None, (compressed_dir, decoded_dir)):
            total_bytes = compressed_bytes(Path(folder), stems)
            if total_bytes is not None:
                break
    weights = np.array([r["pixels"] for r in per_image], dtype=np.float64)
    ssims = np.array([r["ms_ssim"] for r in per_image])
    total_sse = sum(r["sse"] for r in per_image)
    return {"images": len(per_image), "pixels": pixels, "total_sse": total_sse,
            "psnr": metrics.pooled_psnr(total_sse, 3 * pixels),
            "ms_ssim_mean": float(ssims.mean()),
            "ms_ssim_pixel_weighted": float((ssims * weights).sum() / weights.sum()),
            "bytes": total_bytes,
            "bpp": None if total_bytes is None else 8 * total_bytes / pixels,
            "per_image": per_image}
