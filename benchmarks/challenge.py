"""Pack + check + score of a challenge-style set, timed.

  python benchmarks/challenge.py IMAGES_DIR [--bpp 0.15] [--work DIR]
  python benchmarks/challenge.py --make-set SRC_DIR OUT_DIR [--count 24]

The target is 24 photographs of 768x512 at 0.15 bpp in under 5 minutes with the default CPU
filters. `--make-set` builds such a set from larger-or-smaller photographs (e.g. bsds500 val,
481x321): each is scaled by the smallest factor that covers 768x512 (Lanczos) and
centre-cropped, so the pixel count, and hence the work, is that of a 768x512 photo set.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image

from rcodec.cli import main as rcodec
from rcodec.codec.images import list_images

WIDTH, HEIGHT = 768, 512


def make_set(source: Path, target: Path, count: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in list_images(source)[:count]:
        image = Image.open(path).convert("RGB")
        if image.height > image.width:
            image = image.transpose(Image.Transpose.ROTATE_90)
        scale = max(WIDTH / image.width, HEIGHT / image.height)
        size = (max(WIDTH, round(image.width * scale)), max(HEIGHT, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        left, top = (size[0] - WIDTH) // 2, (size[1] - HEIGHT) // 2
        image.crop((left, top, left + WIDTH, top + HEIGHT)).save(target / f"{path.stem}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, nargs="?")
    parser.add_argument("--bpp", default="0.15")
    parser.add_argument("--work", type=Path, help="keep the submission here")
    parser.add_argument("--make-set", nargs=2, type=Path, metavar=("SRC", "OUT"))
    parser.add_argument("--count", type=int, default=24)
    args = parser.parse_args()
    if args.make_set:
        make_set(*args.make_set, args.count)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="rcodec-challenge-"))
    sub, decoded = work / "sub", work / "decoded"
    shutil.rmtree(decoded, ignore_errors=True)
    steps = {
        "pack": ["challenge", "pack", str(args.images), "--bpp", args.bpp, "-o", str(sub),
                 "--cache", str(work / "cache")],
        "check": ["challenge", "check", str(sub), "--images", str(args.images), "--decoded",
                  str(decoded)],
        "score": ["challenge", "score", str(decoded), str(args.images), "--compressed",
                  str(sub / "images")],
    }
    total = 0.0
    for name, argv in steps.items():
        start = time.perf_counter()
        code = rcodec(argv)
        seconds = time.perf_counter() - start
        total += seconds
        print(f"--- {name}: {seconds:.1f} s (exit {code})", flush=True)
    print(f"pack + check + score: {total:.1f} s ({total / 60:.2f} min; target 5 min)")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
