"""Sizes and durations as people write them on a command line: 2G, 512MB, 45h, 90s."""

from __future__ import annotations

import argparse
import math
import re

_BYTE_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20,
               "mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40,
               "tib": 2**40}
_SECOND_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def _parse(text: str, units: dict[str, int], what: str) -> float:
    match = _NUMBER.match(str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in units:
        names = ", ".join(u for u in units if u)
        raise ValueError(f"cannot read {what} {text!r} (a number with an optional unit: "
                         f"{names})")
    return float(match.group(1)) * units[unit]


def parse_bytes(text: str) -> int:
    """'2G', '512MB', '1.5GiB' or a plain byte count; powers of 1024."""
    return int(_parse(text, _BYTE_UNITS, "a size"))


def format_bytes(count: int) -> str:
    """A byte count as parse_bytes reads it back, rounded up to one decimal: '156.3M'."""
    for unit, size in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if count >= size:
            return f"{math.ceil(count / size * 10) / 10:g}{unit}"
    return str(count)


def parse_seconds(text: str) -> float:
    """'45h', '90min', '30s', '2d' or plain seconds."""
    return _parse(text, _SECOND_UNITS, "a duration")


def _argparse_type(parse, name: str):
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = name  # argparse names the type in its error messages
    return convert


#: argparse `type=` converters.
size_argument = _argparse_type(parse_bytes, "size")
duration_argument = _argparse_type(parse_seconds, "duration")


def parse_count(text: str) -> int:
    """A positive whole number."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"cannot read {text!r} (a positive whole number)")
    return value


def parse_jobs(text: str) -> int:
    """Parallel workers: a positive count, or -1 for all cores (-2 all but one, ...)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = 0
    if value == 0:
        raise ValueError(f"cannot read a worker count {text!r} (a positive number, or -1 for "
                         "all cores)")
    return value


def parse_quantizers(text: str) -> list[int]:
    """'38:42' (inclusive), '30:50:2' (with a step) or '30,35,40': sorted, each once."""
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            start, stop = parts[0], parts[1]
            stride = parts[2] if len(parts) > 2 else 1
            if len(parts) > 3 or stride <= 0:
                raise ValueError
            return list(range(min(start, stop), max(start, stop) + 1, stride))
        return sorted({int(p) for p in text.split(",")})
    except (ValueError, IndexError):
        raise ValueError(f"cannot read quantizers {text!r} (use 38:42, 30:50:2 or "
                         "30,35)") from None


quantizers_argument = _argparse_type(parse_quantizers, "quantizers")
count_argument = _argparse_type(parse_count, "count")
jobs_argument = _argparse_type(parse_jobs, "jobs")
