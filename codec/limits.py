"""Pixel caps: the largest image the readers and decoders here will allocate memory for.

Each format keeps its own cap as a module attribute (rcodec.codec.bpg, rcodec.codec.jpeg, ...,
and Pillow's for input images). `rcodec --max-pixels N` or $RCODEC_MAX_PIXELS sets them all
for a run (`rcodec.codec.registry.set_pixel_cap`); worker processes read the variable when
they import the codecs, so they follow the same cap.
"""

from __future__ import annotations

import os

from rcodec.errors import FormatError, RcodecError

ENV = "RCODEC_MAX_PIXELS"

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_pixels(text: str) -> int:
    """'250M', '1.5G', '40000000': a positive pixel count (decimal suffixes)."""
    body = text.strip().lower()
    suffix = body[-1:] if body[-1:] in ("k", "m", "g") else ""
    try:
        value = float(body[: len(body) - len(suffix)]) * _SUFFIXES[suffix]
    except ValueError:
        raise RcodecError(f"cannot read pixel count {text!r} (use e.g. 250M)") from None
    if not 1 <= value < 2**62:
        raise RcodecError(f"pixel count {text!r} is out of range")
    return int(value)


def pixel_cap(default: int) -> int:
    """$RCODEC_MAX_PIXELS when set, else `default`."""
    text = os.environ.get(ENV)
    return default if not text else parse_pixels(text)


def check_pixel_cap(width: int, height: int, cap: int, owner: str) -> None:
    """Refuse a width x height picture over `cap` pixels, before anything is allocated for
    it; `owner` is the module whose MAX_IMAGE_PIXELS the cap is (named in the error)."""
    if width * height > cap:
        raise FormatError(f"{width}x{height} exceeds the pixel cap of {cap} "
                          f"({owner}.MAX_IMAGE_PIXELS)")
