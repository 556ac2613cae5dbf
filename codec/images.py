"""Reading and writing images with one-line errors, pixel caps and atomic output."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from rcodec.codec import bpg, jpeg  # (bpg registers its Pillow plugin)
from rcodec.codec.limits import pixel_cap
from rcodec.errors import FormatError, RcodecError
from rcodec.fileio import atomic_write_bytes

# Pillow's decompression-bomb cap for input images (its warning is made an error below).
Image.MAX_IMAGE_PIXELS = pixel_cap(Image.MAX_IMAGE_PIXELS)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm",
                            ".pnm", ".webp", ".bpg", ".gif"})


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes; an unreadable file is an RcodecError naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise RcodecError(f"{path}: cannot read ({error.strerror or error})") from None


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open and fully load an image file; any failure becomes a FormatError naming the file."""
    path = Path(path)
    data = read_bytes(path)
    try:  # our header checks first: pixel caps, scan limit, and a clearer message than Pillow's
        if data.startswith(bpg.MAGIC):
            bpg.BpgHeader.parse(data)
        elif data.startswith(b"\xff\xd8"):
            jpeg.read_header(data)
    except FormatError as error:
        raise FormatError(f"{path}: {error}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except RcodecError as error:
        raise FormatError(f"{path}: {error}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise FormatError(f"{path}: {error}") from None
    except Exception as error:  # Pillow raises many types on malformed files
        raise FormatError(f"{path}: {unreadable(data, error)}") from None
    return image


#: File signatures of the formats Pillow reads, to name a damaged file's format.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8", "JPEG"), (b"GIF8", "GIF"),
               (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"RIFF", "RIFF/WebP"),
               (b"BPG\xfb", "BPG"))


def unreadable(data: bytes, error: Exception) -> str:
    """Why Pillow could not read `data`, said about the file rather than Pillow's buffer."""
    return f"not a readable image ({_what_it_is(data, error)})"


def _what_it_is(data: bytes, error: Exception) -> str:
    if not isinstance(error, Image.UnidentifiedImageError):
        return str(error).splitlines()[0] if str(error) else repr(error)
    if not data:
        return "the file is empty"
    head = data[:64]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return f"the file is text: {head[:24].decode()!r}..."
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return f"a damaged or truncated {name} file"
    return f"no format rcodec reads starts with the bytes {head[:8].hex(' ')}"


def image_shape(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(height, width) from the file's header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError as error:
        if not isinstance(error, Image.UnidentifiedImageError):
            raise RcodecError(f"{path}: cannot read ({error.strerror or error})") from None
        raise FormatError(f"{path}: {unreadable(read_bytes(path), error)}") from None
    except Exception as error:  # Pillow raises many types on malformed headers
        raise FormatError(f"{path}: {unreadable(b'?', error)}") from None
    return height, width


def to_rgb(image: Image.Image) -> np.ndarray:
    """HxWx3 uint8 RGB: gray is replicated, alpha dropped, 16-bit samples rounded to 8 bits."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        gray = np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB (what the sweep, plan and metrics work on)."""
    return to_rgb(open_image(path))


def list_images(directory: str | os.PathLike[str]) -> list[Path]:
    """The image files directly inside `directory`, sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RcodecError(f"{directory}: not a directory")
    paths = sorted(p for p in directory.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise RcodecError(f"{directory}: no images found "
                          f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    _check_unique_stems(paths, directory)
    return paths


def image_paths(images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                ) -> list[Path]:
    """A folder's images (as `list_images`), or a list of image files, sorted by name."""
    if isinstance(images, str | os.PathLike):
        return list_images(images)
    paths = sorted(Path(p) for p in images)
    if not paths:
        raise RcodecError("no images given")
    for path in paths:
        if not path.is_file():
            raise RcodecError(f"{path}: no such image file")
    _check_unique_stems(paths, "the images given")
    return paths


def _check_unique_stems(paths: Sequence[Path], where: object) -> None:
    stems = [p.stem for p in paths]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise RcodecError(f"{where}: several images share the name {duplicates[0]!r}; "
                          "outputs are named after the stem, so stems must be unique")


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 gray/RGB/RGBA (or uint16 RGB) array as PNG."""
    if array.dtype == np.uint16 and array.ndim == 3:
        return _png16(array)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_png(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write an image array as PNG, atomically."""
    atomic_write_bytes(path, png_bytes(array))


def _png16(array: np.ndarray) -> bytes:
    """16-bit RGB(A) PNG, which Pillow cannot write."""
    height, width, channels = array.shape
    color_type = {3: 2, 4: 6}[channels]
    rows = array.astype(">u2").reshape(height, width * channels).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
