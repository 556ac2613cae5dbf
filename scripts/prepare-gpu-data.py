"""Pairs for training on a GPU machine that has no PyAV (x265) of its own.

  python scripts/prepare-gpu-data.py [--out gpu-data] [--qp 40] [--budget-mib 40]
      [--train DIR ...] [--val DIR] [--val-images 30] [--jobs -1]

Copies training photographs (default: bsds500 train+test beside the checkout) into OUT/train
and their decodes through rcodec's BPG at the QP into OUT/train-bpg-q<QP>/<stem>.webp
(lossless), as many as fit the byte budget, and the first validation photographs likewise
into OUT/val and OUT/val-bpg-q<QP>. `rcodec train --decoded OUT/train-bpg-q{q}` then reads
those decodes instead of running the codec. The folder is meant to travel with the working
tree (ignored by git, named in the call's carry): the whole tree may carry 64 MiB, of which
the checkout takes about 13 with its shipped weights parked (scripts/device-tree.py; with
them it is over 250).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from joblib import Parallel, delayed
from PIL import Image

from rcodec.codec import registry
from rcodec.codec.hevc import libavcodec_version
from rcodec.codec.images import list_images, read_rgb
from rcodec.version import __version__

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bsds500"
#: What the pairs may take of the 64 MiB a device call carries: about 190 training photographs
#: (the parked checkout takes 12.4 MiB; tests/postfilter/test_train_gpu.py keeps the sum in).
DEFAULT_BUDGET_MIB = 40.0


def decode_as_webp(path: Path, qp: int) -> bytes:
    codec = registry.make_codec("bpg")
    decoded = codec.decode(codec.encode(read_rgb(path), qp))
    out = io.BytesIO()
    Image.fromarray(decoded).save(out, "WEBP", lossless=True, quality=100, method=4)
    return out.getvalue()


def fill(sources: list[Path], images: Path, decodes: Path, qp: int, budget: int,
         jobs: int) -> tuple[int, int]:
    """Copy sources and write their decodes until `budget` bytes are used; (count, bytes)."""
    images.mkdir(parents=True, exist_ok=True)
    decodes.mkdir(parents=True, exist_ok=True)
    used = count = 0
    batch = 16
    for start in range(0, len(sources), batch):
        chunk = sources[start : start + batch]
        for path, webp in zip(chunk, Parallel(n_jobs=jobs)(delayed(decode_as_webp)(p, qp)
                                                          for p in chunk), strict=True):
            size = path.stat().st_size + len(webp)
            if used + size > budget:
                return count, used
            shutil.copyfile(path, images / path.name)
            (decodes / f"{path.stem}.webp").write_bytes(webp)
            used, count = used + size, count + 1
    return count, used


def fetch_wheels(folder: Path) -> None:
    """The pure-Python packages rcodec's training needs that the GPU image lacks, at the
    versions installed here (carried as wheels, installed there without an index)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [f"{name}=={metadata.version(name)}" for name in ("pytorch-msssim",)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "-d", str(folder), *wanted], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-data"))
    parser.add_argument("--qp", type=int, default=40)
    parser.add_argument("--budget-mib", type=float, default=DEFAULT_BUDGET_MIB)
    parser.add_argument("--train", type=Path, nargs="*",
                        default=[SHARED / "train", SHARED / "test"])
    parser.add_argument("--val", type=Path, default=SHARED / "val")
    parser.add_argument("--val-images", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--wheels", type=Path, default=Path(".whl"),
                        help="where to put the wheels that machine lacks (pytorch-msssim)")
    args = parser.parse_args()
    fetch_wheels(args.wheels)
    if args.out.exists():
        shutil.rmtree(args.out)
    budget = int(args.budget_mib * 2**20)
    val_sources = list_images(args.val)[: args.val_images]
    val_count, val_bytes = fill(val_sources, args.out / "val",
                                args.out / f"val-bpg-q{args.qp}", args.qp, budget, args.jobs)
    train_sources = [p for folder in args.train for p in list_images(folder)]
    count, used = fill(train_sources, args.out / "train", args.out / f"train-bpg-q{args.qp}",
                       args.qp, budget - val_bytes, args.jobs)
    (args.out / "README.txt").write_text(
        f"Made by scripts/prepare-gpu-data.py with rcodec {__version__}, libavcodec "
        f"{libavcodec_version()}: {count} training and {val_count} validation photographs "
        f"with their BPG decodes at qp {args.qp} (lossless WebP), "
        f"{(used + val_bytes) / 2**20:.1f} MiB.\n")
    print((args.out / "README.txt").read_text().strip())


if __name__ == "__main__":
    main()
