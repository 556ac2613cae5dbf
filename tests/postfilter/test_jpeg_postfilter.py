"""The JPEG artifact-removal networks: sizes from their specs, receptive fields, tiling,
luma filtering, the DCT-domain input path, and training on Y pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import random_plane, save_entry

from rcodec.postfilter import inference
from rcodec.postfilter.inference import restore_array
from rcodec.postfilter.jpeg_models import JPEG_ARCHITECTURES
from rcodec.postfilter.losses import edge_emphasised_loss, sobel, sobel_edge_loss
from rcodec.postfilter.models import (
    ARCHITECTURES,
    build,
    input_kind,
    parameter_count,
    receptive_radius,
)


def conv_params(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout


# Expected sizes written from each design's layer list, not read back from the code.
EXPECTED_PARAMS = {
    "arcnn": conv_params(9, 1, 64) + conv_params(7, 64, 32) + conv_params(1, 32, 16)
    + conv_params(5, 16, 1),  # 106,561
    "fast_arcnn": conv_params(9, 1, 64) + conv_params(1, 64, 32) + conv_params(7, 32, 32)
    + conv_params(1, 32, 64) + (9 * 9 * 64 * 1 + 1),  # 64,833
    "conv_unit": (conv_params(3, 1, 64) + conv_params(1, 64, 32) + 32 + conv_params(3, 32, 64)
                  + 64)
    + 2 * (conv_params(3, 64, 64) + conv_params(1, 64, 32) + 32 + conv_params(3, 32, 64) + 64)
    + conv_params(1, 64, 32) + conv_params(5, 32, 1) + 1,  # 139,394
    "l4": conv_params(11, 1, 48) + conv_params(3, 48, 64) + conv_params(3, 64, 64)
    + conv_params(5, 64, 1),  # 72,097
    "l8": conv_params(11, 1, 32) + conv_params(3, 32, 64) + 2 * conv_params(3, 64, 64)
    + conv_params(1, 96, 64) + conv_params(5, 64, 64) + conv_params(1, 96, 128)
    + conv_params(5, 128, 1),  # 220,545
    "block_context": conv_params(5, 3, 32) + 2 * conv_params(5, 32, 32)
    + conv_params(3, 32, 16) + conv_params(3, 16, 3),  # 58,755
    "hrcnn": (64 * 64 * 8 * 8 + 64) + conv_params(5, 64, 8) + conv_params(3, 8, 1)
    + 4 * (conv_params(11, 1, 64) + conv_params(7, 64, 16) + conv_params(1, 16, 1)),  # 507,157
}

EXPECTED_RADIUS = {"arcnn": 9, "fast_arcnn": 14, "conv_unit": 8, "l4": 9, "l8": 12,
                   "block_context": 8, "hrcnn": 42}

PIXEL_ARCHS = ["arcnn", "fast_arcnn", "conv_unit", "l4", "l8", "block_context"]


def test_all_registered_next_to_the_bpg_ones() -> None:
    assert set(JPEG_ARCHITECTURES) == set(EXPECTED_PARAMS)
    assert set(JPEG_ARCHITECTURES) <= set(ARCHITECTURES)
    assert {"edsr_selu", "A", "B", "C", "M", "S"} <= set(ARCHITECTURES)
    kinds = {arch: input_kind(arch) for arch in JPEG_ARCHITECTURES}
    assert kinds == {"arcnn": "y", "fast_arcnn": "y", "conv_unit": "y", "l4": "y", "l8": "y",
                     "block_context": "rgb", "hrcnn": "dct"}
    assert input_kind("S") == "rgb"


@pytest.mark.parametrize("arch", sorted(EXPECTED_PARAMS))
def test_parameter_counts_follow_the_specs(arch: str) -> None:
    assert parameter_count(build(arch)) == EXPECTED_PARAMS[arch]


def test_sizes_named_by_the_designs() -> None:
    assert EXPECTED_PARAMS["hrcnn"] == 507_157  # "about 507,000"
    assert EXPECTED_PARAMS["block_context"] == 58_755  # "about 58,000"


@pytest.mark.parametrize("arch", sorted(EXPECTED_RADIUS))
def test_receptive_radius(arch: str) -> None:
    assert receptive_radius(build(arch)) == EXPECTED_RADIUS[arch]
    assert EXPECTED_RADIUS["l4"] * 2 + 1 == 19 and EXPECTED_RADIUS["l8"] * 2 + 1 == 25


def model_input(arch: str, image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]


@pytest.mark.parametrize("arch", PIXEL_ARCHS)
def test_radius_bounds_the_influence(arch: str) -> None:
    """A changed input pixel changes no output farther away than the radius."""
    torch.manual_seed(0)
    model = build(arch).eval()
    channels = 3 if input_kind(arch) == "rgb" else 1
    image = random_plane(61, 61, channels=channels)
    changed = image.copy()
    changed[30, 30] = 255 - changed[30, 30]
    with torch.no_grad():
        diff = (model(model_input(arch, changed)) - model(model_input(arch, image))).abs()
    ys, xs = np.nonzero(diff[0].amax(0).numpy() > 0)
    reach = max(np.abs(ys - 30).max(), np.abs(xs - 30).max())
    assert EXPECTED_RADIUS[arch] - 2 <= reach <= EXPECTED_RADIUS[arch]


def near_tie(values: np.ndarray) -> np.ndarray:
    return np.abs(values - np.floor(values) - 0.5) <= 1e-3


@pytest.mark.parametrize("arch", PIXEL_ARCHS)
def test_tiled_equals_whole_image(arch: str) -> None:
    torch.manual_seed(1)
    model = build(arch)
    channels = 3 if input_kind(arch) == "rgb" else 1
    image = random_plane(53, 71, seed=2, channels=channels)  # odd sides, not tile multiples
    whole = restore_array(model, image)
    assert whole.shape == image.shape and whole.dtype == np.float32
    for tile in (23, 40):
        tiled = restore_array(model, image, tile=tile)
        # Untrained nets output large values: compare to float32 precision at their scale.
        assert np.abs(tiled - whole).max() <= 1e-5 * max(1.0, np.abs(whole).max()), tile
        differ = inference.to_uint8(tiled) != inference.to_uint8(whole)
        assert np.all(near_tie(whole[differ])), tile


def test_fast_arcnn_keeps_odd_sizes_and_needs_aligned_windows() -> None:
    model = build("fast_arcnn").eval()
    assert inference.alignment(model) == 2 and inference.alignment(build("l4")) == 1
    with torch.no_grad():
        assert model(torch.rand(1, 1, 13, 17)).shape == (1, 1, 13, 17)
    windows = inference.tile_windows(53, 71, 23, receptive_radius(model), align=2)
    assert all(w[0] % 2 == 0 and w[2] % 2 == 0 for _, w in windows)
    # align=1 is the old behaviour: the tile grown by the radius, clipped.
    assert inference.tile_windows(70, 97, 32, 7)[1] == ((0, 32, 32, 64), (0, 39, 25, 71))


@pytest.mark.parametrize("arch", ["l4", "l8"])
def test_symmetric_init_and_residual(arch: str) -> None:
    model = build(arch)
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):
            means = layer.weight.mean(dim=(1, 2, 3))
            assert means.abs().max() < 1e-6  # every filter zero-mean at init
    last = model.body[-1] if arch == "l4" else model.layer8
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        x = torch.rand(1, 1, 20, 24)
        assert torch.equal(model(x), x)  # the net predicts a correction to its input


def test_block_context_predicts_blocks_from_their_neighbours() -> None:
    torch.manual_seed(3)
    model = build("block_context").eval()
    image = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        assert model.predict_blocks(torch.rand(2, 3, 24, 24)).shape == (2, 3, 8, 8)
        dense = model(image)
        padded = F.pad(image, (8, 8, 8, 8), mode="replicate")
        for by, bx in [(0, 0), (2, 3), (4, 5)]:  # corner, interior, opposite corner
            context = padded[..., 8 * by : 8 * by + 24, 8 * bx : 8 * bx + 24]
            block = model.predict_blocks(context)
            assert torch.allclose(block, dense[..., 8 * by : 8 * by + 8, 8 * bx : 8 * bx + 8],
                                  atol=1e-6)


def test_residual_block_context_starts_near_the_identity() -> None:
    """Its correction starts at a tenth of He scale: a full-scale one made a Q20 run's ReLUs
    die in the first hundred steps (its loss then stayed at the JPEG's own error)."""
    torch.manual_seed(0)
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        plain = build("block_context")(image)
        torch.manual_seed(0)
        correction = build("block_context", residual=True)(image) - image
    assert correction.abs().mean() < 0.2 * plain.abs().mean()
    assert correction.abs().max() > 0  # a correction all the same


def test_conv_unit_training_recipe() -> None:
    model = build("conv_unit")
    assert model.adam_betas == (0.8, 0.999) and model.lr_factors == (1.0, 0.5, 0.1)


def test_sobel_edge_loss() -> None:
    ramp = torch.arange(6.0).repeat(6, 1)[None, None]  # d/dx = 1 everywhere
    gx, gy = sobel(ramp)
    assert gx.shape == (1, 1, 4, 4) and torch.all(gx == 8) and torch.all(gy == 0)
    flat = torch.zeros_like(ramp)
    assert float(sobel_edge_loss(ramp, ramp)) == 0
    assert float(sobel_edge_loss(ramp, flat)) == pytest.approx(64.0)  # (8 - 0)^2, d/dx only
    shifted = ramp + 1  # same edges: only the MSE term sees the offset
    assert float(edge_emphasised_loss(shifted, ramp)) == pytest.approx(1.0)
    out = torch.rand(2, 3, 10, 10, requires_grad=True)
    edge_emphasised_loss(out, torch.rand(2, 3, 10, 10)).backward()
    assert out.grad is not None and torch.isfinite(out.grad).all()


# --- luma filtering -------------------------------------------------------------------------


def identity_l4() -> torch.nn.Module:
    """An L4 whose correction is zero: the identity on Y."""
    model = build("l4")
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
    return model


def test_jfif_conversion_round_trips_and_matches_pillow() -> None:
    from PIL import Image

    rgb = random_plane(40, 50, seed=4, channels=3)
    ycbcr = inference.rgb_to_ycbcr(rgb)
    assert np.array_equal(inference.to_uint8(inference.ycbcr_to_rgb(ycbcr)), rgb)
    pillow = np.asarray(Image.fromarray(rgb).convert("YCbCr")).astype(np.float64)
    assert np.abs(pillow - ycbcr).max() <= 1.0  # Pillow: JFIF in fixed point
    gray = np.full((1, 1, 3), 77, np.uint8)
    assert inference.rgb_to_ycbcr(gray)[0, 0] == pytest.approx([77, 128, 128])


def test_filter_luma_gray_and_colour() -> None:
    gray = random_plane(30, 44, seed=5)[..., 0]
    rgb = random_plane(30, 44, seed=6, channels=3)
    identity = identity_l4()
    assert np.array_equal(inference.filter_luma(identity, gray), gray)
    assert np.array_equal(inference.filter_luma(identity, gray[..., None]), gray[..., None])
    assert np.array_equal(inference.filter_luma(identity, rgb), rgb)

    torch.manual_seed(7)
    model = build("l4")
    out = inference.filter_luma(model, gray)
    assert out.shape == gray.shape and out.dtype == np.uint8
    assert np.array_equal(out, inference.to_uint8(restore_array(model, gray[..., None])[..., 0]))

    out = inference.filter_luma(model, rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    ycbcr = inference.rgb_to_ycbcr(rgb)
    ycbcr[..., 0] = restore_array(model, ycbcr[..., :1].astype(np.float32))[..., 0]
    expected = inference.ycbcr_to_rgb(ycbcr)  # new Y, the image's own chroma
    assert np.array_equal(out, inference.to_uint8(expected))
    unclipped = np.all((expected > 0) & (expected < 255), axis=2)
    after = inference.rgb_to_ycbcr(out)
    assert unclipped.mean() > 0.2
    assert np.abs(after - ycbcr)[unclipped].max() <= 1.0  # only rounding to uint8 RGB
    assert not np.array_equal(out, rgb)


def test_apply_filter_luma_network(tmp_path, monkeypatch) -> None:
    from rcodec.codec.jpeg import JpegCodec
    from rcodec.codec.jpeg_dct import read_coefficients
    from rcodec.errors import RcodecError
    from rcodec.postfilter.inference import DEFAULT_TILE, apply_filter

    torch.manual_seed(8)
    model = build("l4")
    entry = save_entry(tmp_path, monkeypatch, model, "l4", channels="y")
    for image in (random_plane(36, 41, seed=9)[..., 0], random_plane(36, 41, 10, channels=3)):
        payload = jpeg_bytes(image, quality=10)
        decoded = JpegCodec().decode(payload).reshape(image.shape)
        out = apply_filter(entry, decoded, payload)
        # The network's luma, projected onto the file's quantisation intervals.
        projected = inference.filter_luma(model, decoded, DEFAULT_TILE,
                                          coefficients=read_coefficients(payload))
        assert out.shape == image.shape and np.array_equal(out, projected)
        assert not np.array_equal(out, inference.filter_luma(model, decoded, DEFAULT_TILE))
    with pytest.raises(RcodecError, match="gray or HxWx3"):
        apply_filter(entry, np.zeros((8, 8, 4), np.uint8), b"")
    # An RGB entry keeps refusing gray, and a "y" entry of an RGB architecture is refused.
    gray = random_plane(36, 40, seed=9)[..., 0]
    with pytest.raises(RcodecError, match="RGB"):
        apply_filter(save_entry(tmp_path, monkeypatch, model, "l4"), gray, b"")
    colour = save_entry(tmp_path, monkeypatch, build("block_context"), "block_context",
                        channels="y")
    with pytest.raises(RcodecError, match="takes RGB"):
        apply_filter(colour, gray, b"")


# --- the DCT-domain input path --------------------------------------------------------------


def jpeg_bytes(image: np.ndarray, quality: int = 20) -> bytes:
    from rcodec.codec.jpeg import JpegCodec

    return JpegCodec().encode(image, quality)


def forbid_pixel_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every pixel-domain JPEG decode in reach raise."""
    import jpeglib
    from PIL import Image, JpegImagePlugin

    from rcodec.codec import jpeg_dct
    from rcodec.codec.jpeg import JpegCodec

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pixel decode was attempted")

    monkeypatch.setattr(JpegCodec, "decode", refuse)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", refuse)
    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr(jpeglib, "read_spatial", refuse)
    monkeypatch.setattr(jpeg_dct, "idct_blocks", refuse)
    monkeypatch.setattr(jpeg_dct.JpegCoefficients, "component_pixels", refuse)


def test_hrcnn_input_from_the_coefficients(monkeypatch: pytest.MonkeyPatch) -> None:
    from rcodec.codec.jpeg import JpegCodec
    from rcodec.codec.jpeg_dct import idct_blocks
    from rcodec.postfilter.dct import DCT_SCALE, hrcnn_input

    gray = random_plane(37, 53, seed=11)[..., 0]
    rgb = random_plane(37, 53, seed=12, channels=3)
    gray_jpeg, rgb_jpeg = jpeg_bytes(gray), jpeg_bytes(rgb)
    pixels = JpegCodec().decode(gray_jpeg)

    forbid_pixel_decodes(monkeypatch)
    x = hrcnn_input(gray_jpeg)
    assert x.shape == (1, 1, 40, 56) and x.dtype == torch.float32  # ceil(37/8), ceil(53/8)
    assert hrcnn_input(rgb_jpeg).shape == (1, 1, 40, 56)  # 4:2:0 colour: the Y plane only
    monkeypatch.undo()

    # Dequantised and in block positions: each 8x8 block's IDCT is the decoded block.
    blocks = (x[0, 0].numpy() * DCT_SCALE).reshape(5, 8, 7, 8).transpose(0, 2, 1, 3)
    decoded = idct_blocks(blocks).transpose(0, 2, 1, 3).reshape(40, 56)[:37, :53]
    assert np.abs(np.clip(decoded, 0, 255) - pixels).max() <= 2


def test_hrcnn_decodes_from_the_payload(tmp_path, monkeypatch) -> None:
    from rcodec.errors import RcodecError
    from rcodec.postfilter.dct import hrcnn_input
    from rcodec.postfilter.inference import DEFAULT_TILE, apply_filter

    gray = random_plane(45, 60, seed=13)[..., 0]
    rgb = random_plane(45, 60, seed=14, channels=3)
    gray_jpeg, rgb_jpeg = jpeg_bytes(gray, 10), jpeg_bytes(rgb, 10)
    from rcodec.codec.jpeg import JpegCodec

    gray_decoded, rgb_decoded = JpegCodec().decode(gray_jpeg), JpegCodec().decode(rgb_jpeg)

    torch.manual_seed(15)
    model = build("hrcnn").eval()
    entry = save_entry(tmp_path, monkeypatch, model, "hrcnn", channels="y")
    assert "masks" not in model.state_dict()  # fixed masks are not weights
    forbid_pixel_decodes(monkeypatch)
    with torch.no_grad():
        direct = model(hrcnn_input(gray_jpeg))[0, 0, :45, :60].numpy() * 255
    out = apply_filter(entry, gray_decoded, gray_jpeg)
    assert out.shape == gray.shape and out.dtype == np.uint8
    differ = out != inference.to_uint8(direct)
    assert np.all(near_tie(direct[differ]))

    colour = apply_filter(entry, rgb_decoded, rgb_jpeg)
    assert colour.shape == rgb.shape and colour.dtype == np.uint8
    assert np.array_equal(colour, inference.decode_dct(model, rgb_jpeg, rgb_decoded,
                                                       DEFAULT_TILE))
    with pytest.raises(RcodecError, match="decoded image is"):
        apply_filter(entry, gray_decoded[:40], gray_jpeg)


def test_hrcnn_tiled_equals_whole() -> None:
    from rcodec.postfilter.dct import read_plane

    plane, _ = read_plane(jpeg_bytes(random_plane(45, 60, seed=16)[..., 0], 10))
    torch.manual_seed(17)
    model = build("hrcnn", decoder_init=False)  # random: every layer matters
    whole = restore_array(model, plane[..., None])
    for tile in (16, 20):  # 20: tiles off the block grid, windows still aligned to 8
        tiled = restore_array(model, plane[..., None], tile=tile)
        assert np.abs(tiled - whole).max() <= 1e-5 * max(1.0, np.abs(whole).max()), tile


def test_hrcnn_starts_as_a_jpeg_decoder() -> None:
    from rcodec.codec.jpeg import JpegCodec
    from rcodec.postfilter.dct import hrcnn_input

    data = jpeg_bytes(random_plane(45, 60, seed=19)[..., 0], 10)
    torch.manual_seed(20)
    with torch.no_grad():
        out = build("hrcnn")(hrcnn_input(data))[0, 0, :45, :60].numpy() * 255
    error = np.abs(inference.to_uint8(out).astype(int) - JpegCodec().decode(data))
    assert error.max() <= 2 and error.mean() < 0.5  # libjpeg's integer IDCT (+-1)


def test_dct_augmentation_is_exact() -> None:
    from rcodec.codec.jpeg_dct import idct_blocks
    from rcodec.postfilter.dct import augment_plane, read_plane

    plane, _ = read_plane(jpeg_bytes(random_plane(32, 48, seed=18)[..., 0]))

    def pixels(p: np.ndarray) -> np.ndarray:
        h, w = p.shape
        blocks = p.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
        return idct_blocks(blocks).transpose(0, 2, 1, 3).reshape(h, w)

    base = pixels(plane)
    for flip_y, flip_x, transpose in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]:
        expected = base[::-1] if flip_y else base
        expected = expected[:, ::-1] if flip_x else expected
        expected = expected.T if transpose else expected
        got = pixels(augment_plane(plane, bool(flip_y), bool(flip_x), bool(transpose)))
        assert np.allclose(got, expected, atol=1e-3)


# --- training -------------------------------------------------------------------------------


def write_images(folder, count: int, height: int = 48, width: int = 64, seed: int = 0) -> None:
    from rcodec.codec.images import write_png

    folder.mkdir(parents=True)
    for i in range(count):
        write_png(folder / f"im{i}.png", random_plane(height, width, seed=seed + i, channels=3))


def test_luma_pairs_follow_the_jpeg_notes(tmp_path) -> None:
    from rcodec.codec.images import read_rgb
    from rcodec.codec.jpeg import JpegCodec
    from rcodec.errors import RcodecError
    from rcodec.metrics import rgb_to_matlab_y
    from rcodec.postfilter.data import PairDataset

    write_images(tmp_path / "img", 2)
    cache = tmp_path / "cache"
    data = PairDataset(tmp_path / "img", "jpeg", 10, crop=16, cache_dir=cache, channels="y")
    assert data.encoded == 2
    decoded, original = data.pairs[0]
    luma = rgb_to_matlab_y(read_rgb(tmp_path / "img" / "im0.png"))
    assert original.shape == (48, 64, 1) and np.array_equal(original[..., 0], luma)
    codec = JpegCodec()
    assert np.array_equal(decoded[..., 0], codec.decode(codec.encode(luma, 10)))  # gray JPEG
    x, y = data[0]
    assert x.shape == y.shape == (1, 16, 16)
    again = PairDataset(tmp_path / "img", "jpeg", 10, crop=16, cache_dir=cache, channels="y")
    assert again.encoded == 0 and np.array_equal(again.pairs[0][0], decoded)

    dct = PairDataset(tmp_path / "img", "jpeg", 10, crop=16, cache_dir=cache, channels="dct")
    assert dct.encoded == 2 and np.array_equal(dct.pairs[0][0], decoded)  # the same JPEG
    x, y = dct[0]
    assert x.shape == y.shape == (1, 16, 16) and x.dtype == torch.float32
    assert PairDataset(tmp_path / "img", "jpeg", 10, crop=16, cache_dir=cache,
                       channels="dct").encoded == 0
    items = dct.validation_items(30)
    assert items[0][0].shape == (32, 32, 1) and items[0][2].shape == (30, 30, 1)
    with pytest.raises(RcodecError, match="whole 8x8 blocks"):
        PairDataset(tmp_path / "img", "jpeg", 10, crop=12, cache_dir=cache, channels="dct")
    with pytest.raises(RcodecError, match="JPEG pairs"):
        PairDataset(tmp_path / "img", "bpg", 40, crop=16, cache_dir=cache, channels="y")


def test_luma_crops_carry_their_coefficient_intervals(tmp_path) -> None:
    """With `intervals`, every crop (flipped or transposed) comes with the intervals of the
    JPEG blocks under it, moved as its pixels were: the original luma is a fixed point of
    the projection onto them, as it is of the file's own."""
    from rcodec.errors import RcodecError
    from rcodec.postfilter.consistency import project_tensor
    from rcodec.postfilter.data import PairDataset

    write_images(tmp_path / "img", 2, height=45, width=61)
    cache = tmp_path / "cache"
    data = PairDataset(tmp_path / "img", "jpeg", 20, crop=24, cache_dir=cache, channels="y",
                       intervals=True)
    plain = PairDataset(tmp_path / "img", "jpeg", 20, crop=24, cache_dir=cache, channels="y")
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(data.pairs, plain.pairs, strict=True))
    rng = np.random.default_rng(0)
    inputs, targets, quantizers, intervals = data.labelled_batch(32, rng)
    assert intervals is not None and intervals.shape == (32, 2, 24, 24)
    assert torch.all(quantizers == 20)
    moved = (project_tensor(targets, intervals) - targets).abs().amax(dim=(1, 2, 3)) * 255
    assert moved.max() < 0.05
    # Intervals that do not belong to the pixels move them: the check above can fail.
    wrong = (project_tensor(targets, intervals.transpose(2, 3)) - targets).abs().amax() * 255
    assert wrong > 1
    assert plain.labelled_batch(2, rng)[3] is None
    items = data.validation_items(30)  # the blocks covering each 30 x 30 window
    assert items[0][2].shape == (30, 30, 1) and items[0][3].shape == (32, 32, 2)
    with pytest.raises(RcodecError, match="whole 8x8 blocks"):
        PairDataset(tmp_path / "img", "jpeg", 20, crop=20, cache_dir=cache, channels="y",
                    intervals=True)
    with pytest.raises(RcodecError, match="luma networks"):
        PairDataset(tmp_path / "img", "jpeg", 20, crop=24, cache_dir=cache, channels="dct",
                    intervals=True)


def test_consistency_training_validates_what_decoding_gives(tmp_path, monkeypatch) -> None:
    """A consistency run validates the projected output (what decoding writes), and only
    a JPEG luma net can train that way."""
    import json

    from rcodec.errors import RcodecError
    from rcodec.postfilter.consistency import project_onto_intervals
    from rcodec.postfilter.data import pair_source
    from rcodec.postfilter.inference import restore_array, to_uint8
    from rcodec.postfilter.models import build
    from rcodec.postfilter.train import TrainConfig, evaluate, train
    from rcodec.postfilter.weights import parse_safetensors

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_images(tmp_path / "train", 2)
    write_images(tmp_path / "val", 2, seed=10)
    out = tmp_path / "run"
    config = TrainConfig("l4", "jpeg", 10, str(tmp_path / "train"), str(tmp_path / "val"),
                         str(out), batch_size=2, crop=16, max_steps=2, val_every=2,
                         threads=1, progress=False, lr=1e-3, consistency=True, val_crop=None)
    train(config)
    model = build("l4")
    best = out / "best.safetensors"
    model.load_state_dict(parse_safetensors(best.read_bytes(), best))
    val = pair_source(tmp_path / "val", "jpeg", [10], crop=8, augment=False, channels="y",
                      intervals=True)
    items = val.validation_items(None)
    decoded, original, intervals = items[0][1], items[0][2], items[0][3]
    restored = restore_array(model.eval(), decoded, threads=1)[..., 0]
    projected = to_uint8(project_onto_intervals(restored, intervals)[..., None])
    assert evaluate(model, items[:1])["psnr"] == pytest.approx(
        evaluate(None, [(projected, original)])["psnr"])
    assert projected.tobytes() != to_uint8(restored[..., None]).tobytes()
    report = json.loads((out / "report.json").read_text())
    assert report["val_psnr"] == pytest.approx(evaluate(model, items)["psnr"])
    with pytest.raises(RcodecError, match="JPEG luma networks"):
        train(TrainConfig("M", "bpg", 40, str(tmp_path / "train"), str(tmp_path / "val"),
                          str(tmp_path / "bpg"), consistency=True))


def test_learning_rate_schedules() -> None:
    from rcodec.postfilter.train import TrainConfig, learning_rate

    config = TrainConfig("conv_unit", "jpeg", 10, "d", "v", "o", lr=1e-3, lr_halve_every=10)
    factors = build("conv_unit").lr_factors
    assert [learning_rate(config, s, factors) for s in (1, 10, 11, 20, 21, 500)] == \
        pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 1e-4, 1e-4])
    assert learning_rate(config, 21) == pytest.approx(2.5e-4)  # default: halving


