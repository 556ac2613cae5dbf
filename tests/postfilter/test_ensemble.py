"""Self-ensembles: the views are the eight symmetries of the image grid, mapped back exactly;
a registered network averaging views decodes (and tiles) to exactly that average, is priced
once per view, and is shipped as its own entry sharing the weights file."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import save_entry
from test_unet import SMALL, perturbed, photo, registered

from rcodec.codec import bpg, container, jpeg
from rcodec.codec.jpeg_dct import read_coefficients
from rcodec.errors import RcodecError
from rcodec.optimize import calibration as cal
from rcodec.postfilter import ensemble, inference, registry, ship
from rcodec.postfilter.inference import restore, restore_array, to_uint8
from rcodec.postfilter.models import build
from rcodec.postfilter.pipeline import decode_bytes


def dihedral(image: np.ndarray) -> list[np.ndarray]:
    """The eight symmetries of the grid, written independently of the module under test."""
    return [np.rot90(flipped, k) for flipped in (image, image[:, ::-1]) for k in range(4)]


def test_the_views_are_the_eight_symmetries_and_map_back() -> None:
    image = np.arange(5 * 7 * 2).reshape(5, 7, 2)
    views = [ensemble.to_view(image, i) for i in range(8)]
    expected = dihedral(image)
    assert all(any(np.array_equal(v, e) for e in expected) for v in views)
    assert len({v.tobytes() + bytes(v.shape) for v in views}) == 8
    assert all(v.shape == (5, 7, 2) for v in views[:4])  # 4 views keep the shape
    for i, view in enumerate(views):
        assert np.array_equal(ensemble.from_view(view, i), image)
    assert ensemble.view_shapes([(5, 7)], 8) == [(5, 7)] * 4 + [(7, 5)] * 4
    assert ensemble.view_shapes([(5, 7)], 2) == [(5, 7)] * 2


def test_the_average_is_over_the_views_outputs_mapped_back() -> None:
    image = np.random.default_rng(0).random((6, 9, 1)).astype(np.float32)

    def run(view: np.ndarray) -> np.ndarray:  # not flip-equivariant: depends on position
        return view + np.arange(view.shape[1], dtype=np.float32)[None, :, None]

    columns = np.arange(9, dtype=np.float32)[None, :, None]
    assert np.array_equal(ensemble.self_ensemble(run, image, 1), image + columns)
    # mirrored, the column index counts from the right
    mirror = image + (8 - columns)
    assert np.allclose(ensemble.self_ensemble(run, image, 2), (2 * image + 8) / 2)
    assert np.allclose(ensemble.self_ensemble(run, image, 2), ((image + columns) + mirror) / 2)
    # a transposed view adds the row index instead
    # (flips average a column index to 4 and a row index to 2.5)
    assert np.allclose(ensemble.self_ensemble(run, image, 8), image + (4 * 4 + 4 * 2.5) / 8)
    assert np.allclose(ensemble.self_ensemble(run, image, 4), image + 4)
    for bad in (0, 3, 16):
        with pytest.raises(RcodecError, match="1, 2, 4 or 8 views"):
            ensemble.self_ensemble(run, image, bad)


def mapped_back(output: np.ndarray, index: int) -> np.ndarray:
    """The output on `dihedral(image)[index]`, mapped back onto the image."""
    output = np.rot90(output, -(index % 4))
    return output[:, ::-1] if index >= 4 else output


@pytest.mark.parametrize("views", [2, 8])
def test_a_network_averages_its_views_in_tiles_as_whole(views: int) -> None:
    model = perturbed("UQ", **SMALL)
    image = photo(42, 58)

    def run(view: np.ndarray) -> np.ndarray:
        return restore(model, np.ascontiguousarray(view), tile=1000, quantizer=40)

    averaged = restore(model, image, tile=1000, quantizer=40, views=views)
    if views == 8:
        outputs = [mapped_back(run(v), i) for i, v in enumerate(dihedral(image))]
    else:
        outputs = [run(image), run(image[:, ::-1])[:, ::-1]]
    assert np.allclose(averaged, np.mean(outputs, axis=0), atol=1e-4)
    assert not np.allclose(averaged, run(image), atol=1e-3)  # the views do differ
    for tile in (16, 24):
        tiled = restore(model, image, tile=tile, quantizer=40, views=views)
        assert np.abs(tiled - averaged).max() <= 1e-4


def test_bf16_views_tile_to_the_very_same_pixels() -> None:
    model = perturbed("UQY", widths=[32, 64, 128, 192], blocks=[0, 1, 0, 1])
    plane = photo(120, 152)[..., :1]
    whole = restore_array(model, plane, tile=1000, precision="bf16", quantizer=30, views=8)
    for tile in (32, 96):
        tiled = restore_array(model, plane, tile=tile, precision="bf16", quantizer=30, views=8)
        assert np.array_equal(tiled, whole)


def test_a_container_decodes_through_the_views_its_entry_averages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = registered(tmp_path, monkeypatch, "UQ", 250, "bpg", (36, 44), "rgb")
    [entry] = registry.load_registry()
    payload = bpg.encode_bpg(photo(48, 64), qp=40, level=1)
    decoded = bpg.BpgCodec().decode(payload)
    four = dataclasses.replace(entry, selector=251, name="UQ-x4", ensemble=4)
    monkeypatch.setattr(registry, "load_registry", lambda: [entry, four])
    out = decode_bytes(container.pack(251, payload))
    assert np.array_equal(out, to_uint8(restore(model, decoded, quantizer=40, views=4)))
    assert not np.array_equal(out, decode_bytes(container.pack(250, payload)))


def test_a_luma_network_averages_views_and_a_dct_one_refuses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = registered(tmp_path, monkeypatch, "UQY", 251, "jpeg", (10, 60), "y")
    [entry] = registry.load_registry()
    payload = jpeg.JpegCodec().encode(photo(48, 64), 30)
    decoded = jpeg.JpegCodec().decode(payload)
    eight = dataclasses.replace(entry, ensemble=8)
    coefficients = read_coefficients(payload)  # (its output is projected onto them)
    assert np.array_equal(inference.apply_filter(eight, decoded, payload),
                          inference.filter_luma(model, decoded, quantizer=30, views=8,
                                                coefficients=coefficients))
    dct = save_entry(tmp_path, monkeypatch, build("hrcnn"), "hrcnn", channels="y", ensemble=2)
    with pytest.raises(RcodecError, match="DCT-domain network averages no views"):
        inference.apply_filter(dct, decoded, payload)


def test_views_of_one_network_run_once_for_all_its_entries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network and its four- and eight-view entries: eight runs, not thirteen, and each
    output the very pixels that entry gives alone; the sweep measures them that way too."""
    from rcodec.optimize.sweep import NO_FILTER, FilterSpec, filter_outputs

    registered(tmp_path, monkeypatch, "UQ", 250, "bpg", (36, 44), "rgb")
    [one] = registry.load_registry()
    four = dataclasses.replace(one, selector=251, name="UQ-x4", ensemble=4)
    eight = dataclasses.replace(one, selector=252, name="UQ-x8", ensemble=8)
    other = dataclasses.replace(one, selector=253, name="UQ-other", sha256="0" * 64)
    monkeypatch.setattr(registry, "load_registry", lambda: [one, four, eight, other])
    payload = bpg.encode_bpg(photo(40, 56), qp=40, level=1)
    decoded = bpg.BpgCodec().decode(payload)
    alone = {e.name: inference.apply_filter(e, decoded, payload) for e in (one, four, eight)}
    assert len({a.tobytes() for a in alone.values()}) == 3  # the views do change pixels

    runs = []
    hook = inference.load_model(one).register_forward_hook(lambda *_: runs.append(1))
    together = list(inference.apply_views([eight, one, four], decoded, payload))
    assert len(runs) == 8
    assert [e.name for e, _ in together] == ["UQ-test", "UQ-x4", "UQ-x8"]  # fewest first
    for entry, output in together:
        assert np.array_equal(output, alone[entry.name])

    specs = [NO_FILTER, *(FilterSpec(e.name, e.selector, e.sha256) for e in (eight, one, four))]
    runs.clear()
    measured = {s.name: (o, t) for s, o, t in filter_outputs(specs, decoded, payload)}
    hook.remove()
    assert len(runs) == 8 and np.array_equal(measured["none"][0], decoded)
    for name, output in alone.items():
        assert np.array_equal(measured[name][0], output)
    seconds = [measured[name][1] for name in ("UQ-test", "UQ-x4", "UQ-x8")]
    assert 0 < seconds[0] < seconds[1] < seconds[2]  # each timed up to its own output
    with pytest.raises(RcodecError, match="not views of one network"):
        list(inference.apply_views([one, other], decoded, payload))


