"""The multi-scale post-filter: tiled inference equals whole-image inference, its radius is
a bound, and a quantizer-conditioned net (RGB for BPG, luma for JPEG) is told the QP or
quality its bitstream was coded at."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rcodec.codec import bpg, container, jpeg
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.errors import RcodecError
from rcodec.postfilter import inference
from rcodec.postfilter import weights as weights_mod
from rcodec.postfilter.inference import restore, to_uint8
from rcodec.postfilter.layers import load_into_deeper
from rcodec.postfilter.models import build, parameter_count, receptive_radius, takes_quantizer
from rcodec.postfilter.pipeline import decode_bytes
from rcodec.postfilter.registry import ModelEntry
from rcodec.postfilter.unet import Downsample
from rcodec.postfilter.weights import save_weights

SMALL = {"widths": [8, 12, 16], "blocks": [1, 1, 1]}


def perturbed(arch: str, **config: object) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build(arch, **config).eval()
    with torch.no_grad():  # away from the near-identity start, so that tiles would show
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def photo(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([128 + 90 * np.sin(x / 7 + y / 11), 128 + 80 * np.cos(y / 5 - x / 13),
                      60 + x / 3 + y / 5], axis=-1)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("arch", "config"), [
    ("unet", SMALL), ("UQ", SMALL),
    ("UQ", {"widths": [8, 8, 12, 16], "blocks": [1, 0, 1, 2], "up_blocks": [0, 1, 0]})])
def test_tiles_equal_the_whole_image(arch: str, config: dict) -> None:
    model = perturbed(arch, **config)
    image = photo(70, 93)  # not a multiple of the total stride: padded, then cropped
    whole = restore(model, image, tile=1000, quantizer=40)
    for tile in (8, 16, 24):  # the same up to float rounding, as for every network
        assert np.abs(restore(model, image, tile=tile, quantizer=40) - whole).max() <= 1e-4


@pytest.mark.parametrize("arch", ["UQ", "UQY"])
def test_bf16_tiles_give_the_very_same_pixels(arch: str) -> None:
    # The shipped widths: oneDNN's bf16 strided kernels rounded differently by window size
    # at these (about 1% of the pixels moved by a level) until Downsample.
    model = perturbed(arch, widths=[32, 64, 128, 192], blocks=[0, 1, 0, 1])
    image = photo(200, 232)
    if arch == "UQY":
        image = image[..., :1]
    whole = inference.restore_array(model, image, tile=1000, precision="bf16", quantizer=40)
    for tile in (32, 48, 96):
        tiled = inference.restore_array(model, image, tile=tile, precision="bf16",
                                        quantizer=40)
        assert np.array_equal(tiled, whole)


def test_downsample_is_the_strided_convolution() -> None:
    torch.manual_seed(1)
    down = Downsample(6, 10)
    x = torch.randn(2, 6, 14, 18).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = torch.nn.functional.conv2d(x, down.weight, down.bias, stride=2)
        assert torch.allclose(down(x), reference, atol=1e-6)
        assert torch.allclose(down(x.contiguous()), reference, atol=1e-6)
    with pytest.raises(RcodecError, match="even"):
        down(torch.zeros(1, 6, 5, 8))


def test_receptive_radius_bounds_the_influence() -> None:
    model = perturbed("unet", **SMALL)
    radius = receptive_radius(model)
    x = torch.rand(1, 3, 96, 96)
    bumped = x.clone()
    bumped[..., 48, 48] += 1.0
    with torch.no_grad():
        changed = (model(bumped) - model(x)).abs().sum(1)[0] > 0
    rows, cols = np.nonzero(changed.numpy())
    assert max(abs(rows - 48).max(), abs(cols - 48).max()) <= radius


def test_a_conditioned_net_needs_its_quantizer() -> None:
    model = perturbed("UQ", **SMALL)
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(RcodecError, match="quantizer"):
        model(x)
    with torch.no_grad():
        assert not torch.equal(model(x, 30.0), model(x, 46.0))  # the plane matters


def test_the_bpg_qp_reads_back_from_the_file() -> None:
    image = photo(40, 56)
    for qp in (20, 33, 40, 47, 51):
        assert bpg.BpgCodec.bitstream_quantizer(bpg.encode_bpg(image, qp=qp, level=1)) == qp


def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arch: str, selector: int,
               codec: str, quantizers: tuple[int, int], channels: str) -> torch.nn.Module:
    """A perturbed small `arch` net, registered (alone) under `selector` for this test."""
    model = perturbed(arch, **SMALL)
    digest = save_weights(model, tmp_path / "net.safetensors")
    monkeypatch.setattr(weights_mod, "weights_dir", lambda: tmp_path)
    monkeypatch.setattr(inference, "_MODELS", {})
    entry = ModelEntry(f"{arch}-test", selector, arch, SMALL, codec, quantizers,
                       "net.safetensors", digest, parameter_count(model), channels=channels)
    monkeypatch.setattr("rcodec.postfilter.registry.load_registry", lambda: [entry])
    return model


def test_a_container_tells_the_conditioned_net_its_qp(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    model = registered(tmp_path, monkeypatch, "UQ", 250, "bpg", (36, 44), "rgb")
    image = photo(48, 64)
    payload = bpg.encode_bpg(image, qp=40, level=1)
    decoded = bpg.BpgCodec().decode(payload)
    out = decode_bytes(container.pack(250, payload))
    assert np.array_equal(out, to_uint8(restore(model, decoded, tile=512, quantizer=40)))
    assert not np.array_equal(out, to_uint8(restore(model, decoded, tile=512, quantizer=44)))
    outside = bpg.encode_bpg(image, qp=30, level=1)  # the entry is for QP 36..44
    with pytest.raises(RcodecError, match="36..44"):
        decode_bytes(container.pack(250, outside))


def test_the_luma_unet_tiles_exactly() -> None:
    model = perturbed("UQY", **SMALL)
    plane = photo(70, 93)[..., :1]
    whole = inference.restore_array(model, plane, tile=1000, quantizer=30)
    for tile in (8, 24):
        tiled = inference.restore_array(model, plane, tile=tile, quantizer=30)
        assert tiled.shape == (70, 93, 1)
        assert np.abs(tiled - whole).max() <= 1e-4


@pytest.mark.parametrize("subsampling", ["420", "gray"])
def test_the_jpeg_quality_reads_back_from_the_file(subsampling: str) -> None:
    image = photo(40, 56)
    codec = jpeg.JpegCodec(subsampling=subsampling)
    for quality in (1, 10, 23, 49, 50, 51, 75, 98, 100):
        assert jpeg.JpegCodec.bitstream_quantizer(codec.encode(image, quality)) == quality


def test_a_foreign_jpeg_table_gets_the_nearest_quality() -> None:
    table = jpeg.ijg_luma_tables()[29] + 1  # quality 30's table, one step coarser everywhere
    out = io.BytesIO()
    Image.fromarray(photo(16, 16)[..., 0]).save(out, "JPEG", qtables=[table.tolist()])
    assert jpeg.JpegCodec.bitstream_quantizer(out.getvalue()) in (29, 30)


def test_a_container_tells_the_luma_net_its_quality(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    model = registered(tmp_path, monkeypatch, "UQY", 251, "jpeg", (10, 60), "y")
    image = photo(48, 64)
    payload = jpeg.JpegCodec().encode(image, 40)
    decoded = jpeg.JpegCodec().decode(payload)
    out = decode_bytes(container.pack(251, payload))
    coefficients = read_coefficients(payload)
    for told, same in ((40, True), (20, False)):
        expected = inference.filter_luma(model, decoded, 512, quantizer=told,
                                         coefficients=coefficients)
        assert np.array_equal(out, expected) == same
    with pytest.raises(RcodecError, match="10..60"):
        decode_bytes(container.pack(251, jpeg.JpegCodec().encode(image, 80)))


def test_a_deeper_net_starts_as_the_net_it_grew_from() -> None:
    source = perturbed("UQ", **SMALL)
    deeper = build("UQ", widths=SMALL["widths"], blocks=[2, 1, 3])
    # One new block at level 0 on each side of the U, two at the lowest level.
    assert load_into_deeper(deeper, source.state_dict()) == 4
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        assert torch.equal(deeper(x, 40.0), source(x, 40.0))
    # The new blocks are not dead: the loss reaches their zeroed last convolution.
    ((deeper(x, 40.0) - x) ** 2).mean().backward()
    assert deeper.down_blocks[2][2].body[-1].weight.grad.abs().sum() > 0


def test_growing_refuses_weights_of_another_shape() -> None:
    source = build("UQ", **SMALL).state_dict()
    with pytest.raises(ValueError, match=r"has shape \(12.*\(given \(8"):
        load_into_deeper(build("UQ", widths=[12, 12, 16], blocks=[1, 1, 1]), source)
    with pytest.raises(ValueError, match="has no tensor down_blocks.2.0"):  # shallower
        load_into_deeper(build("UQ", widths=SMALL["widths"], blocks=[1, 1, 0]),
                         build("UQ", widths=SMALL["widths"], blocks=[1, 1, 2]).state_dict())
    del source["tail.weight"]  # lacking more than whole residual blocks
    with pytest.raises(ValueError, match="lack tail.weight"):
        load_into_deeper(build("UQ", **SMALL), source)


def test_takes_quantizer_reads_the_architecture_without_building_it() -> None:
    assert takes_quantizer("UQ") and takes_quantizer("UQY")
    assert takes_quantizer("UQ", {"blocks": [2, 3, 4, 8]})
    assert not takes_quantizer("unet") and not takes_quantizer("M")
    assert not takes_quantizer("UQ", {"conditioned": False})
    assert takes_quantizer("unet", {"conditioned": True}) == build(
        "unet", conditioned=True).conditioned
    with pytest.raises(RcodecError, match="unknown post-filter architecture"):
        takes_quantizer("nope")


def test_a_net_grown_a_lower_level_starts_as_its_source() -> None:
    source = perturbed("UQ", **SMALL)
    # A fourth level below the source's lowest (no blocks on its way up), one more block on
    # the way up at level 2, which now has a level below it.
    grown = build("UQ", widths=[8, 12, 16, 24], blocks=[1, 1, 1, 2], up_blocks=[1, 1, 1])
    assert load_into_deeper(grown, source.state_dict()) == 1  # up_blocks.2.0 (identity)
    assert not grown.ups[2].weight.any() and grown.down_blocks[3][1].body[-1].weight.any()
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(grown(x, 40.0), source(x, 40.0))
    ((grown(x, 40.0) - x) ** 2).mean().backward()  # the loss reaches the new level
    assert grown.ups[2].weight.grad.abs().sum() > 0
    assert grown.alignment() == 8


def test_up_blocks_are_counted_per_level_above_the_lowest() -> None:
    model = build("UQ", widths=[8, 12, 16], blocks=[1, 2, 3], up_blocks=[0, 4])
    assert [len(b) for b in model.up_blocks] == [0, 4]
    assert [len(b) for b in build("UQ", **SMALL).up_blocks] == [1, 1]
    with pytest.raises(RcodecError, match="up_blocks"):
        build("UQ", widths=[8, 12, 16], blocks=[1, 2, 3], up_blocks=[1])
