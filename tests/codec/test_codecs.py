"""The codec contract, for every registered codec: encode -> bytes the registry recognises,
decode -> the picture the header describes, the same pixels on every call and for any
thread count, pixel caps checked before decoding, damaged files refused as FormatError."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rcodec.codec import container, registry
from rcodec.errors import EncodeError, FormatError, RcodecError
from rcodec.postfilter.pipeline import decode_bytes

CODECS = registry.names()


def photo(height: int = 48, width: int = 70) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([128 + 90 * np.sin(x / 7 + y / 11), 128 + 80 * np.cos(y / 5 - x / 13),
                      60 + 2 * x + y], axis=-1)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def test_six_codecs_are_registered() -> None:
    assert set(CODECS) == {"bpg", "jpeg", "avif", "webp", "jxl", "j2k"}
    suffixes = [s for n in CODECS for s in registry.codec_class(n).suffixes]
    assert len(suffixes) == len(set(suffixes))


@pytest.mark.parametrize("name", CODECS)
def test_round_trip_and_recognition(name: str) -> None:
    cls = registry.codec_class(name)
    image = photo()
    low, high = cls.quantizer_range
    best, worst = (low, high) if cls.quantizer_lowers_rate else (high, low)
    fine, coarse = (registry.make_codec(name).encode(image, q) for q in (best, worst))
    for data in (fine, coarse):
        assert registry.codec_for_bytes(data) is cls
        assert registry.codec_for_bytes(data[: cls.sniff_bytes]) is cls
        info = cls.info(data)
        assert (info["width"], info["height"]) == (70, 48)
        decoded = registry.make_codec(name).decode(data)
        assert decoded.dtype == np.uint8 and decoded.shape == image.shape
    assert len(coarse) < len(fine)  # the quantizer's direction is what the registry says
    errors = [np.mean((registry.make_codec(name).decode(d).astype(float) - image) ** 2)
              for d in (fine, coarse)]
    assert errors[0] < errors[1] and errors[0] < 12
    # In a container the codec is told apart by its magic bytes, selector first.
    packed = container.pack(container.NO_FILTER, coarse)
    assert container.unpack(packed).codec == name
    assert np.array_equal(decode_bytes(packed), registry.make_codec(name).decode(coarse))


@pytest.mark.parametrize("name", CODECS)
def test_same_bytes_and_pixels_every_time(name: str) -> None:
    cls = registry.codec_class(name)
    image = photo(96, 128)
    one, two = (registry.make_codec(name, threads=t) for t in (1, 2))
    data = one.encode(image, cls.typical_quantizer)
    assert two.encode(image, cls.typical_quantizer) == data
    first = one.decode(data)
    for codec in (one, two, one):
        assert np.array_equal(codec.decode(data), first)


@pytest.mark.parametrize("name", CODECS)
def test_gray_images(name: str) -> None:
    cls = registry.codec_class(name)
    gray = photo()[..., 1]
    low, high = cls.quantizer_range
    best = low if cls.quantizer_lowers_rate else high
    decoded = registry.make_codec(name).decode(registry.make_codec(name).encode(
        gray, best)).astype(np.float64)
    assert decoded.shape[:2] == gray.shape
    luma = decoded if decoded.ndim == 2 else decoded.mean(axis=2)
    assert np.mean(np.abs(luma - gray)) < 3


@pytest.mark.parametrize("name", CODECS)
def test_pixel_cap_is_checked_from_the_header(name: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cls = registry.codec_class(name)
    data = registry.make_codec(name).encode(photo(), cls.typical_quantizer)
    module = sys.modules[cls.__module__]
    monkeypatch.setattr(module, "MAX_IMAGE_PIXELS", 70 * 48 - 1)
    with pytest.raises(FormatError, match="pixel cap|limit"):
        registry.make_codec(name).decode(data)
    monkeypatch.setattr(module, "MAX_IMAGE_PIXELS", 70 * 48)
    assert registry.make_codec(name).decode(data).shape[:2] == (48, 70)
    registry.set_pixel_cap(70 * 48 - 1)  # one cap for every codec
    try:
        with pytest.raises(FormatError):
            registry.make_codec(name).decode(data)
    finally:
        registry.set_pixel_cap(1 << 28)
        monkeypatch.delenv("RCODEC_MAX_PIXELS", raising=False)


@pytest.mark.parametrize("name", CODECS)
def test_damaged_files_are_refused(name: str) -> None:
    cls = registry.codec_class(name)
    data = registry.make_codec(name).encode(photo(), cls.typical_quantizer)
    for damaged in (data[:12], data[: len(data) // 3], data[:20] + bytes(len(data) - 20)):
        try:
            decoded = registry.make_codec(name).decode(damaged)
        except RcodecError:
            continue
        assert decoded.shape[:2] == (48, 70)  # accepted damage still gives the header's size
    with pytest.raises(FormatError):
        registry.make_codec(name).decode(b"not an image at all")


@pytest.mark.parametrize("name", CODECS)
def test_bad_quantizer_and_input(name: str) -> None:
    cls = registry.codec_class(name)
    low, high = cls.quantizer_range
    with pytest.raises(EncodeError):
        registry.make_codec(name).encode(photo(), high + 1)
    with pytest.raises(EncodeError):
        registry.make_codec(name).encode(photo().astype(np.float32), low)
