"""`rcodec challenge check`: does a submission keep the rules?

- size: every byte outside decoder/ (report.json included) within the cap;
- decoder: decoder/decode.py runs in a clean, isolated interpreter (own temporary working
  folder, minimal environment, `python -I`) within the wall-time and resident-memory limits;
- outputs: one PNG per original, of its size, in RGB.

Memory is the decoder's peak resident set size, polled while it runs (and killed past the
limit) and read exactly from the kernel when it exits.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from rcodec.challenge.pack import DECODER, IMAGES, REPORT, submission_bytes
from rcodec.codec.images import image_paths, image_shape
from rcodec.errors import RcodecError

DEFAULT_MEMORY_LIMIT = 8 * 2**30
DEFAULT_TIME_LIMIT = 3600.0
POLL_SECONDS = 0.02


@dataclasses.dataclass
class Rule:
    name: str
    passed: bool
    detail: str


@dataclasses.dataclass
class DecoderRun:
    returncode: int | None
    seconds: float
    peak_rss: int
    killed_for: str | None
    stderr: str


def _rss(pid: int) -> int:
    """Current resident set size of a process in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_decoder(sub_dir: Path, out_dir: Path, memory_limit: int, time_limit: float,
                ) -> DecoderRun:
    """Run SUB/decoder/decode.py on SUB/images into `out_dir` under the limits."""
    entry = (sub_dir / DECODER / "decode.py").resolve()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "HOME": str(out_dir.parent)}
    command = [sys.executable, "-I", str(entry), str((sub_dir / IMAGES).resolve()),
               "-o", str(out_dir.resolve())]
    with tempfile.TemporaryDirectory() as work, \
            tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
        killed_for, peak = None, 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _rss(process.pid))
            elapsed = time.perf_counter() - start
            if killed_for is None and (peak > memory_limit or elapsed > time_limit):
                killed_for = "memory" if peak > memory_limit else "time"
                process.kill()
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        peak = max(peak, usage.ru_maxrss * 1024)  # Linux reports kilobytes
        stderr.seek(0)
        message = stderr.read().decode(errors="replace").strip()
    return DecoderRun(process.returncode, seconds, peak, killed_for, message)


def _last_line(text: str) -> str:
    return text.splitlines()[-1] if text else "no message"


def check(sub_dir: Path, images: Path | Sequence[Path], cap: int | None = None,
          memory_limit: int = DEFAULT_MEMORY_LIMIT, time_limit: float = DEFAULT_TIME_LIMIT,
          decoded_dir: Path | None = None) -> list[Rule]:
    """Check every rule; the decoded PNGs go to `decoded_dir` (default: a temporary folder)."""
    sub_dir = Path(sub_dir)
    if not sub_dir.is_dir():
        raise RcodecError(f"{sub_dir}: no such submission folder")
    originals = image_paths(images)
    rules = []
    if cap is None:
        try:
            cap = int(json.loads((sub_dir / REPORT).read_text())["budget"]["bytes"])
        except (OSError, ValueError, KeyError, TypeError):
            raise RcodecError(f"{sub_dir / REPORT}: no readable byte cap; give --bytes or "
                              "--bpp") from None
    size = submission_bytes(sub_dir)
    rules.append(Rule("size", size <= cap, f"{size} bytes outside {DECODER}/ of a cap of "
                      f"{cap} ({cap - size:+d})"))
    with tempfile.TemporaryDirectory(prefix="rcodec-check-") as scratch:
        out_dir = Path(decoded_dir) if decoded_dir else Path(scratch) / "decoded"
        out_dir.mkdir(parents=True, exist_ok=True)
        if not (sub_dir / DECODER / "decode.py").is_file():
            rules.append(Rule("decoder", False, f"no {DECODER}/decode.py"))
        else:
            run = run_decoder(sub_dir, out_dir, memory_limit, time_limit)
            limits = (f"{run.seconds:.1f} s of {time_limit:g} s, peak memory "
                      f"{run.peak_rss / 2**20:.0f} MiB of {memory_limit / 2**20:.0f} MiB")
            if run.killed_for:
                rules.append(Rule("decoder", False, f"killed over its {run.killed_for} limit: "
                                  f"{limits}"))
            elif run.returncode != 0:
                rules.append(Rule("decoder", False, f"exit status {run.returncode}: "
                                  f"{_last_line(run.stderr)}"))
            else:
                rules.append(Rule("decoder", True, limits))
        rules.append(_check_outputs(originals, out_dir))
    return rules


def _check_outputs(originals: list[Path], out_dir: Path) -> Rule:
    problems = []
    for original in originals:
        png = out_dir / f"{original.stem}.png"
        if not png.is_file():
            problems.append(f"{png.name} missing")
            continue
        try:
            with Image.open(png) as image:
                size, mode, kind = image.size, image.mode, image.format
        except Exception as error:  # any unreadable file is a failed rule, not a crash
            problems.append(f"{png.name} unreadable ({error})")
            continue
        height, width = image_shape(original)
        if kind != "PNG" or mode != "RGB" or size != (width, height):
            problems.append(f"{png.name} is {kind} {mode} {size[0]}x{size[1]}, want PNG RGB "
                            f"{width}x{height}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                           if len(problems) > 5 else "")
        return Rule("outputs", False, shown)
    return Rule("outputs", True, f"{len(originals)} PNGs of the right size and mode")
