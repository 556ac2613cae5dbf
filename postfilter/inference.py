"""Running a post-filter on an image: whole or in overlapping tiles, with identical results.

Tiling is overlap-save: each tile of output pixels is computed from an input window grown by
the network's receptive radius on every side (clipped at the image border, where the
convolutions' own zero padding then sees exactly what it sees on the whole image), and the
halo is thrown away. The output is the whole-image output up to float rounding, and the tile
grid depends only on the image size and the tile size, so results are reproducible.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Collection, Iterator, Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from rcodec.codec import registry as codec_registry
from rcodec.codec.jpeg_dct import JpegCoefficients, read_coefficients
from rcodec.errors import RcodecError
from rcodec.postfilter.consistency import project_luma
from rcodec.postfilter.dct import read_plane
from rcodec.postfilter.ensemble import self_ensembles
from rcodec.postfilter.models import build, input_kind, is_conditioned, receptive_radius
from rcodec.postfilter.registry import ModelEntry
from rcodec.postfilter.weights import load_weights
from rcodec.units import format_bytes

#: Tile size (output pixels per side) used by `apply_filter`, i.e. by every decode and by the
#: sweep, so that the sweep measures exactly the pixels the decoder outputs (networks whose
#: tiles are exact may prefer larger ones: `decode_tile`).
DEFAULT_TILE = 512

#: Memory budget for activations when `restore` picks the tiling itself (bytes).
DEFAULT_MAX_MEMORY = 1_500_000_000

#: Activations of the widest layer alive at once (block input, the long skip, two temporaries).
LIVE_TENSORS = 4

#: Smallest tile `choose_tile` returns, and the multiple it rounds down to.
TILE_STEP = 32

Precision = Literal["fp32", "bf16"]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with `threads` intra-op threads (default: available cores), then restore the old."""
    wanted = threads or available_cores()
    old = torch.get_num_threads()
    if wanted != old:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != old:
            torch.set_num_threads(old)


def widest_layer(model: nn.Module) -> int:
    """Channels of the widest activation: the model's `widest()`, or its widest convolution."""
    own = getattr(model, "widest", None)
    if callable(own):
        return int(own())
    widths = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    return max(widths, default=3)


def bytes_per_pixel(model: nn.Module, precision: Precision = "fp32") -> int:
    """Estimated activation memory per pixel of a window: widest maps x sample size x live
    tensors, plus the float input and output."""
    sample = 2 if precision == "bf16" else 4
    return widest_layer(model) * sample * LIVE_TENSORS + 2 * 3 * 4


