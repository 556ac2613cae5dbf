"""One interface every codec implements, so the sweep, planner and CLI never branch on codec."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Codec(ABC):
    """An image codec with one integer quantizer (BPG qp, JPEG quality).

    `encode` takes an HxWx3 (or HxW gray) uint8 array and returns the codec's own bitstream;
    `decode` returns the uint8 RGB (or gray) array the codec's reference decoder would output.
    """

    name: str
    description: str
    quantizer_name: str
    quantizer_range: tuple[int, int]
    #: True when a larger quantizer value means fewer bytes (BPG qp); False for JPEG quality.
    quantizer_lowers_rate: bool
    magic: bytes

    @abstractmethod
    def encode(self, image: np.ndarray, quantizer: int) -> bytes: ...

    @abstractmethod
    def decode(self, data: bytes) -> np.ndarray: ...

    def check_quantizer(self, quantizer: int) -> int:
        low, high = self.quantizer_range
        if not low <= int(quantizer) <= high:
            from rcodec.errors import EncodeError

            raise EncodeError(f"{self.quantizer_name} {quantizer} is outside {low}..{high}")
        return int(quantizer)