def test_the_registry_refuses_a_view_count_that_is_no_symmetry_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = json.loads((registry.weights_dir() / "registry.json").read_text())
    entries[0]["ensemble"] = 3
    (tmp_path / "registry.json").write_text(json.dumps(entries))
    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path)
    with pytest.raises(RcodecError, match="averages 3 views"):
        registry.load_registry()


def test_views_are_priced_one_by_one_transposed_ones_on_their_windows() -> None:
    """Tiles of 64 with a radius of 18: a 100x60 image runs in 82x60 and 54x60 windows, its
    transposed views in 60x82 and 60x54 ones; only 82x60 was timed exactly (3 s)."""
    windows = [[100, 100, 1.0], [200, 200, 8.0], [82, 54, 0.5], [82, 60, 3.0]]
    net = {"sha256": "ab", "tile": 64, "radius": 18, "seconds_per_mpx": 0.0,
           "precision": "fp32", "windows": windows, "views": 8}
    result = cal.Calibration({}, {"bpg": 0.05}, {"net": net}, 0.1)

    def interpolated(pixels: int) -> float:
        return float(np.interp(pixels, [82 * 54, 82 * 60, 10_000, 40_000],
                               [0.5, 3.0, 1.0, 8.0]))

    plain = 3.0 + interpolated(54 * 60)
    transposed = interpolated(60 * 82) + interpolated(60 * 54)
    assert result.filter_seconds("net", "ab", 100, 60) == pytest.approx(4 * plain
                                                                        + 4 * transposed)
    net["views"] = 4
    assert result.filter_seconds("net", "ab", 100, 60) == pytest.approx(4 * plain)


