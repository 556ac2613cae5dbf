"""Training pairs for the post-filters: (decoded by our codec, original) images and crops.

Each source image is encoded and decoded once with the codec the filter is for; the decoded
image is cached as a PNG keyed by the source's content hash and the coding settings, so later
runs (and resumed runs) skip the slow encoder.

Luma ("y") networks for JPEG train on grayscale pairs made the way the JPEG artifact-removal
literature makes them (shared/JPEG-NOTES.md): the original's Y is MATLAB's rgb2ycbcr luma,
encoded as a one-component JPEG at the quality given. DCT-domain ("dct") networks train on
the same JPEGs, their input being the file's coefficient plane (postfilter/dct.py), cached
as the JPEG itself.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rcodec.codec import registry as codec_registry
from rcodec.codec.hevc import libavcodec_version
from rcodec.codec.images import list_images, read_rgb, write_png
from rcodec.codec.jpeg import JpegCodec
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_bytes
from rcodec.metrics import rgb_to_matlab_y
from rcodec.postfilter.consistency import interval_plane
from rcodec.postfilter.dct import DCT_SCALE, augment_plane, coefficient_plane
from rcodec.version import __version__

#: Bump when the way pairs are made changes, so that old cached decodes are not reused.
#: 2: BPG pairs are coded with the psnr tune (lower chroma QPs), the encoder's default.
PAIR_FORMAT = 2


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


def centre_crop(rgb: np.ndarray, size: int | None, align: int = 1) -> np.ndarray:
    """The central size x size window (or less where the image is smaller); all when None.

    `align`: the window's origin is rounded down to a multiple of it (8 keeps a JPEG's block
    grid where it was, which PSNR-B and DCT-domain inputs rely on)."""
    if size is None:
        return rgb
    y, x = centre_origin(rgb.shape[:2], size, align)
    return rgb[y : y + size, x : x + size]


def centre_origin(shape: tuple[int, ...], size: int, align: int = 1) -> tuple[int, int]:
    """(y, x) origin of centre_crop's window."""
    height, width = shape[:2]
    return (max(0, (height - size) // 2) // align * align,
            max(0, (width - size) // 2) // align * align)


def _codec_version(codec: str) -> str:
    """What makes the codec's output what it is: versions and every encoder setting."""
    settings = json.dumps(codec_registry.make_codec(codec).settings(), sort_keys=True)
    return f"rcodec {__version__}, libavcodec {libavcodec_version()}, {codec} {settings}"


def encode_decode(image: np.ndarray, codec: str, quantizer: int) -> np.ndarray:
    """The image after a round trip through our codec with its default settings (what a
    decoder hands the filter)."""
    coder = codec_registry.make_codec(codec)
    return coder.decode(coder.encode(image, quantizer))


#: (flip_y, flip_x, transpose): one of the 8 flips / transposes of a crop.
Flips = tuple[bool, bool, bool]


def _draw_flips(rng: np.random.Generator) -> Flips:
    flip_y, flip_x, transpose = (bool(v) for v in rng.integers(0, 2, 3))
    return flip_y, flip_x, transpose


def _flip(array: np.ndarray, flips: Flips) -> np.ndarray:
    """An HxWxC array flipped, then transposed."""
    flip_y, flip_x, transpose = flips
    array = array[::-1] if flip_y else array
    array = array[:, ::-1] if flip_x else array
    return array.transpose(1, 0, 2) if transpose else array


def _flip_intervals(intervals: np.ndarray, flips: Flips) -> np.ndarray:
    """An interval plane (8By x 8Bx x 2) for the flipped pixels: each bound moves as a
    coefficient does (augment_plane), and where a coefficient changes sign its interval's
    ends swap."""
    lower, upper = (augment_plane(intervals[..., k], *flips) for k in (0, 1))
    return np.stack([np.minimum(lower, upper), np.maximum(lower, upper)], axis=-1)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWxC -> float32 CxHxW in [0, 1] (also float on the 0..255 scale)."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)


class PairDataset(Dataset):
    """(decoded, original) pairs from a folder of images, served as random aligned crops.

    Item i is a random `crop` x `crop` window of image i // crops_per_image, as two float
    tensors 3 x crop x crop in [0, 1] (input = decoded, target = original), randomly flipped
    and transposed when `augment`. Images smaller than the crop are skipped. Pairs are held
    in memory (uint8), so the folder should fit in RAM. `encoded` counts the codec runs this
    instance made (0 when everything came from the cache).

    `channels`: "rgb" (above); "y": 1 x crop x crop MATLAB-luma pairs through a grayscale
    JPEG (codec "jpeg" only); "dct": the same pairs with the JPEG's coefficient plane / 255
    as input, crops on the block grid (crop a multiple of 8) and flips done exactly in the
    DCT domain.

    `intervals` ("y" only): each crop also carries the rounding intervals of the JPEG's
    coefficients over it (consistency.interval_plane, 2 x crop x crop), crops on the block
    grid (crop a multiple of 8), for a loss that sees the projection decoding applies.

    `grid`: crop origins (and validation windows) on multiples of it. Decoding filters an
    image from its origin, where the codec's block grid and a multi-scale net's strides
    meet; crops anywhere show the net every other phase of one against the other as well.
    DCT and interval crops are on the 8x8 grid whatever it says.
    """

    def __init__(self, image_dir: str | os.PathLike[str], codec: str = "bpg",
                 quantizer: int = 40, crop: int = 96, crops_per_image: int = 1,
                 cache_dir: str | os.PathLike[str] | None = None, downscale: int = 1,
                 seed: int | None = None, augment: bool = True, channels: str = "rgb",
                 decoded_dir: str | os.PathLike[str] | None = None,
                 intervals: bool = False, grid: int = 1) -> None:
        if crop < 1 or crops_per_image < 1 or downscale < 1 or grid < 1:
            raise RcodecError("crop, crops_per_image, downscale and grid must be positive")
        if channels not in ("rgb", "y", "dct"):
            raise RcodecError(f"channels must be rgb, y or dct, got {channels!r}")
        if channels != "rgb" and codec != "jpeg":
            raise RcodecError(f"{channels!r} networks train on JPEG pairs (codec jpeg), "
                              f"not {codec!r}")
        if decoded_dir is not None and (channels != "rgb" or downscale != 1):
            raise RcodecError("pairs decoded elsewhere (decoded_dir) are RGB decodes of the "
                              "images as they are (channels rgb, downscale 1)")
        if intervals and channels != "y":
            raise RcodecError(f"coefficient intervals are for luma networks (channels y), "
                              f"not {channels!r}")
        if (channels == "dct" or intervals) and crop % 8:
            raise RcodecError(f"crops on the JPEG block grid must be whole 8x8 blocks, "
                              f"got crop {crop}")
        self.codec, self.quantizer, self.downscale = codec, quantizer, downscale
        self.channels, self.with_intervals = channels, intervals
        on_blocks = channels == "dct" or intervals
        self.grid = math.lcm(grid, 8) if on_blocks else grid
        self.crop, self.crops_per_image, self.augment = crop, crops_per_image, augment
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        #: Where decodes made on another machine lie (<stem>.png or .webp, lossless), instead
        #: of running the codec here; "{q}" in it stands for the quantizer.
        self.decoded_dir = None if decoded_dir is None else Path(
            str(decoded_dir).replace("{q}", str(quantizer)))
        self.rng = np.random.default_rng(seed)
        self.encoded = 0
        self.paths: list[Path] = []
        self.skipped: list[Path] = []
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        #: Network input per pair: the decoded image, or for "dct" the coefficient plane
        #: (float32 8By x 8Bx x 1, on the 0..255 scale of dequantised coefficients).
        self.inputs: list[np.ndarray] = []
        #: Per pair with `intervals`: its consistency.interval_plane (else empty).
        self.intervals: list[np.ndarray] = []
        for path in list_images(image_dir):
            loaded = self._load_pair(path)
            if loaded is None:
                self.skipped.append(path)
                continue
            self.paths.append(path)
            self.pairs.append(loaded[:2])
            self.inputs.append(loaded[2])
            if loaded[3] is not None:
                self.intervals.append(loaded[3])
        if not self.pairs:
            raise RcodecError(f"{image_dir}: no image is at least {crop}x{crop} pixels")

    def cache_key(self, content_sha256: str, channels: str | None = None) -> str:
        """Cache name of a decoded image: hash of the source bytes and the coding settings
        (for `channels`, default the set's own; "dct" names the luma's JPEG file)."""
        channels = channels or self.channels
        settings = {"image": content_sha256, "codec": self.codec, "quantizer": self.quantizer,
                    "downscale": self.downscale, "format": PAIR_FORMAT,
                    "version": _codec_version(self.codec)}
        if channels != "rgb":  # (absent for RGB, so existing cache entries stay valid)
            settings["channels"] = channels
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def _load_pair(self, path: Path,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None:
        """(decoded, original, network input, interval plane or None), from the cache when
        there; None when smaller than the crop."""
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        original = area_downscale(read_rgb(path), self.downscale)
        if min(original.shape[:2]) < self.crop:
            return None
        if self.channels == "rgb":
            decoded = (self._decoded(content, original) if self.decoded_dir is None
                       else self._decoded_elsewhere(path, original))
            return decoded, original, decoded, None
        luma = rgb_to_matlab_y(original)[..., None]
        if self.channels == "y" and not self.with_intervals:
            decoded = self._decoded(content, luma)
            return decoded, luma, decoded, None
        data = self._luma_jpeg(content, luma)
        # The pixel decode is the luma net's input, and the DCT net's unfiltered baseline.
        decoded = JpegCodec().decode(data).reshape(luma.shape)
        coefficients = read_coefficients(data)
        if coefficients.component_size(0) != luma.shape[:2]:
            raise RcodecError(f"cached JPEG of {path} does not match its source; delete "
                              f"{self.cache_dir / self.cache_key(content, 'dct')}.jpg")
        if self.channels == "y":
            return decoded, luma, decoded, interval_plane(coefficients)
        return decoded, luma, coefficient_plane(coefficients)[..., None], None

    def _decoded_elsewhere(self, path: Path, original: np.ndarray) -> np.ndarray:
        """The decode of `path` made on another machine (scripts/prepare-gpu-data.py)."""
        assert self.decoded_dir is not None
        for suffix in (".png", ".webp"):
            candidate = self.decoded_dir / f"{path.stem}{suffix}"
            if candidate.is_file():
                decoded = read_rgb(candidate)
                if decoded.shape != original.shape:
                    raise RcodecError(f"{candidate}: {decoded.shape[1]}x{decoded.shape[0]}, "
                                      f"but {path} is {original.shape[1]}x{original.shape[0]}")
                return decoded
        raise RcodecError(f"{self.decoded_dir}: no decode of {path.name} (<stem>.png or .webp)")

    def _decoded(self, content: str, original: np.ndarray) -> np.ndarray:
        """`original` (HxWx3, or HxWx1 luma) through the codec, cached as a PNG."""
        cached = self.cache_dir / f"{self.cache_key(content)}.png"
        if cached.is_file():
            decoded = read_rgb(cached)[..., : original.shape[2]]  # gray PNG -> replicated
            if decoded.shape == original.shape:
                return decoded
        decoded = encode_decode(original[..., 0] if original.shape[2] == 1 else original,
                                self.codec, self.quantizer)
        self.encoded += 1
        if decoded.size != original.size or decoded.shape[:2] != original.shape[:2]:
            raise RcodecError(f"codec returned shape {decoded.shape}, "
                              f"expected {original.shape}")
        decoded = decoded.reshape(original.shape)
        write_png(cached, decoded[..., 0] if original.shape[2] == 1 else decoded)
        return decoded

    def _luma_jpeg(self, content: str, luma: np.ndarray) -> bytes:
        """The grayscale JPEG of `luma` at the set's quality, cached as the file."""
        cached = self.cache_dir / f"{self.cache_key(content, 'dct')}.jpg"
        if cached.is_file():
            return cached.read_bytes()
        data = JpegCodec().encode(luma[..., 0], self.quantizer)
        self.encoded += 1
        atomic_write_bytes(cached, data)
        return data

    def __len__(self) -> int:
        return len(self.pairs) * self.crops_per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return self.sample(index, self.rng)

    def sample(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """Item `index` drawn with `rng` (a seeded rng makes batches reproducible): input
        and target, and with `intervals` the crop's interval plane (2 x crop x crop)."""
        if self.channels == "dct":
            return self._sample_dct(index, rng)
        pair = index // self.crops_per_image
        decoded, original = self.pairs[pair]
        window = self._window(original.shape, rng)
        arrays = [decoded[window], original[window]]
        bounds = self.intervals[pair][window] if self.with_intervals else None
        if self.augment:
            flips = _draw_flips(rng)
            arrays = [_flip(a, flips) for a in arrays]
            bounds = None if bounds is None else _flip_intervals(bounds, flips)
        tensors = (to_tensor(arrays[0]), to_tensor(arrays[1]))
        if bounds is None:
            return tensors
        return (*tensors, torch.from_numpy(np.ascontiguousarray(bounds)).permute(2, 0, 1))

    def _window(self, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[slice, slice]:
        """A random crop x crop window whose origin is on the set's grid."""
        height, width = shape[:2]
        y = self.grid * int(rng.integers(0, (height - self.crop) // self.grid + 1))
        x = self.grid * int(rng.integers(0, (width - self.crop) // self.grid + 1))
        return slice(y, y + self.crop), slice(x, x + self.crop)

    def _sample_dct(self, index: int, rng: np.random.Generator,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A crop on the block grid: coefficient plane / 255 and the original luma."""
        pair = index // self.crops_per_image
        plane, original = self.inputs[pair][..., 0], self.pairs[pair][1]
        window = self._window(original.shape, rng)
        coefficients, target = plane[window], original[window]
        if self.augment:
            flips = _draw_flips(rng)
            coefficients, target = augment_plane(coefficients, *flips), _flip(target, flips)
        inputs = torch.from_numpy(coefficients / np.float32(DCT_SCALE))[None]
        return inputs, to_tensor(target)

    def batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """`size` items, drawn uniformly with replacement, stacked to N x 3 x crop x crop."""
        inputs, targets, _, _ = self.labelled_batch(size, rng)
        return inputs, targets

    def labelled_batch(self, size: int, rng: np.random.Generator) -> LabelledBatch:
        """`batch` plus each item's quantizer (float32, N), for quantizer-conditioned nets,
        and with `intervals` their interval planes (N x 2 x crop x crop; else None)."""
        items = [self.sample(int(i), rng) for i in rng.integers(0, len(self), size)]
        return _stack(items, [float(self.quantizer)] * size)

    def validation_quantizers(self) -> list[int]:
        """The quantizer of each validation item."""
        return [self.quantizer] * len(self.pairs)

    def rgb_mean(self) -> list[float]:
        """Per-channel mean of the original images in [0, 1], over all their pixels."""
        channels = self.pairs[0][1].shape[2]
        totals, count = np.zeros(channels, np.float64), 0
        for _, original in self.pairs:
            totals += original.reshape(-1, channels).sum(axis=0, dtype=np.float64)
            count += original.shape[0] * original.shape[1]
        return [float(v) for v in totals / count / 255.0]

    def full_images(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every (decoded, original) pair as uint8 HxWx3 arrays, for validation."""
        yield from self.pairs

    def validation_items(self, size: int | None) -> list[tuple[np.ndarray, ...]]:
        """(network input, decoded, original) per image, centre-cropped to `size` (None: whole
        images). JPEG crops keep the block grid (origin a multiple of 8); a DCT input is
        the coefficient plane over the blocks that cover the crop, so the network's output
        is cropped to the original's size. With `intervals`, each item also holds the
        interval plane over those blocks."""
        align = math.lcm(8 if self.codec == "jpeg" else 1, self.grid)
        items: list[tuple[np.ndarray, ...]] = []
        for index, ((decoded, original), net_input) in enumerate(zip(self.pairs, self.inputs,
                                                                     strict=True)):
            crop = centre_crop(original, size, align)
            y, x = centre_origin(original.shape, size, align) if size else (0, 0)
            h, w = -(-crop.shape[0] // 8) * 8, -(-crop.shape[1] // 8) * 8
            cropped = centre_crop(decoded, size, align)
            if self.channels == "dct":
                items.append((net_input[y : y + h, x : x + w], cropped, crop))
            elif self.with_intervals:
                items.append((cropped, cropped, crop,
                              self.intervals[index][y : y + h, x : x + w]))
            else:
                items.append((cropped, cropped, crop))
        return items


#: (inputs, targets, quantizers, interval planes or None), stacked over a batch.
LabelledBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]


def _stack(items: list[tuple[torch.Tensor, ...]], quantizers: list[float]) -> LabelledBatch:
    inputs, targets = torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items])
    intervals = torch.stack([i[2] for i in items]) if len(items[0]) > 2 else None
    return inputs, targets, torch.tensor(quantizers, dtype=torch.float32), intervals


class PairMix:
    """Pairs at several quantizers (a multi-quality network): each crop of a batch comes from
    a quantizer drawn uniformly, then an image as in PairDataset. Validation takes each image
    once, image i at quantizer i mod n, so that a validation costs what a single-quantizer
    one does and still covers the whole range."""

    def __init__(self, sets: list[PairDataset]) -> None:
        if not sets:
            raise RcodecError("a pair mix needs at least one quantizer")
        self.sets = sets

    @property
    def encoded(self) -> int:
        return sum(s.encoded for s in self.sets)

    def batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets, _, _ = self.labelled_batch(size, rng)
        return inputs, targets

    def labelled_batch(self, size: int, rng: np.random.Generator) -> LabelledBatch:
        """`batch` plus each item's quantizer (float32, N) and interval plane (or None)."""
        items, quantizers = [], []
        for k in rng.integers(0, len(self.sets), size):
            pairs = self.sets[int(k)]
            items.append(pairs.sample(int(rng.integers(0, len(pairs))), rng))
            quantizers.append(float(pairs.quantizer))
        return _stack(items, quantizers)

    def validation_quantizers(self) -> list[int]:
        """The quantizer of each validation item (image i at quantizer i mod n)."""
        count = len(self.sets[0].pairs)
        return [self.sets[i % len(self.sets)].quantizer for i in range(count)]

    def rgb_mean(self) -> list[float]:
        return self.sets[0].rgb_mean()  # the originals are the same at every quantizer

    def validation_items(self, size: int | None) -> list[tuple[np.ndarray, ...]]:
        per_set = [s.validation_items(size) for s in self.sets]
        return [per_set[i % len(per_set)][i] for i in range(len(per_set[0]))]


def pair_source(image_dir: str | os.PathLike[str], codec: str, quantizers: list[int],
                **options) -> PairDataset | PairMix:
    """PairDataset at one quantizer, or a PairMix over several (same options for each)."""
    sets = [PairDataset(image_dir, codec, q, **options) for q in quantizers]
    return sets[0] if len(sets) == 1 else PairMix(sets)
