"""The codec registry: every codec rcodec encodes and decodes, by name and by magic bytes.

Like Pillow's format registry, it is a table, not a chain of `if name == ...`: a codec module
defines one `Codec` subclass and registers it with one call, and everything above this layer
(the container, the decode pipeline, training pairs, calibration, the sweep, the CLI's
`--codec` choices) asks the registry. Adding a codec is one module plus one line here.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

from PIL import Image

from rcodec.codec.avif import AvifCodec
from rcodec.codec.base import Codec
from rcodec.codec.bpg import BpgCodec
from rcodec.codec.j2k import J2kCodec
from rcodec.codec.jpeg import JpegCodec
from rcodec.codec.jxl import JxlCodec
from rcodec.codec.limits import ENV as PIXEL_CAP_ENV
from rcodec.codec.webp import WebpCodec
from rcodec.errors import FormatError, RcodecError

#: What the commands and the API use when no codec is named.
DEFAULT_CODEC = "bpg"

_CODECS: dict[str, type[Codec]] = {}


def register(codec: type[Codec]) -> type[Codec]:
    """Add a codec class under its `name` (usable as a class decorator)."""
    if codec.name in _CODECS and _CODECS[codec.name] is not codec:
        raise RcodecError(f"codec name {codec.name!r} is registered twice")
    _CODECS[codec.name] = codec
    return codec


def names() -> tuple[str, ...]:
    """Registered codec names, in registration order."""
    return tuple(_CODECS)


def codec_class(name: str) -> type[Codec]:
    """The codec class registered as `name`."""
    try:
        return _CODECS[name]
    except KeyError:
        raise RcodecError(f"unknown codec {name!r} (choose from {', '.join(_CODECS)})") from None


def make_codec(name: str, **options: Any) -> Codec:
    """A codec by name with encoder options: those it declares and that are not None (an
    option of another codec, e.g. BPG's level for JPEG, is ignored), and `threads` where
    its coder takes a thread count (the bytes and pixels never depend on it)."""
    cls = codec_class(name)
    own = {option.name for option in cls.options}
    if "threads" in inspect.signature(cls).parameters:  # (codecs with a threaded coder)
        own.add("threads")
    return cls(**{k: v for k, v in options.items() if k in own and v is not None})


def codec_for_bytes(data: bytes) -> type[Codec]:
    """The codec whose magic bytes start `data`."""
    for cls in _CODECS.values():
        if cls.accepts(bytes(data[: cls.sniff_bytes])):
            return cls
    raise FormatError(f"unknown bitstream (not {', '.join(_CODECS)})")


def codec_for_suffix(suffix: str) -> type[Codec] | None:
    """The codec whose plain files end in `suffix` (case-insensitive), if any."""
    for cls in _CODECS.values():
        if suffix.lower() in cls.suffixes:
            return cls
    return None


def quantizer_of(data: bytes) -> int | None:
    """The quantizer a bitstream was coded at, when its codec can tell."""
    return codec_for_bytes(data).bitstream_quantizer(data)


def set_pixel_cap(pixels: int) -> None:
    """Cap every format at `pixels` in this process and in the workers it starts later:
    each codec module's MAX_IMAGE_PIXELS and Pillow's (for input images)."""
    os.environ[PIXEL_CAP_ENV] = str(pixels)
    for cls in _CODECS.values():
        module = sys.modules[cls.__module__]
        if hasattr(module, "MAX_IMAGE_PIXELS"):
            module.MAX_IMAGE_PIXELS = pixels
    Image.MAX_IMAGE_PIXELS = pixels


# The built-in codecs, in the order `names()` lists them. (Codec modules import only base and
# limits, never this module, so the table is filled here in one place.)
for _codec in (BpgCodec, JpegCodec, AvifCodec, WebpCodec, JxlCodec, J2kCodec):
    register(_codec)
