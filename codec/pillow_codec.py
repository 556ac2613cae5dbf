"""What the codecs that Pillow encodes and decodes (WebP, AVIF, JPEG 2000) share.

Each format module defines a `PillowCodec` with its Pillow format name and plugin class, the
save options its quantizer maps to, and a header reader that finds the picture size without
decoding. Decoding reads that size first and refuses anything over the format's pixel cap
before Pillow allocates a pixel, opens the bytes with the format's own plugin class (never
by sniffing, and without Pillow's global decompression-bomb limit overruling the cap), and
turns any failure of a damaged file into a FormatError.
"""

from __future__ import annotations

import importlib
import io
import sys
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageFile

from rcodec.codec.base import Codec, check_image_array
from rcodec.codec.limits import check_pixel_cap
from rcodec.errors import EncodeError, FormatError


class PillowCodec(Codec):
    """A codec whose encoder and decoder are a Pillow plugin's."""

    pillow_format: ClassVar[str]
    #: The plugin's image class, "module:class", imported on use: a Pillow built without
    #: one format (AVIF came in 11.2) still imports rcodec and every other codec.
    plugin: ClassVar[str]
    #: Largest side the format stores.
    max_side: ClassVar[int] = 65535

    @abstractmethod
    def save_options(self, quantizer: int, gray: bool) -> dict[str, Any]:
        """Pillow's save keywords for this quantizer."""

    @classmethod
    @abstractmethod
    def picture_size(cls, data: bytes) -> tuple[int, int]:
        """(width, height) from the header; FormatError when there is none."""

    @classmethod
    def image_file(cls) -> type[ImageFile.ImageFile]:
        module, name = cls.plugin.split(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            raise FormatError(f"this Pillow cannot read {cls.format_name} ({cls.plugin} is "
                              "missing)") from None

    @classmethod
    def max_pixels(cls) -> int:
        """The format module's MAX_IMAGE_PIXELS (set by `rcodec --max-pixels`)."""
        return int(sys.modules[cls.__module__].MAX_IMAGE_PIXELS)

    @classmethod
    def checked_size(cls, data: bytes) -> tuple[int, int]:
        width, height = cls.picture_size(data)
        if width < 1 or height < 1:
            raise FormatError(f"{cls.format_name} header claims a {width}x{height} picture")
        check_pixel_cap(width, height, cls.max_pixels(), cls.__module__)
        return width, height

    def encode(self, image: np.ndarray, quantizer: int) -> bytes:
        quantizer = self.check_quantizer(quantizer)
        picture = _picture(image, self.format_name, self.max_side)
        out = io.BytesIO()
        try:
            picture.save(out, self.pillow_format,
                         **self.save_options(quantizer, picture.mode == "L"))
        except (OSError, ValueError) as error:
            raise EncodeError(f"{self.format_name} encode failed: {error}") from None
        return out.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        """HxWx3 uint8 RGB, or HxW for a gray picture; alpha is dropped."""
        width, height = self.checked_size(bytes(data))
        try:
            picture = self.image_file()(io.BytesIO(bytes(data)))
            if picture.size != (width, height):
                raise FormatError(f"{self.format_name}: the header and the picture disagree "
                                  f"on its size")
            picture.load()
            if picture.mode not in ("L", "RGB"):
                picture = picture.convert("RGB")
            return np.asarray(picture, dtype=np.uint8)
        except FormatError:
            raise
        except Exception as error:  # Pillow raises many types on damaged data
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise FormatError(f"cannot decode {self.format_name}: {message}") from None

    @classmethod
    def info(cls, data: bytes) -> dict[str, Any]:
        width, height = cls.checked_size(bytes(data))
        return {"width": width, "height": height, "bytes": len(data)}


def _picture(image: np.ndarray, name: str, max_side: int) -> Image.Image:
    check_image_array(image, name)
    height, width = image.shape[:2]
    if not (1 <= width <= max_side and 1 <= height <= max_side):
        raise EncodeError(f"{name} sides must be 1..{max_side} pixels, got {width}x{height}")
    return Image.fromarray(np.ascontiguousarray(image), "L" if image.ndim == 2 else "RGB")

