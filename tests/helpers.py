"""Test helpers: paths to bundled data, a reader for 16-bit PNGs (which Pillow narrows), a
synthetic image maker, registry entries for test networks and an importer for scripts/."""

from __future__ import annotations

import importlib.util
import struct
import types
import zlib
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
BPG_VECTORS = DATA / "bpg"


def read_png16(path: Path) -> np.ndarray:
    """Decode a non-interlaced 16-bit RGB or gray PNG to uint16 (Pillow gives 8-bit RGB)."""
    data = path.read_bytes()
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color_type, _, _, interlace = header
    assert depth == 16 and interlace == 0 and color_type in (0, 2, 4, 6)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    bpp = 2 * channels
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.int32)
    prior = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        row = np.zeros(stride, np.int32)
        for x in range(stride):
            left = row[x - bpp] if x >= bpp else 0
            up = prior[x]
            up_left = prior[x - bpp] if x >= bpp else 0
            if kind == 0:
                predictor = 0
            elif kind == 1:
                predictor = left
            elif kind == 2:
                predictor = up
            elif kind == 3:
                predictor = (left + up) // 2
            else:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
            row[x] = (line[x] + predictor) & 0xFF
        out[y] = prior = row
    samples = out.astype(np.uint16).reshape(height, width * channels, 2)
    return ((samples[..., 0] << 8) | samples[..., 1]).reshape(height, width, channels)


def sample_crops(folder: Path, box: tuple[int, int, int, int], count: int | None = None) -> Path:
    """`folder` (created) holding the first `count` bundled photographs (all when None) as RGB
    PNG crops to `box` (left, top, right, bottom): small inputs that keep a test quick."""
    from PIL import Image

    from rcodec.codec.samples import sample_paths

    folder.mkdir(parents=True, exist_ok=True)
    for path in sample_paths()[:count]:
        Image.open(path).convert("RGB").crop(box).save(folder / f"{path.stem}.png")
    return folder


def random_plane(height: int, width: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Smooth gradients plus noise, HxWxC uint8, so outputs span many values."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 2.0, yy * 3.0, (xx + yy) * 1.5][:channels], -1) % 256
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def save_entry(tmp_path: Path, monkeypatch, model, arch: str, **fields):
    """A registry entry for `model`, its weights saved in tmp_path and served from there."""
    from rcodec.postfilter import inference
    from rcodec.postfilter import weights as weights_mod
    from rcodec.postfilter.models import parameter_count
    from rcodec.postfilter.registry import ModelEntry
    from rcodec.postfilter.weights import save_weights

    digest = save_weights(model, tmp_path / f"{arch}.safetensors")
    monkeypatch.setattr(weights_mod, "weights_dir", lambda: tmp_path)
    inference._MODELS.clear()
    return ModelEntry(f"jpeg-{arch}", 201, arch, {}, "jpeg", (5, 15), f"{arch}.safetensors",
                      digest, parameter_count(model), **fields)


def load_script(name: str) -> types.ModuleType:
    """A file of scripts/ (whose names have hyphens) imported as a module."""
    path = Path(__file__).resolve().parents[1] / "scripts" / name
    spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
