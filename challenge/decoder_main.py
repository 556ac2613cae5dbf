"""The decoder of a challenge submission: every container file to a full-resolution PNG.

  python decoder/decode.py [INPUT ...] [-o OUT_DIR] [--threads N] [--max-memory SIZE]

INPUT: container files or folders of them (default: the submission's images/ folder). Each
PNG is written next to its input, or into OUT_DIR, named after the input. Images are decoded
one at a time with every core on the post-filter: the regime `rcodec calibrate` times.
This module is copied into each submission with the rest of the decode path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rcodec.codec.images import read_bytes, write_png
from rcodec.errors import RcodecError, in_file
from rcodec.postfilter.pipeline import decode_bytes
from rcodec.units import size_argument

CONTAINER_SUFFIX = ".rcb"


def container_files(inputs: list[Path]) -> list[Path]:
    """The container files named, and those inside the folders named, sorted."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(sorted(item.glob(f"*{CONTAINER_SUFFIX}")))
        elif item.is_file():
            files.append(item)
        else:
            raise RcodecError(f"{item}: no such file or folder")
    if not files:
        raise RcodecError(f"no {CONTAINER_SUFFIX} files in {', '.join(map(str, inputs))}")
    return files


def decode_all(files: list[Path], out_dir: Path | None, threads: int | None = None,
               max_memory: int | None = None) -> list[Path]:
    """Decode each file to PNG (atomically); return the PNG paths."""
    outputs = []
    for source in files:
        try:
            image = decode_bytes(read_bytes(source), threads=threads, max_memory=max_memory)
        except RcodecError as error:
            raise in_file(source, error) from None
        target = (out_dir or source.parent) / f"{source.stem}.png"
        write_png(target, image)
        outputs.append(target)
    return outputs


def main(argv: list[str] | None = None, default_input: Path | None = None) -> int:
    parser = argparse.ArgumentParser(prog="decode", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", type=Path, help="container files or folders")
    parser.add_argument("-o", "--output", type=Path, help="folder for the PNGs")
    parser.add_argument("--threads", type=int, help="post-filter threads (default: all cores)")
    parser.add_argument("--max-memory", type=size_argument,
                        help="post-filter activation memory, e.g. 2G")
    args = parser.parse_args(argv)
    inputs = args.inputs or ([default_input] if default_input else [])
    try:
        if not inputs:
            raise RcodecError("name the container files or folders to decode")
        if args.output:
            args.output.mkdir(parents=True, exist_ok=True)
        outputs = decode_all(container_files(inputs), args.output, args.threads,
                             args.max_memory)
    except RcodecError as error:
        print(f"decode: error: {error}", file=sys.stderr)
        return 1
    print(f"decoded {len(outputs)} images")
    return 0