def test_timing_a_network_of_eight_views_covers_its_transposed_windows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = save_entry(tmp_path, monkeypatch, build("l4"), "l4", channels="y")
    payload = jpeg.JpegCodec().encode(photo(90, 150), 10)
    decoded = jpeg.JpegCodec().decode(payload)
    one = cal.time_filter(entry, decoded, 1, [(90, 150)], payload=payload)
    eight = cal.time_filter(dataclasses.replace(entry, ensemble=8), decoded, 1, [(90, 150)],
                            payload=payload)
    assert (150, 90) in {(h, w) for h, w, _ in eight["windows"]}
    assert (150, 90) not in {(h, w) for h, w, _ in one["windows"]}
    records = {"one": one, "eight": eight}
    result = cal.Calibration({}, {"jpeg": 0.05}, records, 0.1)
    assert result.covers("jpeg", [("eight", entry.sha256)], [(90, 150)])
    eight["windows"] = one["windows"]  # without the transposed window it is not covered
    assert not result.covers("jpeg", [("eight", entry.sha256)], [(90, 150)])
    assert eight["views"] == 8 and one["views"] == 1


def test_shipping_views_adds_an_entry_sharing_the_weights(weights_folder: Path) -> None:
    base = next(e for e in registry.load_registry() if e.arch == "l4")
    shutil.copyfile(Path(inference.__file__).resolve().parent / "weights" / base.weights,
                    weights_folder / base.weights)
    selector = max(e.selector for e in registry.load_registry()) + 1
    entry = ship.ship_views(base.name, f"{base.name}-x2", selector, 2, "two views")
    assert (entry.weights, entry.sha256, entry.ensemble) == (base.weights, base.sha256, 2)
    assert entry.seconds_per_mpx is not None and entry.seconds_per_mpx > 0
    assert not entry.default and registry.find(selector) == entry
    assert registry.find(base.name) == base  # the network it shares weights with is as it was
    with pytest.raises(RcodecError, match="already averages 2 views"):
        ship.ship_views(entry.name, "again", selector + 1, 2, "")
    with pytest.raises(RcodecError, match="no shipped network"):
        ship.ship_views("nonesuch", "again", selector + 1, 4, "")
    with pytest.raises(RcodecError, match="already registered"):
        ship.ship_views(base.name, "again", selector, 4, "")
