"""Tests of rcodec.metrics against values worked out by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim as library_ms_ssim
from pytorch_msssim import ssim as library_ssim

from rcodec.errors import RcodecError
from rcodec.metrics import (
    METRICS,
    MS_SSIM_WEIGHTS,
    _ms_ssim_loop,
    ms_ssim,
    ms_ssim_scales,
    pooled_psnr,
    psnr,
    psnr_b,
    psnr_from_sse,
    rgb_to_matlab_y,
    sse,
    ssim,
)

C1 = (0.01 * 255) ** 2  # 6.5025
C2 = (0.03 * 255) ** 2  # 58.5225


def rng_image(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def add_noise(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=img.shape)
    return np.clip(np.rint(img + noise), 0, 255).astype(np.uint8)


# --- sse ----------------------------------------------------------------------------------


def test_sse_hand_2x2() -> None:
    a = np.array([[0, 10], [20, 30]], dtype=np.uint8)
    b = np.array([[1, 8], [20, 35]], dtype=np.uint8)
    # differences -1, 2, 0, -5 -> 1 + 4 + 0 + 25 = 30
    result = sse(a, b)
    assert result == 30
    assert type(result) is int


def test_sse_does_not_wrap_in_uint8() -> None:
    # uint8 arithmetic would give (10 - 30) % 256 = 236 and 236**2 % 256 = 144, not 400.
    a = np.array([[10]], dtype=np.uint8)
    b = np.array([[30]], dtype=np.uint8)
    assert sse(a, b) == 400
    assert sse(b, a) == 400


def test_sse_large_total_is_exact() -> None:
    # 100*100*3 = 30000 samples each off by 255: 30000 * 65025 = 1_950_750_000 > 2**31.
    a = np.zeros((100, 100, 3), dtype=np.uint8)
    b = np.full((100, 100, 3), 255, dtype=np.uint8)
    assert sse(a, b) == 1_950_750_000


def test_sse_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(RcodecError, match=r"\(2, 2\).*\(2, 3\)"):
        sse(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))


def test_sse_rejects_float_samples() -> None:
    with pytest.raises(RcodecError, match="integer"):
        sse(np.zeros((2, 2)), np.zeros((2, 2)))


# --- psnr ---------------------------------------------------------------------------------


def test_psnr_hand_values() -> None:
    a = np.zeros((2, 2), dtype=np.uint8)
    b = a.copy()
    b[0, 0] = 51
    # sse = 51**2 = 2601, mse = 2601 / 4 = 650.25, 255**2 / 650.25 = 65025 / 650.25 = 100
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-12)
    # with peak 51: 2601 / 650.25 = 4 -> 10 log10(4)
    assert psnr(a, b, peak=51) == pytest.approx(10 * math.log10(4), abs=1e-12)
    # same error spread over 20x20 = 400 samples: mse = 6.5025, ratio 10000 -> 40 dB
    c = np.zeros((20, 20), dtype=np.uint8)
    d = c.copy()
    d[5, 7] = 51
    assert psnr(c, d) == pytest.approx(40.0, abs=1e-12)


def test_psnr_identical_is_inf() -> None:
    img = rng_image(0, (5, 7, 3))
    assert psnr(img, img.copy()) == math.inf
    assert psnr_from_sse(0, 10) == math.inf


def test_psnr_counts_all_channels() -> None:
    a = np.zeros((1, 1, 3), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 1] = 51
    # 3 samples: mse = 2601 / 3 = 867, 65025 / 867 = 75
    assert psnr(a, b) == pytest.approx(10 * math.log10(75), abs=1e-12)


def test_psnr_from_sse_rejects_bad_counts() -> None:
    with pytest.raises(RcodecError):
        psnr_from_sse(5, 0)
    with pytest.raises(RcodecError):
        psnr_from_sse(-1, 4)


def test_pooled_psnr_hand_value() -> None:
    # image 1: 2x2 with sse 2601 (20 dB alone); image 2: 396 samples, identical (inf alone).
    # Pooled: 2601 / 400 samples -> mse 6.5025 -> 40 dB (a mean of PSNRs would be inf).
    assert pooled_psnr(2601 + 0, 4 + 396) == pytest.approx(40.0, abs=1e-12)


def test_pooled_psnr_equals_psnr_of_concatenation() -> None:
    refs = [rng_image(1, (6, 5, 3)), rng_image(2, (6, 11, 3))]
    decs = [add_noise(refs[0], 3.0, seed=3), add_noise(refs[1], 12.0, seed=4)]
    total = sum(sse(d, r) for d, r in zip(decs, refs, strict=True))
    samples = sum(r.size for r in refs)
    joined = psnr(np.concatenate(decs, axis=1), np.concatenate(refs, axis=1))
    assert pooled_psnr(total, samples) == pytest.approx(joined, abs=1e-12)
    mean_of_psnrs = (psnr(decs[0], refs[0]) + psnr(decs[1], refs[1])) / 2
    assert abs(pooled_psnr(total, samples) - mean_of_psnrs) > 0.1


# --- PSNR-B -------------------------------------------------------------------------------


def blocky_16x16() -> np.ndarray:
    """Four 8x8 blocks with bases 0, 10 / 20, 30 plus a ramp x % 8 inside each block."""
    img = np.zeros((16, 16), dtype=np.int64)
    img[:8, 8:] = 10
    img[8:, :8] = 20
    img[8:, 8:] = 30
    img += np.arange(16) % 8  # adds 0..7 along each row of each block
    return img.astype(np.uint8)


def test_psnr_b_hand_16x16() -> None:
    dec = blocky_16x16()
    ref = (dec.astype(np.int64) + 1).astype(np.uint8)  # MSE = 1
    # Horizontal pairs: 16 rows x 15 = 240. Boundary pair (7, 8) once per row: 16 pairs.
    #   rows 0-7: (0 + 7) vs (10 + 0) -> 3**2 = 9; rows 8-15: (20 + 7) vs (30 + 0) -> 9.
    #   boundary sum 16 * 9 = 144. The other 224 pairs step the ramp by 1: sum 224.
    # Vertical pairs: 15 x 16 columns = 240. Boundary pair (7, 8) once per column: 16 pairs.
    #   cols 0-7: base 0 vs 20 -> 400; cols 8-15: 10 vs 30 -> 400. Sum 16 * 400 = 6400.
    #   The other 224 vertical pairs are equal: sum 0.
    d_b = (144 + 6400) / (16 + 16)  # 204.5
    d_bc = (224 + 0) / (224 + 224)  # 0.5
    assert (d_b, d_bc) == (204.5, 0.5)
    eta = 3 / 4  # log2(8) / log2(16)
    bef = eta * (d_b - d_bc)  # 153
    assert bef == 153.0
    expected = 10 * math.log10(255**2 / (1 + 153))
    assert psnr_b(dec, ref) == pytest.approx(expected, abs=1e-10)
    # The penalty is real: well below the plain PSNR of 10 log10(65025) = 48.13 dB.
    assert psnr(dec, ref) - psnr_b(dec, ref) > 20


def test_psnr_b_colour_is_mean_of_channel_bef() -> None:
    dec = np.zeros((16, 16, 3), dtype=np.uint8)
    dec[:, :, 0] = blocky_16x16()  # BEF 153 (above)
    dec[:, :, 1] = 40  # flat: BEF 0
    dec[:, :, 2] = 90  # flat: BEF 0
    ref = (dec.astype(np.int64) + 1).astype(np.uint8)  # MSE over all samples = 1
    expected = 10 * math.log10(255**2 / (1 + (153 + 0 + 0) / 3))
    assert psnr_b(dec, ref) == pytest.approx(expected, abs=1e-10)


def test_psnr_b_penalises_the_decoded_image_only() -> None:
    blocky = blocky_16x16()
    flat = np.full((16, 16), 15, dtype=np.uint8)
    # The flat image has no block edges, so as the decoded image PSNR-B is its PSNR.
    assert psnr_b(flat, blocky) == pytest.approx(psnr(flat, blocky), abs=1e-12)
    assert psnr_b(blocky, flat) < psnr(blocky, flat) - 1


def test_psnr_b_no_bonus_when_edges_are_smoother_than_the_inside() -> None:
    # Each row repeats 0, 50, 0, 50, 0, 50, 0, 0 per block: boundary pairs (7, 8) are 0 vs 0,
    # so D_B = 0, while 12 of the 14 inner horizontal pairs per row differ by 50:
    # D_Bc = 16 * 12 * 2500 / 448 > D_B. BEF is then 0 (never negative): PSNR-B = PSNR.
    row = np.tile([0, 50, 0, 50, 0, 50, 0, 0], 2)
    dec = np.tile(row, (16, 1)).astype(np.uint8)
    ref = np.full((16, 16), 20, dtype=np.uint8)
    assert psnr_b(dec, ref) == pytest.approx(psnr(dec, ref), abs=1e-12)


def test_psnr_b_no_boundary_inside_one_block() -> None:
    # With block=16 a 16x16 image has no pair (15, 16): BEF 0, PSNR-B = PSNR.
    dec = blocky_16x16()
    ref = np.full((16, 16), 17, dtype=np.uint8)
    assert psnr_b(dec, ref, block=16) == pytest.approx(psnr(dec, ref), abs=1e-12)


def test_psnr_b_odd_size_against_pair_by_pair_count() -> None:
    # 13x21, not a multiple of 8: count the pairs one by one, independently of the code.
    dec = rng_image(5, (13, 21)).astype(np.int64)
    dec[:, 8:] = np.clip(dec[:, 8:] + 60, 0, 255)  # make the first column boundary blocky
    dec[8:, :] = np.clip(dec[8:, :] - 60, 0, 255)
    ref = rng_image(6, (13, 21)).astype(np.int64)
    h, w = dec.shape
    edge_sum = edge_n = inner_sum = inner_n = 0
    for i in range(h):
        for j in range(w):
            for ni, nj in ((i, j + 1), (i + 1, j)):
                if ni >= h or nj >= w:
                    continue
                diff2 = int(dec[i, j] - dec[ni, nj]) ** 2
                straddles = (nj == j + 1 and nj % 8 == 0) or (ni == i + 1 and ni % 8 == 0)
                if straddles:
                    edge_sum, edge_n = edge_sum + diff2, edge_n + 1
                else:
                    inner_sum, inner_n = inner_sum + diff2, inner_n + 1
    # boundaries at column pairs (7, 8), (15, 16) in 13 rows; row pair (7, 8) in 21 columns
    assert edge_n == 13 * 2 + 21 * 1
    assert inner_n == 13 * 20 + 12 * 21 - edge_n
    d_b, d_bc = edge_sum / edge_n, inner_sum / inner_n
    assert d_b > d_bc
    mse = float(np.mean((dec - ref) ** 2))
    expected = 10 * math.log10(255**2 / (mse + 3 / math.log2(13) * (d_b - d_bc)))
    got = psnr_b(dec.astype(np.uint8), ref.astype(np.uint8))
    assert got == pytest.approx(expected, abs=1e-10)


def test_psnr_b_tiny_images() -> None:
    strip_dec = rng_image(7, (1, 20))
    strip_ref = rng_image(8, (1, 20))
    assert psnr_b(strip_dec, strip_ref) == pytest.approx(psnr(strip_dec, strip_ref), abs=1e-12)
    one = np.array([[9]], dtype=np.uint8)
    assert psnr_b(one, one) == math.inf
    with pytest.raises(RcodecError):
        psnr_b(one, one, block=1)


# --- SSIM ---------------------------------------------------------------------------------


def test_ssim_identical_is_one() -> None:
    img = rng_image(10, (32, 40, 3))
    assert ssim(img, img.copy()) == pytest.approx(1.0, abs=1e-12)
    assert ssim(img[:, :, 0], img[:, :, 0]) == pytest.approx(1.0, abs=1e-12)


def test_ssim_decreases_with_noise() -> None:
    img = rng_image(11, (32, 32, 3))
    img = np.repeat(np.repeat(img[::4, ::4], 4, 0), 4, 1)  # some structure
    low, high = ssim(add_noise(img, 4.0), img), ssim(add_noise(img, 25.0), img)
    assert 1.0 > low > high


def test_ssim_constant_images_hand_value() -> None:
    # Constant 100 vs 110: every window has zero variance and covariance, so the contrast-
    # structure term is C2 / C2 = 1 and SSIM = (2*100*110 + C1) / (100**2 + 110**2 + C1).
    a = np.full((12, 15), 100, dtype=np.uint8)
    b = np.full((12, 15), 110, dtype=np.uint8)
    expected = (22000 + C1) / (22100 + C1)
    assert ssim(a, b) == pytest.approx(expected, rel=1e-12)


def test_ssim_matches_pytorch_msssim_defaults() -> None:
    a, b = rng_image(12, (40, 37, 3)), rng_image(13, (40, 37, 3))
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].double()
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].double()
    # The library builds its window in float32; ours is float64, hence the tolerance.
    assert ssim(a, b) == pytest.approx(float(library_ssim(ta, tb, data_range=255)), abs=1e-6)


def test_ssim_small_image_uses_global_ssim() -> None:
    # 1x2 gray, x = [0, 2], y = [0, 0]: means 1 and 0, variances 1 and 0, covariance 0.
    # SSIM = (2*1*0 + C1) / (1 + 0 + C1) * (2*0 + C2) / (1 + 0 + C2)
    x = np.array([[0, 2]], dtype=np.uint8)
    y = np.array([[0, 0]], dtype=np.uint8)
    expected = C1 / (1 + C1) * C2 / (1 + C2)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-12)
    assert ms_ssim(x, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (3, 200), (10, 10, 3), (10, 11)])
def test_ssim_tiny_images_do_not_raise(shape: tuple[int, ...]) -> None:
    a, b = rng_image(14, shape), rng_image(15, shape)
    assert ssim(a, a.copy()) == 1.0
    assert ms_ssim(a, a.copy()) == 1.0
    assert -1.0 <= ssim(a, b) < 1.0
    assert 0.0 <= ms_ssim(a, b) < 1.0


def test_ssim_shape_mismatch_raises() -> None:
    with pytest.raises(RcodecError, match="shape"):
        ssim(np.zeros((12, 12), np.uint8), np.zeros((12, 13), np.uint8))
    with pytest.raises(RcodecError, match="HxW"):
        ms_ssim(np.zeros((2, 12, 12, 3), np.uint8), np.zeros((2, 12, 12, 3), np.uint8))


# --- MS-SSIM ------------------------------------------------------------------------------


def test_ms_ssim_scale_counts() -> None:
    # 161 -> 81 -> 41 -> 21 -> 11: five scales; 160 -> 80 -> 40 -> 20 -> 10: four.
    assert ms_ssim_scales(161, 500) == 5
    assert ms_ssim_scales(500, 160) == 4
    assert ms_ssim_scales(81, 81) == 4
    assert ms_ssim_scales(80, 80) == 3
    assert ms_ssim_scales(21, 30) == 2
    assert ms_ssim_scales(20, 30) == 1
    assert ms_ssim_scales(11, 11) == 1
    assert ms_ssim_scales(10, 1000) == 0
    assert ms_ssim_scales(4000, 4000) == 5


def test_ms_ssim_identical_and_noise() -> None:
    img = rng_image(20, (24, 24, 3))
    img = np.repeat(np.repeat(img, 8, 0), 8, 1)  # 192x192, five scales
    assert ms_ssim(img, img.copy()) == pytest.approx(1.0, abs=1e-12)
    low, high = ms_ssim(add_noise(img, 4.0), img), ms_ssim(add_noise(img, 30.0), img)
    assert 1.0 > low > high


def test_ms_ssim_constant_images_five_scales_hand_value() -> None:
    # 176 = 11 * 16 halves without padding down to 11. Constant images keep contrast-
    # structure 1 at every scale, so MS-SSIM = luminance ** 0.1333 (the coarsest weight).
    a = np.full((176, 176), 100, dtype=np.uint8)
    b = np.full((176, 176), 110, dtype=np.uint8)
    lum = (22000 + C1) / (22100 + C1)
    assert ms_ssim(a, b) == pytest.approx(lum**0.1333, rel=1e-12)


def test_ms_ssim_constant_images_four_scales_renormalised_weight() -> None:
    # 88 -> 44 -> 22 -> 11: four scales; the coarsest weight becomes
    # 0.2363 / (0.0448 + 0.2856 + 0.3001 + 0.2363) = 0.2363 / 0.8668.
    a = np.full((88, 88), 100, dtype=np.uint8)
    b = np.full((88, 88), 110, dtype=np.uint8)
    lum = (22000 + C1) / (22100 + C1)
    assert ms_ssim(a, b) == pytest.approx(lum ** (0.2363 / 0.8668), rel=1e-12)


def test_ms_ssim_fallback_loop_matches_library_on_five_scales() -> None:
    # The few-scale path must follow pytorch_msssim's conventions (odd-side padding etc.).
    a, b = rng_image(21, (170, 165, 3)), rng_image(22, (170, 165, 3))
    b = ((a.astype(np.int64) * 3 + b) // 4).astype(np.uint8)  # correlated, MS-SSIM well > 0
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].double()
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].double()
    expected = float(library_ms_ssim(ta, tb, data_range=255))
    assert 0.2 < expected < 0.99
    assert _ms_ssim_loop(ta, tb, MS_SSIM_WEIGHTS) == pytest.approx(expected, abs=1e-6)
    assert ms_ssim(a, b) == pytest.approx(expected, abs=1e-6)


# --- MATLAB luma --------------------------------------------------------------------------


def test_matlab_y_hand_values() -> None:
    rgb = np.array(
        [
            [[255, 255, 255], [0, 0, 0], [255, 0, 0]],
            [[0, 255, 0], [0, 0, 255], [100, 100, 100]],
            [[22, 206, 0], [0, 0, 0], [0, 0, 0]],
        ],
        dtype=np.uint8,
    )
    y = rgb_to_matlab_y(rgb)
    assert y.dtype == np.uint8 and y.shape == (3, 3)
    # white: 16 + 219 = 235; black: 16; red: 16 + 65.481 = 81.481 -> 81;
    # green: 16 + 128.553 = 144.553 -> 145; blue: 16 + 24.966 = 40.966 -> 41;
    # gray 100: 16 + 100 * 219 / 255 = 101.88 -> 102;
    # (22, 206, 0): 16 + (1440.582 + 26481.918) / 255 = 16 + 27922.5 / 255 = 125.5 exactly,
    # which rounds up to 126 (the float64 formula lands on 125.49999999999999).
    assert y.tolist() == [[235, 16, 81], [145, 41, 102], [126, 16, 16]]


def test_matlab_y_rejects_non_rgb() -> None:
    with pytest.raises(RcodecError):
        rgb_to_matlab_y(np.zeros((4, 4), np.uint8))
    with pytest.raises(RcodecError):
        rgb_to_matlab_y(np.zeros((4, 4, 3), np.float32))


# --- registry -----------------------------------------------------------------------------


def test_metrics_registry() -> None:
    assert set(METRICS) == {"psnr", "ms_ssim", "ssim", "psnr_b"}
    dec = np.stack([blocky_16x16()] * 3, axis=-1)
    ref = np.full((16, 16, 3), 12, dtype=np.uint8)
    for name, metric in METRICS.items():
        value = metric(dec, ref)
        assert isinstance(value, float), name
        assert math.isfinite(value), name
    assert METRICS["psnr_b"](dec, ref) < METRICS["psnr"](dec, ref)