def test_training_l4_on_luma_and_resume(tmp_path) -> None:
    import json

    import safetensors.torch

    from rcodec.postfilter.train import TrainConfig, train

    write_images(tmp_path / "train", 3)
    write_images(tmp_path / "val", 1, seed=10)
    base = dict(arch="l4", codec="jpeg", quantizer=10, data_dir=str(tmp_path / "train"),
                val_dir=str(tmp_path / "val"), batch_size=2, crop=16, val_every=3,
                checkpoint_every=3, log_every=1, cache_dir=str(tmp_path / "cache"),
                progress=False, seed=1, threads=1, val_crop=32)
    out = tmp_path / "run"
    train(TrainConfig(**base, out_dir=str(out), max_steps=3))  # "killed" at step 3
    train(TrainConfig(**base, out_dir=str(out), max_steps=6))  # resumed
    straight = tmp_path / "straight"
    train(TrainConfig(**base, out_dir=str(straight), max_steps=6))
    assert (out / "log.csv").read_text() == (straight / "log.csv").read_text()
    resumed = safetensors.torch.load((out / "checkpoint.safetensors").read_bytes())
    uninterrupted = safetensors.torch.load((straight / "checkpoint.safetensors").read_bytes())
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    report = json.loads((out / "report.json").read_text())
    assert report["channels"] == "y" and report["params"] == EXPECTED_PARAMS["l4"]
    assert report["receptive_radius"] == 9 and report["steps"] == 6
    for key in ("val_psnr", "val_psnr_codec", "val_psnr_mean_codec", "val_psnr_b_mean_codec"):
        assert isinstance(report[key], float), key
    # Y PSNR of the unfiltered JPEG, per JPEG-NOTES: MATLAB luma through a gray JPEG.
    assert 15 < report["val_psnr_codec"] < 40