def choose_tile(model: nn.Module, max_memory: int, precision: Precision = "fp32",
                shape: tuple[int, int] | None = None) -> int:
    """The largest tile side (a multiple of TILE_STEP) whose haloed window fits the budget.

    With the image's `shape` (height, width), windows are clipped at its border as
    `tile_windows` clips them: the whole image's side comes back when it fits, and a budget
    that not even the smallest tile's window fits raises RcodecError. (A smaller tile never
    saves memory once its window spans the image; it only runs the network more times, up
    to hundreds of times for a U-Net's 250-pixel halo.) Without a shape, windows are square.
    """
    per_pixel = bytes_per_pixel(model, precision)
    radius = receptive_radius(model)
    height, width = shape if shape is not None else (None, None)

    def window_bytes(tile: int) -> int:
        side = tile + 2 * radius
        return min(side, height or side) * min(side, width or side) * per_pixel

    if shape is None:
        window = math.isqrt(max(0, max_memory // per_pixel))
        candidates = [max((window - 2 * radius) // TILE_STEP * TILE_STEP, TILE_STEP)]
    else:
        whole = max(shape)
        candidates = [whole, *range((whole - 1) // TILE_STEP * TILE_STEP, 0, -TILE_STEP)]
    for tile in candidates:
        if window_bytes(tile) <= max_memory:
            return tile
    size = "" if shape is None else f" of a {width}x{height} image"
    raise RcodecError(f"{format_bytes(max_memory)} of memory is too little: the network's "
                      f"smallest tile{size} needs a window of "
                      f"{format_bytes(window_bytes(TILE_STEP))} of activations")


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Output tiles (y0, y1, x0, x1), row by row: a function of the sizes only."""
    if tile < 1:
        raise RcodecError(f"tile size must be positive, got {tile}")
    return [(y, min(y + tile, height), x, min(x + tile, width))
            for y in range(0, height, tile) for x in range(0, width, tile)]


def tile_windows(height: int, width: int, tile: int, radius: int, align: int = 1,
                 ) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """Each output tile with the input window it is computed from: the tile grown by the
    receptive radius on every side, clipped at the image border.

    `align` > 1 (networks with strided layers) also widens each window outwards to multiples
    of `align`, so that its strided layers sample the same grid as on the whole image."""
    if align < 1:
        raise RcodecError(f"window alignment must be positive, got {align}")

    def start(v: int) -> int:
        return max(v - radius, 0) // align * align

    def stop(v: int, size: int) -> int:
        return min(-(-(v + radius) // align) * align, size)

    return [((y0, y1, x0, x1), (start(y0), stop(y1, height), start(x0), stop(x1, width)))
            for y0, y1, x0, x1 in tile_grid(height, width, tile)]


def alignment(model: nn.Module) -> int:
    """Multiple that tile windows must start on: the model's `alignment()` (its total
    stride), else 1."""
    own = getattr(model, "alignment", None)
    return int(own()) if callable(own) else 1


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise RcodecError("post-filter input must be a uint8 numpy array")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise RcodecError(f"post-filter input must be HxWx3 RGB, got shape {rgb.shape} "
                          "(convert gray or RGBA to RGB first)")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise RcodecError(f"post-filter input is empty: shape {rgb.shape}")


def run_window(model: nn.Module, window: np.ndarray, device: torch.device,
               precision: Precision, quantizer: float | None = None) -> np.ndarray:
    """The model on one HxWxC window (uint8, or float on the 0..255 scale); float32 HxWxC'
    on the 0..255 scale. `quantizer`: what a conditioned model is told the image was coded
    at. (Callers hold torch.inference_mode and the thread count.)"""
    # HxWxC memory viewed as 1xCxHxW is already channels_last. (A copy: torch wants the
    # array writable, and the caller's may not be.)
    x = torch.from_numpy(np.array(window, copy=True)).permute(2, 0, 1).unsqueeze(0)
    x = x.to(device=device, dtype=torch.float32).div_(255.0)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                        enabled=precision == "bf16"):
        y = model(x, quantizer) if is_conditioned(model) else model(x)
    y = y.float().mul_(255.0)
    return y[0].permute(1, 2, 0).to("cpu").numpy()


def restore(model: nn.Module, rgb_uint8: np.ndarray, tile: int | None = None,
            max_memory: int | None = None, *, precision: Precision = "fp32",
            threads: int | None = None, quantizer: float | None = None,
            views: int = 1) -> np.ndarray:
    """The model's output for an HxWx3 uint8 image: float32 HxWx3 on 0..255, not clamped.

    `tile`: output tile side for overlap-save tiling; None lets the memory budget decide
    (whole image when its activations fit in `max_memory` bytes, default DEFAULT_MAX_MEMORY,
    else the largest tile that fits). Either way the result equals whole-image inference up
    to float rounding (<= 1e-4 here). `threads`: intra-op threads (default: available cores).
    `quantizer`: the image's quantizer, for a model conditioned on it. `views`: how many
    flips and transposes of the image the output averages (rcodec.postfilter.ensemble).
    """
    _check_rgb(rgb_uint8)
    return restore_array(model, rgb_uint8, tile, max_memory, precision=precision,
                         threads=threads, quantizer=quantizer, views=views)


def restore_array(model: nn.Module, image: np.ndarray, tile: int | None = None,
                  max_memory: int | None = None, *, precision: Precision = "fp32",
                  threads: int | None = None, quantizer: float | None = None,
                  views: int = 1) -> np.ndarray:
    """`restore` for any HxWxC input the model takes (C = 1 for luma and DCT-domain
    networks), uint8 or float on the 0..255 scale: float32 HxWxC' on 0..255, not clamped.

    Tiles as `restore` does, with windows aligned to the model's `alignment()`; averages
    `views` views of the image as `restore` does.
    """
    [(_, output)] = restore_views(model, image, (views,), tile, max_memory,
                                  precision=precision, threads=threads, quantizer=quantizer)
    return output


def restore_views(model: nn.Module, image: np.ndarray, counts: Collection[int],
                  tile: int | None = None, max_memory: int | None = None, *,
                  precision: Precision = "fp32", threads: int | None = None,
                  quantizer: float | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """`restore_array`'s output for each of several view counts, (count, output) fewest
    views first, each as soon as it is ready: the views run once for all the counts
    (`ensemble.self_ensembles`), and each output is exactly `restore_array`'s for its count."""
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise RcodecError(f"post-filter input must be HxWxC, got shape {image.shape}")
    if precision not in ("fp32", "bf16"):
        raise RcodecError(f"precision must be fp32 or bf16, got {precision!r}")

    def run(view: np.ndarray) -> np.ndarray:
        return _restore_tiles(model, view, tile, max_memory, precision, threads, quantizer)

    if set(counts) == {1}:
        yield 1, run(image)
    else:
        yield from self_ensembles(run, image, counts)


def _restore_tiles(model: nn.Module, image: np.ndarray, tile: int | None,
                   max_memory: int | None, precision: Precision, threads: int | None,
                   quantizer: float | None) -> np.ndarray:
    """One view's output, whole or in overlap-save tiles (`restore_array` with one view)."""
    height, width = image.shape[:2]
    if tile is None:
        budget = DEFAULT_MAX_MEMORY if max_memory is None else max_memory
        tile = choose_tile(model, budget, precision, (height, width))
    radius = receptive_radius(model)
    device = next(model.parameters()).device
    out: np.ndarray | None = None
    was_training = model.training
    model.eval()
    try:
        with torch_threads(threads), torch.inference_mode():
            for (y0, y1, x0, x1), (wy0, wy1, wx0, wx1) in tile_windows(
                    height, width, tile, radius, alignment(model)):
                result = run_window(model, image[wy0:wy1, wx0:wx1], device, precision,
                                    quantizer)
                if out is None:
                    out = np.empty((height, width, result.shape[2]), np.float32)
                out[y0:y1, x0:x1] = result[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
    finally:
        model.train(was_training)
    assert out is not None  # the grid has at least one tile
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round to the nearest integer (halves to even, np.rint) and clip to 0..255."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# --- registered filters -------------------------------------------------------------------

_MODELS: dict[tuple[str, str, str], nn.Module] = {}
_MODELS_LOCK = threading.Lock()


def load_model(entry: ModelEntry) -> nn.Module:
    """The entry's network with its verified weights, ready for inference (cached per
    architecture and weights, so a decode of many files builds it once, and entries that
    share weights, a network and its views, share one model)."""
    key = _model_key(entry)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = build(entry.arch, **entry.config)
            state = load_weights(entry, entry.sha256)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as error:
                raise RcodecError(f"post-filter {entry.name!r}: weights do not fit "
                                  f"architecture {entry.arch!r} ({error})") from None
            model.eval().requires_grad_(False)
            model = model.to(memory_format=torch.channels_last)
            _MODELS[key] = model
    return model


def _model_key(entry: ModelEntry) -> tuple[str, str, str]:
    """What a registered network's loaded model depends on: architecture, config, weights."""
    return entry.arch, json.dumps(entry.config, sort_keys=True), entry.sha256


def native_bf16() -> bool:
    """Whether this CPU computes bf16 convolutions in hardware (elsewhere bf16 is emulated,
    and slower than fp32)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def effective_precision(entry: ModelEntry) -> Precision:
    """The precision a registered network runs at on this machine."""
    return "bf16" if entry.precision == "bf16" and native_bf16() else "fp32"


def decode_tile(model: nn.Module, max_memory: int | None = None,
                precision: Precision = "fp32", shape: tuple[int, int] | None = None) -> int:
    """The tile side decoding uses: DEFAULT_TILE, or the model's larger `preferred_tile` as
    far as DEFAULT_MAX_MEMORY allows, or a smaller one when its haloed window would not fit
    in `max_memory` bytes of activations for an image of `shape` (`choose_tile`, which
    raises RcodecError when no tile fits). (A smaller tile gives the same output up to float
    rounding, so uint8 pixels can differ only where a value sits within that rounding of a
    .5 tie; networks with a preferred tile give exactly the same pixels at any tile.)"""
    tile = DEFAULT_TILE
    preferred = int(getattr(model, "preferred_tile", DEFAULT_TILE))
    if preferred > DEFAULT_TILE:
        tile = max(DEFAULT_TILE, min(preferred,
                                     choose_tile(model, DEFAULT_MAX_MEMORY, precision)))
    if max_memory is None:
        return tile
    return min(tile, choose_tile(model, max_memory, precision, shape))


def apply_filter(entry: ModelEntry, decoded: np.ndarray, payload: bytes, *,
                 threads: int | None = None, max_memory: int | None = None) -> np.ndarray:
    """A registered post-filter on a decoded uint8 image; uint8 of the same shape.

    Networks registered with channels "rgb" take HxWx3 RGB only (gray or RGBA input raises
    RcodecError: callers convert first). Networks with channels "y" (one luma plane) take a
    gray HxW (or HxWx1) image, which they filter directly, or HxWx3 RGB, whose JFIF luma
    they filter (see `filter_luma`). Tiled with `decode_tile`'s side (smaller where
    `max_memory` needs it), so the output depends only on the image and the weights. `payload` (the
    codec bitstream) gives quantizer-conditioned networks the quantizer it was coded at
    (read back from its headers) and DCT-domain ones their coefficients.
    """
    [(_, output)] = apply_views([entry], decoded, payload, threads=threads,
                                max_memory=max_memory)
    return output


def shared_run(entry: ModelEntry) -> tuple:
    """What a registered network's output depends on besides the views it averages: entries
    equal here are views of one network run (a network and its "-x4" entry), which
    `apply_views` computes together."""
    return (*_model_key(entry), entry.channels, entry.precision, entry.quantizer_range)


def apply_views(entries: Sequence[ModelEntry], decoded: np.ndarray, payload: bytes, *,
                threads: int | None = None, max_memory: int | None = None,
                ) -> Iterator[tuple[ModelEntry, np.ndarray]]:
    """`apply_filter` for entries that average different views of one network (equal
    `shared_run`): (entry, output) fewest views first, each as soon as it is ready, every
    view run once for all of them. Each output is exactly `apply_filter`'s for its entry."""
    if not entries or len({shared_run(e) for e in entries}) != 1:
        names = ", ".join(repr(e.name) for e in entries)
        raise RcodecError(f"post-filters {names} are not views of one network")
    by_views: dict[int, list[ModelEntry]] = {}
    for entry in entries:
        by_views.setdefault(entry.ensemble, []).append(entry)
    for views, output in _filter_views(entries[0], decoded, payload, tuple(by_views),
                                       threads, max_memory):
        for entry in by_views[views]:
            yield entry, output


def _filter_views(entry: ModelEntry, decoded: np.ndarray, payload: bytes,
                  counts: tuple[int, ...], threads: int | None, max_memory: int | None,
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """A registered network's uint8 output averaging each of `counts` views."""
    if entry.channels == "y":
        yield from _luma_filter_views(entry, decoded, payload, counts, threads, max_memory)
        return
    if entry.channels != "rgb":
        raise RcodecError(f"post-filter {entry.name!r}: unknown channels {entry.channels!r} "
                          "(rgb or y)")
    _check_rgb(decoded)
    model = load_model(entry)
    precision = effective_precision(entry)
    tile = _entry_tile(entry, model, max_memory, precision, decoded.shape[:2])
    quantizer = bitstream_quantizer(entry, payload) if is_conditioned(model) else None
    for views, output in restore_views(model, decoded, counts, tile, precision=precision,
                                       threads=threads, quantizer=quantizer):
        yield views, to_uint8(output)


def _entry_tile(entry: ModelEntry, model: nn.Module, max_memory: int | None,
                precision: Precision, shape: tuple[int, int]) -> int:
    """decode_tile for a registered network, naming it when the memory budget is too small."""
    try:
        return decode_tile(model, max_memory, precision, shape)
    except RcodecError as error:
        raise RcodecError(f"post-filter {entry.name!r}: {error}") from None


def bitstream_quantizer(entry: ModelEntry, payload: bytes) -> int:
    """The quantizer a conditioned network is told: the one the bitstream says it was coded
    at, refused outside the range the network is registered for."""
    quantizer = codec_registry.quantizer_of(payload)
    low, high = entry.quantizer_range
    if quantizer is None:
        raise RcodecError(f"post-filter {entry.name!r} needs the quantizer, and this "
                          f"{entry.codec} bitstream does not say it")
    if not low <= quantizer <= high:
        raise RcodecError(f"post-filter {entry.name!r} is for quantizers {low}..{high}; this "
                          f"bitstream was coded at {quantizer}")
    return quantizer


# --- luma (Y) networks ------------------------------------------------------------------------

#: JFIF's RGB -> YCbCr (full-range BT.601, as JPEG itself converts); Cb and Cr are offset by
#: 128 on top of this matrix.
JFIF_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                              [-0.168736, -0.331264, 0.5],
                              [0.5, -0.418688, -0.081312]])
# The exact inverse (rather than JFIF's rounded 1.402, ...), so an unchanged Y converts back
# to the very same RGB after rounding.
_JFIF_YCBCR_TO_RGB = np.linalg.inv(JFIF_RGB_TO_YCBCR)
_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 RGB (0..255) -> float64 HxWx3 JFIF YCbCr, not rounded."""
    return np.asarray(rgb, np.float64) @ JFIF_RGB_TO_YCBCR.T + _CHROMA_OFFSET


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Float HxWx3 JFIF YCbCr -> float64 HxWx3 RGB, not rounded or clipped."""
    return (np.asarray(ycbcr, np.float64) - _CHROMA_OFFSET) @ _JFIF_YCBCR_TO_RGB.T


def jfif_luma(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 RGB -> float32 HxWx1 JFIF luma, not rounded: what luma networks filter."""
    return rgb_to_ycbcr(rgb)[..., :1].astype(np.float32)


def _check_gray_or_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise RcodecError("post-filter input must be a uint8 numpy array")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3))):
        raise RcodecError(f"a luma post-filter takes HxW gray or HxWx3 RGB, got shape "
                          f"{image.shape} (convert RGBA to RGB first)")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise RcodecError(f"post-filter input is empty: shape {image.shape}")


def replace_luma(image: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """`image` (uint8 HxW, HxWx1 or HxWx3 RGB) with its luma replaced by the float HxW
    `luma`: uint8, same shape. Gray images are their luma; RGB ones keep their JFIF chroma
    (converted in float, never rounded in between, then rounded once)."""
    if image.ndim == 2 or image.shape[2] == 1:
        return to_uint8(luma).reshape(image.shape)
    ycbcr = rgb_to_ycbcr(image)
    ycbcr[..., 0] = luma
    return to_uint8(ycbcr_to_rgb(ycbcr))


def filter_luma(model: nn.Module, image: np.ndarray, tile: int | None = None, *,
                precision: Precision = "fp32", threads: int | None = None,
                quantizer: float | None = None, views: int = 1,
                coefficients: JpegCoefficients | None = None) -> np.ndarray:
    """A one-channel (Y) network on a uint8 image: gray (HxW or HxWx1) is filtered as it is;
    HxWx3 RGB is converted to JFIF YCbCr in float, its Y filtered, and converted back. Returns
    uint8 of the input's shape. (Y networks are trained on the luma of MATLAB's rgb2ycbcr,
    see shared/JPEG-NOTES.md; a colour JPEG's luma plane is JFIF's, which is what its
    artifacts live on, so that is the plane filtered here.)"""
    [(_, output)] = filter_luma_views(model, image, (views,), tile, precision=precision,
                                      threads=threads, quantizer=quantizer,
                                      coefficients=coefficients)
    return output


def filter_luma_views(model: nn.Module, image: np.ndarray, counts: Collection[int],
                      tile: int | None = None, *, precision: Precision = "fp32",
                      threads: int | None = None, quantizer: float | None = None,
                      coefficients: JpegCoefficients | None = None,
                      ) -> Iterator[tuple[int, np.ndarray]]:
    """`filter_luma` averaging each of several view counts, as `restore_views` does.
    `coefficients`: those of the JPEG that `image` decodes, when it is one of rcodec's; each
    output's luma is then projected onto their rounding intervals (`consistency`)."""
    _check_gray_or_rgb(image)
    if image.ndim == 2 or image.shape[2] == 1:
        plane = image.reshape(image.shape[0], image.shape[1], 1)
    else:
        plane = jfif_luma(image)
    for views, luma in restore_views(model, plane, counts, tile, precision=precision,
                                     threads=threads, quantizer=quantizer):
        luma = luma[..., 0]
        if coefficients is not None:
            luma = project_luma(luma, coefficients)
        yield views, replace_luma(image, luma)


def _luma_filter_views(entry: ModelEntry, decoded: np.ndarray, payload: bytes,
                       counts: tuple[int, ...], threads: int | None,
                       max_memory: int | None) -> Iterator[tuple[int, np.ndarray]]:
    """_filter_views for a network registered with channels "y"."""
    _check_gray_or_rgb(decoded)
    model = load_model(entry)
    kind = getattr(model, "input_kind", "rgb")
    if kind == "rgb":
        raise RcodecError(f"post-filter {entry.name!r}: registered for channels 'y' but "
                          f"architecture {entry.arch!r} takes RGB")
    precision = effective_precision(entry)
    tile = _entry_tile(entry, model, max_memory, precision, decoded.shape[:2])
    if kind == "dct":
        if set(counts) != {1}:  # a coefficient plane has no flipped views
            raise RcodecError(f"post-filter {entry.name!r}: a DCT-domain network averages "
                              f"no views (ensemble {max(counts)})")
        yield 1, decode_dct(model, payload, decoded, tile, precision=precision,
                            threads=threads)
        return
    quantizer = bitstream_quantizer(entry, payload) if is_conditioned(model) else None
    coefficients = read_coefficients(payload) if projects_output(entry) else None
    yield from filter_luma_views(model, decoded, counts, tile, precision=precision,
                                 threads=threads, quantizer=quantizer,
                                 coefficients=coefficients)


def projects_output(entry: ModelEntry) -> bool:
    """Whether a registered network's output is projected onto its bitstream's quantisation
    intervals (`consistency`): pixel-domain luma networks on JPEGs. (DCT-domain ones decode
    from the coefficients themselves.)"""
    return entry.channels == "y" and entry.codec == "jpeg" and input_kind(entry.arch) != "dct"


def decode_dct(model: nn.Module, payload: bytes, decoded: np.ndarray, tile: int | None = None,
               *, precision: Precision = "fp32", threads: int | None = None) -> np.ndarray:
    """A DCT-domain network's decode of the JPEG `payload`: its luma straight from the
    file's coefficients (no pixel decode). `decoded` (the caller's decode of the same file)
    gives the shape and, for colour, the chroma, which the network does not produce.
    uint8 of `decoded`'s shape."""
    _check_gray_or_rgb(decoded)
    plane, (height, width) = read_plane(payload)
    if (height, width) != decoded.shape[:2]:
        raise RcodecError(f"JPEG payload is {width}x{height} but the decoded image is "
                          f"{decoded.shape[1]}x{decoded.shape[0]}")
    # Tiles start on the block grid (the model's alignment is 8), so tiling is exact here too.
    luma = restore_array(model, plane[..., None], tile, precision=precision, threads=threads)
    return replace_luma(decoded, luma[:height, :width, 0])
