"""One interface every codec implements, so the sweep, planner and CLI never branch on codec."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from rcodec.errors import EncodeError


@dataclasses.dataclass(frozen=True)
class CodecOption:
    """An encoder option: the codec constructor's keyword, its command-line spelling, and
    what it takes. Options of different codecs may share a flag (`--format` is BPG's chroma
    format and JPEG's subsampling); each codec reads the flag as its own option."""

    name: str
    flag: str
    help: str
    type: type = str
    choices: tuple[Any, ...] | None = None
    #: Part of what the sweep varies per run (`rcodec sweep --level`), not only `encode`'s.
    sweep: bool = False


def check_image_array(image: np.ndarray, name: str) -> None:
    """Refuse anything but an HxWx3 RGB or HxW gray uint8 array, naming the format."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise EncodeError(f"{name} encode needs a uint8 numpy array")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise EncodeError(f"{name} encode needs HxWx3 RGB or HxW gray, got shape {image.shape}")


class Codec(ABC):
    """An image codec with one integer quantizer (BPG qp, JPEG quality, ...).

    `encode` takes an HxWx3 (or HxW gray) uint8 array and returns the codec's own bitstream;
    `decode` returns the uint8 RGB (or gray) array the codec's reference decoder would output,
    the same pixels for the same bytes on every call and thread count.
    """

    name: ClassVar[str]
    #: How `rcodec info` names the format ("BPG", "JPEG").
    format_name: ClassVar[str]
    description: ClassVar[str]
    quantizer_name: ClassVar[str]
    quantizer_range: ClassVar[tuple[int, int]]
    #: True when a larger quantizer value means fewer bytes (BPG qp); False for JPEG quality.
    quantizer_lowers_rate: ClassVar[bool]
    #: The quantizer `rcodec encode` uses when none is given.
    default_quantizer: ClassVar[int]
    #: A quantizer in the middle of the useful range: where the sweep's search for a target
    #: rate starts, and where calibration times the decoder.
    typical_quantizer: ClassVar[int]
    magic: ClassVar[bytes]
    #: File suffixes of plain files of this codec, the first the one rcodec writes.
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: Encoder options, with their command-line spelling.
    options: ClassVar[tuple[CodecOption, ...]] = ()
    #: Side of the block grid the codec codes on, when it is fixed (JPEG's 8x8); crops that
    #: keep its artefacts where they were start on it. 1: no fixed grid.
    block_grid: ClassVar[int] = 1
    #: Bytes enough to tell this codec's files apart (see `accepts`).
    sniff_bytes: ClassVar[int] = 16
    #: Modules its decoder imports on first use (a submission's decoder must carry them).
    decode_requires: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def encode(self, image: np.ndarray, quantizer: int) -> bytes: ...

    @abstractmethod
    def decode(self, data: bytes) -> np.ndarray: ...

    @classmethod
    def decode_image(cls, data: bytes) -> np.ndarray:
        """What a plain file of this codec decodes to for the user (`rcodec decode x.bpg`):
        `decode`'s pixels with default options, or more where the format has more (BPG
        keeps its alpha)."""
        return cls().decode(data)

    @classmethod
    def accepts(cls, prefix: bytes) -> bool:
        """Whether a bitstream starting with `prefix` is this codec's (Pillow's `_accept`)."""
        return prefix.startswith(cls.magic)

    @classmethod
    def info(cls, data: bytes) -> dict[str, Any]:
        """Header fields for `rcodec info`; raises FormatError on a malformed header."""
        return {"bytes": len(data)}

    @classmethod
    def bitstream_quantizer(cls, data: bytes) -> int | None:
        """The quantizer a file was coded at, read back from it (what quantizer-conditioned
        post-filters are told); None when the file does not say."""
        return None

    @classmethod
    def samples(cls, image: Image.Image) -> np.ndarray:
        """The array `encode` takes for a Pillow image: gray stays gray, anything else RGB."""
        gray = image.mode in ("L", "LA", "I;16", "I")
        return np.asarray(image.convert("L" if gray else "RGB"))

    def check_quantizer(self, quantizer: int) -> int:
        low, high = self.quantizer_range
        if not low <= int(quantizer) <= high:
            raise EncodeError(f"{self.quantizer_name} {quantizer} is outside {low}..{high}")
        return int(quantizer)

    def settings(self) -> dict[str, Any]:
        """Every option that determines the bitstream, defaults included (cache keys)."""
        return {}
