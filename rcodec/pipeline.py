"""Whole-file encode and decode for every output kind: plain BPG, plain JPEG, the container."""

from __future__ import annotations

import numpy as np

from codec import container
from codec.base import Codec
from codec.bpg import MAGIC as BPG_MAGIC
from codec.bpg import BpgCodec, decode_bpg
from codec.jpeg import JpegCodec
from postfilter import registry
from rcodec.errors import RcodecError

SUFFIX_KIND = {".bpg": "bpg", ".jpg": "jpeg", ".jpeg": "jpeg", ".rcb": "container"}


def make_codec(name: str, **options: object) -> Codec:
    """A codec by name with encoder options (only those that apply to it)."""
    if name == "bpg":
        allowed = {"level", "pixel_format", "bit_depth", "color_space", "limited_range",
                   "threads"}
        return BpgCodec(**{k: v for k, v in options.items() if k in allowed and v is not None})
    if name == "jpeg":
        allowed = {"subsampling", "optimize", "progressive"}
        return JpegCodec(**{k: v for k, v in options.items() if k in allowed and v is not None})
    raise RcodecError(f"unknown codec {name!r} (bpg or jpeg)")


def decode_bytes(data: bytes, *, threads: int | None = None,
                 max_memory: int | None = None) -> np.ndarray:
    """Decode a .bpg, .jpg or .rcb file's bytes to the image the user sees (filter applied).

    `threads` and `max_memory` bound the post-filter's CPU threads and activation memory."""
    if data.startswith(BPG_MAGIC):
        return decode_bpg(data)
    if data.startswith(JpegCodec.magic):
        return JpegCodec().decode(data)
    parsed = container.unpack(data, registry.known_selectors())
    decoded = container.codec_by_name(parsed.codec).decode(parsed.payload)
    if parsed.selector == container.NO_FILTER:
        return decoded
    from postfilter.inference import apply_filter

    return apply_filter(registry.find(parsed.selector), decoded, parsed.payload,
                        threads=threads, max_memory=max_memory)