def test_rcodec_train_cli_conv_unit_edge_loss_and_hrcnn(tmp_path, monkeypatch) -> None:
    import json

    from rcodec.cli import main
    from rcodec.postfilter.weights import read_metadata

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_images(tmp_path / "train", 2)
    write_images(tmp_path / "val", 1, seed=10)
    common = ["--codec", "jpeg", "--quality", "10", "--data", str(tmp_path / "train"),
              "--val", str(tmp_path / "val"), "--batch-size", "2", "--crop", "16",
              "--steps", "2", "--val-every", "2", "--threads", "1"]
    run = tmp_path / "conv_unit"
    assert main(["train", "--arch", "conv_unit", "--edge-loss", "--crop-grid", "8", "-o",
                 str(run), *common]) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["config"]["edge_loss"] is True and state["config"]["crop_grid"] == 8
    groups = json.loads(read_metadata((run / "optimizer.safetensors").read_bytes())["scalars"])
    assert groups["param_groups"][0]["betas"] == [0.8, 0.999]

    run = tmp_path / "hrcnn"
    assert main(["train", "--arch", "hrcnn", "-o", str(run), *common]) == 0
    report = json.loads((run / "report.json").read_text())
    assert report["channels"] == "dct" and report["params"] == 507_157
    assert isinstance(report["val_psnr"], float)


