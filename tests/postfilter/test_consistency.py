"""Projection of luma estimates onto a JPEG's quantisation intervals (postfilter.consistency)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_plane

from rcodec.codec.jpeg import JpegCodec
from rcodec.codec.jpeg_dct import (
    DCT_MATRIX,
    blocks_to_image,
    dct_blocks,
    idct_blocks,
    image_to_blocks,
    read_coefficients,
)
from rcodec.postfilter.consistency import (
    interval_plane,
    project_luma,
    project_onto_intervals,
    project_tensor,
)


def test_blocks_round_trip_with_edge_padding() -> None:
    image = random_plane(13, 21, 0)[..., 0].astype(np.float64)
    blocks = image_to_blocks(image, (2, 3))
    assert blocks.shape == (2, 3, 8, 8)
    assert np.array_equal(blocks[1, 2, :, 4:], np.repeat(blocks[1, 2, :, 4:5], 4, axis=1))
    assert np.array_equal(blocks_to_image(blocks, image.shape), image)
    assert np.allclose(idct_blocks(dct_blocks(blocks)), blocks)


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_original_is_a_fixed_point_and_estimates_come_closer(quality: int) -> None:
    original = random_plane(45, 61, quality)[..., 0]
    payload = JpegCodec().encode(original, quality)
    coefficients = read_coefficients(payload)
    truth = original.astype(np.float64)
    # libjpeg-turbo rounds each coefficient of the original to nearest (its integer DCT
    # is within a few hundredths of the exact one), so the original hardly moves.
    assert np.abs(project_luma(truth, coefficients) - truth).max() < 0.05
    rng = np.random.default_rng(quality)
    for noise in (2.0, 8.0):
        estimate = truth + rng.normal(0, noise, truth.shape)
        projected = project_luma(estimate, coefficients)
        before = np.mean((estimate - truth) ** 2)
        after = np.mean((projected - truth) ** 2)
        assert after < before  # non-expansive, and the noise leaves the box
        # Every pixel the image has, the partial edge blocks' too, is part of the result.
        assert projected.shape == truth.shape
        # The guarantee holds block by block in the padded block the encoder coded: in the
        # partial corner block (rows 40-44, columns 56-60 of 48 x 64 padded), the last row
        # and column count four times (themselves and three copies), the corner sixteen.
        weight = np.outer([1, 1, 1, 1, 4], [1, 1, 1, 1, 4])
        corner = (slice(40, None), slice(56, None))
        after_corner = np.sum(weight * (projected[corner] - truth[corner]) ** 2)
        assert after_corner <= np.sum(weight * (estimate[corner] - truth[corner]) ** 2) + 1e-6


def test_other_sizes_are_left_alone() -> None:
    payload = JpegCodec().encode(random_plane(16, 16, 1)[..., 0], 30)
    estimate = np.full((8, 8), 100.0)
    assert project_luma(estimate, read_coefficients(payload)) is estimate


def test_the_sweep_keys_projected_outputs_apart() -> None:
    """Cached sweep rows of a JPEG luma network from before the projection are never
    served for its projected outputs; BPG, colour and DCT-domain networks keep their keys."""
    from rcodec.optimize.request import spec_of
    from rcodec.postfilter import registry

    keyed = {e.name: "projection" in spec_of(e).cache_key() for e in registry.load_registry()}
    assert keyed["jpeg-uqy-10-60-v3"] and keyed["jpeg-l8-q10-v2-x4"]
    assert not keyed["jpeg-hrcnn-q10"] and not keyed["jpeg-block-context-q10"]
    assert not any(keyed[name] for name in keyed if name.startswith("bpg-"))


def test_bands_of_blocks_give_the_whole_image_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from rcodec.postfilter import consistency

    original = random_plane(45, 61, 3)[..., 0]
    coefficients = read_coefficients(JpegCodec().encode(original, 20))
    estimate = original + np.random.default_rng(3).normal(0, 6, original.shape)
    whole = project_luma(estimate, coefficients)  # 6 block rows: one band
    assert whole.dtype == np.float32
    monkeypatch.setattr(consistency, "BAND_BLOCK_ROWS", 1)
    assert np.array_equal(project_luma(estimate, coefficients), whole)
    monkeypatch.setattr(consistency, "BAND_BLOCK_ROWS", 4)
    assert np.array_equal(project_luma(estimate, coefficients), whole)


def noisy_jpeg(height: int, width: int, quality: int, seed: int):
    """(original luma as float, its JPEG's coefficients, a noisy estimate of the original)."""
    original = random_plane(height, width, seed)[..., 0]
    coefficients = read_coefficients(JpegCodec().encode(original, quality))
    truth = original.astype(np.float64)
    return truth, coefficients, truth + np.random.default_rng(seed).normal(0, 8, truth.shape)


def test_interval_windows_project_as_the_file_does() -> None:
    _, coefficients, estimate = noisy_jpeg(45, 61, 10, 4)
    plane = interval_plane(coefficients)
    assert plane.shape == (48, 64, 2) and np.all(plane[..., 0] < plane[..., 1])
    whole = project_luma(estimate, coefficients)
    assert np.array_equal(project_onto_intervals(estimate, plane), whole)  # edge blocks too
    # The projection is block by block: a window on the block grid gets the same pixels.
    window = (slice(8, 40), slice(16, 56))
    assert np.array_equal(project_onto_intervals(estimate[window], plane[window]),
                          whole[window])


def test_tensor_projection_is_the_decoders_and_passes_gradients_inside() -> None:
    truth, coefficients, estimate = noisy_jpeg(40, 56, 10, 5)
    plane = torch.from_numpy(interval_plane(coefficients)).permute(2, 0, 1)[None]
    batch = torch.tensor(np.stack([estimate, truth]) / 255, dtype=torch.float32)[:, None]
    projected = project_tensor(batch, plane.expand(2, -1, -1, -1))
    assert projected.shape == (2, 1, 40, 56)
    expected = project_luma(estimate, coefficients)
    assert np.abs(projected[0, 0].numpy() * 255 - expected).max() < 1e-3
    assert np.abs(projected[1, 0].numpy() * 255 - truth).max() < 0.05  # a fixed point
    # Inside the box the projection is the identity, and so is its gradient; the noisy
    # estimate has coefficients outside, whose gradient the clipping stops.
    weights = torch.randn(2, 1, 40, 56)
    batch.requires_grad_(True)
    (project_tensor(batch, plane.expand(2, -1, -1, -1)) * weights).sum().backward()
    assert torch.allclose(batch.grad[1], weights[1], atol=1e-4)
    lower, upper = (image_to_blocks(interval_plane(coefficients)[..., k], (5, 7)) for k in (0, 1))
    spectrum = dct_blocks(image_to_blocks(estimate, (5, 7)))
    inside = (spectrum > lower) & (spectrum < upper)
    assert 0.1 < inside.mean() < 0.99
    passed = DCT_MATRIX @ image_to_blocks(weights[0, 0].double().numpy(), (5, 7)) @ DCT_MATRIX.T
    expected = blocks_to_image(DCT_MATRIX.T @ (passed * inside) @ DCT_MATRIX)
    assert np.abs(batch.grad[0, 0].numpy() - expected).max() < 1e-3
    with pytest.raises(ValueError, match="whole 8x8 blocks"):
        project_tensor(batch[:, :, :36], plane[:, :, :36])
