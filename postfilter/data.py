"""Training pairs for the post-filters: (decoded by our codec, original) images and crops.

Each source image is encoded and decoded once with the codec the filter is for; the decoded
image is cached as a PNG keyed by the source's content hash and the coding settings, so later
runs (and resumed runs) skip the slow encoder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rcodec.errors import RcodecError
from rcodec.images import list_images, read_rgb, write_png

#: Bump when the way pairs are made changes, so that old cached decodes are not reused.
PAIR_FORMAT = 1


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/rcodec/pairs (~/.cache/rcodec/pairs when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "rcodec" / "pairs"


def area_downscale(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks (rounded half up); the ragged edge is dropped.

    Averaging washes out the source's own JPEG artefacts, so the net learns our codec's.
    """
    if factor == 1:
        return rgb
    height, width = rgb.shape[0] // factor * factor, rgb.shape[1] // factor * factor
    blocks = rgb[:height, :width].astype(np.uint32).reshape(
        height // factor, factor, width // factor, factor, rgb.shape[2])
    total = blocks.sum(axis=(1, 3))
    area = factor * factor
    return ((total + area // 2) // area).astype(np.uint8)


def centre_crop(rgb: np.ndarray, size: int | None) -> np.ndarray:
    """The central size x size window (or less where the image is smaller); all when None."""
    if size is None:
        return rgb
    height, width = rgb.shape[:2]
    y, x = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return rgb[y : y + size, x : x + size]


def _codec_version(codec: str) -> str:
    import av

    from rcodec import __version__

    return f"rcodec {__version__}, libavcodec {av.library_versions.get('libavcodec')}"


def encode_decode(rgb: np.ndarray, codec: str, quantizer: int) -> np.ndarray:
    """The image after a round trip through our codec (what a decoder hands the filter)."""
    if codec == "bpg":
        from codec.bpg import decode_bpg, encode_bpg

        return decode_bpg(encode_bpg(rgb, qp=quantizer, level=8))
    if codec == "jpeg":
        from codec.jpeg import JpegCodec

        jpeg = JpegCodec()
        return jpeg.decode(jpeg.encode(rgb, quantizer))
    raise RcodecError(f"unknown codec {codec!r} (bpg or jpeg)")


def _augment(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One of the 8 flips/transposes, the same for every array."""
    flip_y, flip_x, transpose = rng.integers(0, 2, 3)
    out = []
    for a in arrays:
        if flip_y:
            a = a[::-1]
        if flip_x:
            a = a[:, ::-1]
        if transpose:
            a = a.transpose(1, 0, 2)
        out.append(a)
    return out


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 3xHxW in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)


class PairDataset(Dataset):
    """(decoded, original) pairs from a folder of images, served as random aligned crops.

    Item i is a random `crop` x `crop` window of image i // crops_per_image, as two float
    tensors 3 x crop x crop in [0, 1] (input = decoded, target = original), randomly flipped
    and transposed when `augment`. Images smaller than the crop are skipped. Pairs are held
    in memory (uint8), so the folder should fit in RAM. `encoded` counts the codec runs this
    instance made (0 when everything came from the cache).
    """

    def __init__(self, image_dir: str | os.PathLike[str], codec: str = "bpg",
                 quantizer: int = 40, crop: int = 96, crops_per_image: int = 1,
                 cache_dir: str | os.PathLike[str] | None = None, downscale: int = 1,
                 seed: int | None = None, augment: bool = True) -> None:
        if crop < 1 or crops_per_image < 1 or downscale < 1:
            raise RcodecError("crop, crops_per_image and downscale must be positive")
        self.codec, self.quantizer, self.downscale = codec, quantizer, downscale
        self.crop, self.crops_per_image, self.augment = crop, crops_per_image, augment
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.rng = np.random.default_rng(seed)
        self.encoded = 0
        self.paths: list[Path] = []
        self.skipped: list[Path] = []
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for path in list_images(image_dir):
            pair = self._load_pair(path)
            if pair is None:
                self.skipped.append(path)
                continue
            self.paths.append(path)
            self.pairs.append(pair)
        if not self.pairs:
            raise RcodecError(f"{image_dir}: no image is at least {crop}x{crop} pixels")

    def cache_key(self, content_sha256: str) -> str:
        """Cache name of a decoded image: hash of the source bytes and the coding settings."""
        settings = {"image": content_sha256, "codec": self.codec, "quantizer": self.quantizer,
                    "downscale": self.downscale, "format": PAIR_FORMAT,
                    "version": _codec_version(self.codec)}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def _load_pair(self, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        """(decoded, original), from the cache when there; None when smaller than the crop."""
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        original = area_downscale(read_rgb(path), self.downscale)
        if min(original.shape[:2]) < self.crop:
            return None
        cached = self.cache_dir / f"{self.cache_key(content)}.png"
        if cached.is_file():
            decoded = read_rgb(cached)
            if decoded.shape == original.shape:
                return decoded, original
        decoded = encode_decode(original, self.codec, self.quantizer)
        self.encoded += 1
        if decoded.shape != original.shape:
            raise RcodecError(f"{path}: codec returned shape {decoded.shape}, "
                              f"expected {original.shape}")
        write_png(cached, decoded)
        return decoded, original

    def __len__(self) -> int:
        return len(self.pairs) * self.crops_per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sample(index, self.rng)

    def sample(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Item `index` drawn with `rng` (a seeded rng makes batches reproducible)."""
        decoded, original = self.pairs[index // self.crops_per_image]
        height, width = original.shape[:2]
        y = int(rng.integers(0, height - self.crop + 1))
        x = int(rng.integers(0, width - self.crop + 1))
        window = (slice(y, y + self.crop), slice(x, x + self.crop))
        arrays = [decoded[window], original[window]]
        if self.augment:
            arrays = _augment(arrays, rng)
        return to_tensor(arrays[0]), to_tensor(arrays[1])

    def batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """`size` items, drawn uniformly with replacement, stacked to N x 3 x crop x crop."""
        items = [self.sample(int(i), rng) for i in rng.integers(0, len(self), size)]
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])

    def rgb_mean(self) -> list[float]:
        """Per-channel mean of the original images in [0, 1], over all their pixels."""
        totals, count = np.zeros(3, np.float64), 0
        for _, original in self.pairs:
            totals += original.reshape(-1, 3).sum(axis=0, dtype=np.float64)
            count += original.shape[0] * original.shape[1]
        return [float(v) for v in totals / count / 255.0]

    def full_images(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every (decoded, original) pair as uint8 HxWx3 arrays, for validation."""
        yield from self.pairs