def test_multi_quality_training_and_time_limit(tmp_path, monkeypatch, capsys) -> None:
    import json

    from rcodec.cli import main
    from rcodec.postfilter.data import PairMix, pair_source

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_images(tmp_path / "train", 2)
    write_images(tmp_path / "val", 3, seed=10)
    cache = tmp_path / "cache"
    mix = pair_source(tmp_path / "val", "jpeg", [10, 30, 60], crop=8, cache_dir=cache,
                      augment=False, channels="y")
    assert isinstance(mix, PairMix) and mix.encoded == 9
    # Validation: image i at quality i mod 3, so each quality's JPEG shows up once.
    items = mix.validation_items(None)
    expected = [mix.sets[i].validation_items(None)[i][1] for i in range(3)]
    assert all(np.array_equal(item[1], e) for item, e in zip(items, expected, strict=True))
    assert len({item[1].tobytes() for item in items}) == 3
    inputs, targets = mix.batch(6, np.random.default_rng(0))
    assert inputs.shape == targets.shape == (6, 1, 8, 8)

    run = tmp_path / "multi"
    args = ["train", "--arch", "l4", "--codec", "jpeg", "--quality", "10:60:25",
            "--data", str(tmp_path / "train"), "--val", str(tmp_path / "val"),
            "--batch-size", "2", "--crop", "16", "--steps", "1000000", "--val-every", "1000",
            "--threads", "1", "-o", str(run), "--time-limit", "0s"]
    assert main(args) == 0  # out of time at once: no step, yet weights and a report
    report = json.loads((run / "report.json").read_text())
    assert report["quantizers"] == [10, 35, 60] and report["steps"] == 0
    args[-1] = "2s"
    assert main(args) == 0  # resumed, stops on time, far short of its steps
    report = json.loads((run / "report.json").read_text())
    assert 0 < report["steps"] < 1_000_000
    state = json.loads((run / "state.json").read_text())
    assert state["config"]["quantizers"] == [10, 35, 60] and state["step"] == report["steps"]
    capsys.readouterr()
    assert main([*args[:6], "10:60:10", *args[7:]]) != 0  # other qualities: another run
    assert "different configuration (quantizers)" in capsys.readouterr().err
