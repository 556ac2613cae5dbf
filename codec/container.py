"""The rcodec container: one post-filter selector byte, then a codec's bitstream.

Selector 0 means "no post-filter"; other values name networks of the model registry and are
never reused. The codec is told apart by the bitstream's own magic bytes (the codec
registry's `codec_for_bytes`).
"""

from __future__ import annotations

import dataclasses

from rcodec.codec import registry
from rcodec.codec.base import Codec
from rcodec.errors import FormatError

NO_FILTER = 0
SUFFIX = ".rcb"


@dataclasses.dataclass(frozen=True)
class Container:
    """A parsed container: which filter to apply after decoding, and the codec's bytes."""

    selector: int
    codec: str
    payload: bytes


def codec_name_for(payload: bytes) -> str:
    """Name the codec of a bitstream from its magic bytes."""
    return registry.codec_for_bytes(payload).name


def codec_by_name(name: str) -> Codec:
    """A codec instance with default options for decoding."""
    return registry.make_codec(name)


def pack(selector: int, payload: bytes) -> bytes:
    """Prefix a codec bitstream with its post-filter selector byte."""
    if not 0 <= selector <= 255:
        raise ValueError(f"selector {selector} does not fit in one byte")
    codec_name_for(payload)
    return bytes([selector]) + payload


def unpack(data: bytes, known_selectors: frozenset[int] | set[int] = frozenset()) -> Container:
    """Split a container, refusing unknown selectors and unknown bitstreams."""
    if len(data) < 2:
        raise FormatError("truncated container")
    selector = data[0]
    if selector != NO_FILTER and selector not in known_selectors:
        raise FormatError(f"unknown post-filter selector {selector}")
    payload = data[1:]
    return Container(selector, codec_name_for(payload), payload)
