"""Start-up cost of codec-only commands: `rcodec decode x.bpg -o x.png` beside a reference.

  python benchmarks/cli.py [--image PNG] [--qp 38] [--repeats 15]

Times, side by side and interleaved (so that a busy machine slows all alike), the wall time
of whole commands decoding one 768x512 BPG to PNG: rcodec's, the reference `bpgdec` when it
is on PATH, and FFmpeg's own command line on the very same HEVC bitstream (the decoder inside
both bpgdec and rcodec, plus its PNG writer), with the interpreter's own floor. Prints
medians and the ratios, and the floor that any Python front end pays here (the interpreter
plus importing NumPy, PyAV and Pillow); also checks that the decode imports no torch
(`python -X importtime`).
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rcodec as package
from rcodec.codec import bpg, hevc
from rcodec.codec.images import read_rgb

DEFAULT_IMAGE = Path(__file__).parent.parent / "tests" / "data" / "bpg" / "coffee768x512.png"


def annexb(data: bytes) -> bytes:
    """The BPG file's colour picture as a plain HEVC stream (parameter sets included)."""
    stream = bpg.parse_bpg(data)
    header = stream.header
    sets = hevc.parameter_sets(stream.color_header, header.width, header.height,
                               header.chroma_format_idc, header.bit_depth)
    return sets + b"".join(b"\x00\x00\x01" + nal for nal in stream.color_nals)


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def imports_torch(command: list[str]) -> bool:
    done = subprocess.run([sys.executable, "-X", "importtime", *command], check=True,
                          capture_output=True, text=True)
    return any(line.rsplit("|", 1)[-1].strip().split(".")[0] == "torch"
               for line in done.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--qp", type=int, default=38)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rcodec-cli-"))
    try:
        data = bpg.encode_bpg(read_rgb(args.image), qp=args.qp)
        (work / "x.bpg").write_bytes(data)
        (work / "x.hevc").write_bytes(annexb(data))
        rcodec = [sys.executable, "-m", "rcodec", "decode", str(work / "x.bpg"), "-o",
                  str(work / "rcodec.png")]
        # A wheel install compiles the package's bytecode; an editable one under
        # PYTHONDONTWRITEBYTECODE would recompile every module on every start.
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)
        commands = {"rcodec decode": rcodec,
                    "python (no imports)": [sys.executable, "-c", "pass"],
                    "python + numpy, av, PIL": [sys.executable, "-c",
                                                "import numpy, av, PIL.Image"]}
        if shutil.which("bpgdec"):
            commands["bpgdec"] = ["bpgdec", "-o", str(work / "bpgdec.png"), str(work / "x.bpg")]
        if shutil.which("ffmpeg"):
            commands["ffmpeg (same HEVC)"] = [
                "ffmpeg", "-v", "error", "-y", "-threads", "1", "-i", str(work / "x.hevc"),
                "-frames:v", "1", str(work / "ffmpeg.png")]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():
            wall(command)  # warm the page cache
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(wall(command))
        median = {name: statistics.median(values) for name, values in times.items()}
        print(f"{args.image.name} at qp {args.qp}: {len(data)} bytes; medians of "
              f"{args.repeats} interleaved runs")
        for name, seconds in median.items():
            print(f"  {name:<22} {seconds * 1000:7.1f} ms")
        for reference in ("bpgdec", "ffmpeg (same HEVC)"):
            if reference in median:
                print(f"  rcodec / {reference}: {median['rcodec decode'] / median[reference]:.2f}x")
        print(f"  imports torch: {imports_torch(rcodec[1:])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
