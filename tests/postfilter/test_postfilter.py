"""Post-filter networks: sizes, tiling equivalence, determinism, weights, data, training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from rcodec.codec.images import write_png
from rcodec.errors import RcodecError
from rcodec.postfilter import inference
from rcodec.postfilter import weights as weights_mod
from rcodec.postfilter.data import PairDataset, area_downscale
from rcodec.postfilter.inference import apply_filter, restore, tile_grid, to_uint8
from rcodec.postfilter.models import ARCHITECTURES, build, parameter_count, receptive_radius
from rcodec.postfilter.registry import ModelEntry
from rcodec.postfilter.train import TrainConfig, train
from rcodec.postfilter.weights import load_weights, read_metadata, save_weights


def small_model(seed: int = 0, blocks: int = 2, maps: int = 8) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build("edsr_selu", blocks=blocks, maps=maps, rgb_mean=(0.4, 0.5, 0.6))


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth content plus noise, so the net's output spans many values."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 2.0, yy * 3.0, (xx + yy) * 1.5], -1) % 256
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


# --- architectures -----------------------------------------------------------------------------


@pytest.mark.parametrize(("arch", "params"),
                         [("A", 5_402_883), ("B", 1_416_963), ("C", 1_353_603)])
def test_parameter_counts(arch: str, params: int) -> None:
    assert parameter_count(build(arch)) == params


@pytest.mark.parametrize(("arch", "radius"),
                         [("A", 67), ("B", 19), ("C", 67), ("M", 19), ("S", 11)])
def test_receptive_radius(arch: str, radius: int) -> None:
    blocks = ARCHITECTURES[arch][1]["blocks"]
    assert receptive_radius(build(arch)) == radius == 2 * blocks + 3


def test_receptive_radius_bounds_the_influence() -> None:
    """Changing one input pixel changes outputs exactly up to the radius away, not further."""
    model = small_model()
    radius = receptive_radius(model)  # 2 blocks: 7
    image = random_image(41, 41)
    changed = image.copy()
    changed[20, 20] = 255 - changed[20, 20]
    diff = np.abs(restore(model, changed) - restore(model, image)).max(axis=2)
    ys, xs = np.nonzero(diff > 0)
    assert max(np.abs(ys - 20).max(), np.abs(xs - 20).max()) == radius


def test_unknown_architecture() -> None:
    with pytest.raises(RcodecError, match="unknown post-filter architecture"):
        build("Z")


# --- tiled inference ------------------------------------------------------------------------


def near_tie(values: np.ndarray) -> np.ndarray:
    """Values within 1e-3 of a .5 rounding boundary."""
    return np.abs(values - np.floor(values) - 0.5) <= 1e-3


@pytest.mark.parametrize("tile", [8, 16, 23, 50, 64, 97, 1000])
def test_tiled_equals_whole_image(tile: int) -> None:
    model = small_model()
    image = random_image(70, 97)  # sides not multiples of most tiles
    whole = restore(model, image)
    tiled = restore(model, image, tile=tile)
    assert tiled.shape == whole.shape == (70, 97, 3) and tiled.dtype == np.float32
    assert np.abs(tiled - whole).max() <= 1e-4
    differ = to_uint8(tiled) != to_uint8(whole)
    # The only uint8 differences allowed are roundings of values sitting on a .5 tie.
    assert np.all(near_tie(whole[differ]) & near_tie(tiled[differ]))


def test_memory_budget_picks_tiles_with_the_same_output() -> None:
    model = small_model()
    image = random_image(60, 75)
    whole = restore(model, image)
    per_pixel = inference.bytes_per_pixel(model)
    # A 64x64 window minus the radius-7 halo leaves 50, rounded down to a multiple of 32.
    assert inference.choose_tile(model, per_pixel * 64 * 64) == 32
    tiled = restore(model, image, max_memory=per_pixel * 64 * 64)
    assert np.abs(tiled - whole).max() <= 1e-4
    # Windows are clipped at the image: a budget holding the whole image gets it whole ...
    assert inference.choose_tile(model, per_pixel * 60 * 75, shape=(60, 75)) == 75
    # ... and one that cannot hold even the smallest tile's window is refused.
    with pytest.raises(RcodecError, match=r"smallest tile of a 75x60 image needs a window"):
        inference.choose_tile(model, per_pixel * 20 * 20, shape=(60, 75))
    with pytest.raises(RcodecError, match="of memory is too little"):
        inference.choose_tile(model, per_pixel * 20 * 20)


def test_default_budget_tiles_4k_through_a() -> None:
    model = build("A")
    tile = inference.choose_tile(model, inference.DEFAULT_MAX_MEMORY)
    window = tile + 2 * receptive_radius(model)
    assert window * window * inference.bytes_per_pixel(model) <= inference.DEFAULT_MAX_MEMORY
    assert 3840 * 2160 * inference.bytes_per_pixel(model) > inference.DEFAULT_MAX_MEMORY


def test_tile_grid_depends_only_on_sizes() -> None:
    grid = tile_grid(70, 97, 32)
    assert grid[0] == (0, 32, 0, 32) and grid[-1] == (64, 70, 96, 97) and len(grid) == 12
    covered = np.zeros((70, 97), int)
    for y0, y1, x0, x1 in grid:
        covered[y0:y1, x0:x1] += 1
    assert np.all(covered == 1)


def test_deterministic_across_runs_and_threads() -> None:
    model = small_model(blocks=3, maps=16)
    image = random_image(80, 90, seed=3)
    first = restore(model, image, tile=32, threads=1)
    assert np.array_equal(first, restore(model, image, tile=32, threads=1))
    two = restore(model, image, tile=32, threads=2)
    assert np.abs(two - first).max() <= 1e-4
    differ = to_uint8(two) != to_uint8(first)
    assert np.all(near_tie(first[differ]))  # in practice none differ at all


def test_restore_keeps_threads_and_training_mode() -> None:
    model = small_model()
    model.train()
    threads = torch.get_num_threads()
    restore(model, random_image(20, 20), threads=1)
    assert model.training and torch.get_num_threads() == threads


def test_bf16_is_close() -> None:
    model = small_model()
    image = random_image(40, 40)
    out = restore(model, image, precision="bf16")
    assert out.dtype == np.float32
    assert np.abs(out - restore(model, image)).max() < 8


def test_precision_follows_the_registry_and_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from rcodec.optimize.sweep import FilterSpec
    from rcodec.postfilter import registry

    shipped = registry.load_registry()[0]
    fast = dataclasses.replace(shipped, precision="bf16")
    monkeypatch.setattr(registry, "find", lambda name: fast)
    monkeypatch.setattr(inference, "native_bf16", lambda: False)
    spec = FilterSpec(fast.name, fast.selector, fast.sha256)
    emulated = spec.cache_key()
    assert inference.effective_precision(fast) == "fp32"  # emulated bf16 is slower
    monkeypatch.setattr(inference, "native_bf16", lambda: True)
    assert inference.effective_precision(fast) == "bf16"
    assert inference.effective_precision(dataclasses.replace(fast, precision="fp32")) == "fp32"
    assert spec.cache_key() != emulated  # a sweep never reuses the other precision's results


@pytest.mark.parametrize("shape", [(20, 20), (20, 20, 4), (20, 20, 1)])
def test_apply_filter_needs_rgb(shape: tuple[int, ...]) -> None:
    entry = ModelEntry("x", 1, "S", {}, "bpg", (0, 51), "x.safetensors", "0" * 64, 0)
    with pytest.raises(RcodecError, match="RGB"):
        apply_filter(entry, np.zeros(shape, np.uint8), b"")


# --- weights -----------------------------------------------------------------------------------


def test_weights_round_trip_and_apply_filter(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_model(seed=5)
    digest = save_weights(model, tmp_path / "net.safetensors")
    state = load_weights(tmp_path / "net.safetensors", digest)
    assert set(state) == set(model.state_dict())  # rgb_mean is saved with the weights
    for name, tensor in model.state_dict().items():
        assert torch.equal(state[name], tensor)

    monkeypatch.setattr(weights_mod, "weights_dir", lambda: tmp_path)
    entry = ModelEntry("tiny", 200, "edsr_selu", {"blocks": 2, "maps": 8}, "bpg", (30, 45),
                       "net.safetensors", digest, parameter_count(model))
    image = random_image(30, 40)
    out = apply_filter(entry, image, b"payload")
    assert out.dtype == np.uint8 and out.shape == image.shape
    expected = to_uint8(restore(model, image, tile=inference.DEFAULT_TILE))
    assert np.array_equal(out, expected)


def test_sha256_mismatch_raises_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "net.safetensors"
    digest = save_weights(small_model(), path)
    with pytest.raises(RcodecError, match="sha256 mismatch"):
        load_weights(path, "0" * 64)
    path.write_bytes(b"not safetensors at all")  # never parsed: the hash check comes first
    with pytest.raises(RcodecError, match="sha256 mismatch"):
        load_weights(path, digest)
    entry = ModelEntry("x", 1, "S", {}, "bpg", (0, 51), str(path), digest, 0)
    with pytest.raises(RcodecError, match="sha256 mismatch"):
        load_weights(entry)


def test_no_pickle_anywhere() -> None:
    package = Path(inference.__file__).parent
    for source in package.glob("*.py"):
        text = source.read_text()
        assert "torch.load" not in text and "import pickle" not in text, source.name


# --- data and training -------------------------------------------------------------------------


def write_images(folder: Path, count: int, height: int = 64, width: int = 80,
                 seed: int = 0) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        write_png(folder / f"im{i}.png", random_image(height, width, seed=seed + i))


def test_dataset_caches_decoded_images(tmp_path: Path) -> None:
    write_images(tmp_path / "img", 3)
    write_png(tmp_path / "img" / "tiny.png", random_image(16, 16))  # smaller than the crop
    cache = tmp_path / "cache"
    first = PairDataset(tmp_path / "img", "bpg", 40, crop=32, crops_per_image=2,
                        cache_dir=cache, seed=1)
    assert first.encoded == 3 and len(first) == 6
    assert [p.name for p in first.skipped] == ["tiny.png"]
    files = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(files) == 3

    second = PairDataset(tmp_path / "img", "bpg", 40, crop=32, cache_dir=cache, seed=1)
    assert second.encoded == 0
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == files
    for (d1, o1), (d2, o2) in zip(first.full_images(), second.full_images(), strict=True):
        assert np.array_equal(d1, d2) and np.array_equal(o1, o2)
        assert not np.array_equal(d1, o1)  # the codec did change the image

    other = PairDataset(tmp_path / "img", "jpeg", 40, crop=32, cache_dir=cache)
    assert other.encoded == 3  # another codec is another key

    x, y = first[0]
    assert x.shape == y.shape == (3, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    batch_a = first.batch(4, np.random.default_rng(7))
    batch_b = second.batch(4, np.random.default_rng(7))
    assert torch.equal(batch_a[0], batch_b[0]) and torch.equal(batch_a[1], batch_b[1])


def test_crops_on_a_grid(tmp_path: Path) -> None:
    """`grid` puts every crop's origin (and the validation window's) on its multiples."""
    yy, xx = np.mgrid[0:77, 0:93]
    position = np.stack([xx, yy, np.zeros_like(xx)], axis=-1).astype(np.uint8)  # R = x, G = y
    (tmp_path / "img").mkdir()
    write_png(tmp_path / "img" / "xy.png", position)

    def origins(grid: int) -> set[tuple[int, int]]:
        data = PairDataset(tmp_path / "img", "bpg", 40, crop=24, cache_dir=tmp_path / "c",
                           augment=False, grid=grid)
        rng = np.random.default_rng(0)
        corners = [data.sample(0, rng)[1][:2, 0, 0] * 255 for _ in range(60)]
        return {(round(float(y)), round(float(x))) for x, y in corners}

    on_grid = origins(8)
    assert all(y % 8 == 0 and x % 8 == 0 for y, x in on_grid)
    assert len(on_grid) > 5 and max(x for _, x in on_grid) == 64  # the last that fits
    assert any(y % 8 or x % 8 for y, x in origins(1))
    data = PairDataset(tmp_path / "img", "bpg", 40, crop=24, cache_dir=tmp_path / "c", grid=16)
    window = data.validation_items(40)[0][2]
    assert (window[0, 0, 1], window[0, 0, 0]) == (16, 16)  # the centre's (18, 26), rounded down


def test_area_downscale() -> None:
    image = np.array([[[0], [1], [9]], [[2], [4], [9]]], np.uint8).repeat(3, axis=2)
    assert area_downscale(image, 2)[..., 0].tolist() == [[2]]  # (0+1+2+4)/4 = 1.75 -> 2


def read_log(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def tiny_run(tmp_path: Path, val_images: int = 2, **overrides: object) -> dict:
    """TrainConfig fields of a one-block, 8-map net on four 32-pixel crops (no out_dir)."""
    write_images(tmp_path / "train", 4)
    write_images(tmp_path / "val", val_images, seed=10)
    return dict(arch="edsr_selu", arch_config={"blocks": 1, "maps": 8}, codec="bpg",
                quantizer=40, data_dir=str(tmp_path / "train"), val_dir=str(tmp_path / "val"),
                batch_size=4, crop=32, val_every=5, checkpoint_every=5, log_every=1,
                cache_dir=str(tmp_path / "cache"), progress=False, seed=3,
                threads=1,  # multi-threaded gradient sums may differ in the last bit
                ) | overrides


def test_training_writes_outputs_and_resumes(tmp_path: Path) -> None:
    base = tiny_run(tmp_path)
    out = tmp_path / "run"
    best = train(TrainConfig(**base, out_dir=str(out), max_steps=10))  # "killed" at step 10
    assert best == out / "best.safetensors"
    for name in ("checkpoint.safetensors", "optimizer.safetensors", "state.json", "log.csv",
                 "best.safetensors", "report.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "state.json").read_text())["step"] == 10
    assert [int(r["step"]) for r in read_log(out / "log.csv")] == list(range(1, 11))

    train(TrainConfig(**base, out_dir=str(out), max_steps=20))  # resumed
    rows = read_log(out / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 21))  # continues, no duplicate
    assert [int(r["step"]) for r in rows if r["val_psnr"]] == [5, 10, 15, 20]
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 20
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 20 and report["val_images"] == 2
    assert report["val_psnr"] == pytest.approx(state["best_val_psnr"], abs=1e-9)
    for key in ("val_psnr_codec", "val_ms_ssim", "val_ms_ssim_codec"):
        assert isinstance(report[key], float)

    # An uninterrupted run of 20 steps ends in the very same weights and log.
    straight = tmp_path / "straight"
    train(TrainConfig(**base, out_dir=str(straight), max_steps=20))
    assert read_log(straight / "log.csv") == rows
    # Compare contents: safetensors may write the metadata keys in any order.
    resumed_bytes = (out / "checkpoint.safetensors").read_bytes()
    straight_bytes = (straight / "checkpoint.safetensors").read_bytes()
    assert read_metadata(resumed_bytes) == read_metadata(straight_bytes)
    resumed_tensors = safetensors.torch.load(resumed_bytes)
    straight_tensors = safetensors.torch.load(straight_bytes)
    assert resumed_tensors.keys() == straight_tensors.keys()
    assert all(torch.equal(resumed_tensors[k], straight_tensors[k]) for k in resumed_tensors)

    changed = {**base, "lr": 5e-4}
    with pytest.raises(RcodecError, match="different configuration"):
        train(TrainConfig(**changed, out_dir=str(out), max_steps=30))

    # The schedule may change on resume: the run goes on at the new rate.
    slower = {**base, "lr_halve_every": 10}
    train(TrainConfig(**slower, out_dir=str(out), max_steps=25))
    rates = {int(r["step"]): float(r["lr"]) for r in read_log(out / "log.csv")}
    assert rates[20] == pytest.approx(1e-3)  # logged before the change
    assert rates[21] == pytest.approx(1e-3 / 4)  # third period of 10 steps
    # A resume that names no schedule keeps the one the run last trained with.
    train(TrainConfig(**base, out_dir=str(out), max_steps=31))
    rates = {int(r["step"]): float(r["lr"]) for r in read_log(out / "log.csv")}
    assert rates[26] == pytest.approx(1e-3 / 4) and rates[31] == pytest.approx(1e-3 / 8)
    assert json.loads((out / "state.json").read_text())["lr_halve_every"] == 10


def test_bf16_training_learns_and_is_part_of_the_run_identity(tmp_path: Path) -> None:
    base = tiny_run(tmp_path, val_images=1, val_every=10, checkpoint_every=10, lr=3e-3)
    out = tmp_path / "run"
    train(TrainConfig(**base, out_dir=str(out), max_steps=30, precision="bf16"))
    losses = [float(r["loss"]) for r in read_log(out / "log.csv")]
    assert all(np.isfinite(losses)) and np.mean(losses[-5:]) < np.mean(losses[:5])
    with pytest.raises(RcodecError, match="precision"):
        train(TrainConfig(**base, out_dir=str(out), max_steps=40, precision="fp32"))


def test_train_command_takes_architecture_options(tmp_path: Path, capsys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from rcodec.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_images(tmp_path / "train", 2)
    write_images(tmp_path / "val", 1, seed=4)
    common = ["train", "--arch", "edsr_selu", "--qp", "40", "--data", str(tmp_path / "train"),
              "--val", str(tmp_path / "val"), "--batch-size", "2", "--crop", "32", "--steps",
              "1", "--threads", "1", "--seed", "0"]
    run = tmp_path / "run"
    assert main([*common, "-o", str(run), "--arch-config", '{"blocks": 1, "maps": 4}']) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["config"]["arch_config"] == {"blocks": 1, "maps": 4}
    report = json.loads((run / "report.json").read_text())
    assert report["params"] == parameter_count(build("edsr_selu", blocks=1, maps=4))
    bad = tmp_path / "bad"
    assert main([*common, "-o", str(bad), "--arch-config", '{"wings": 2}']) != 0
    assert "bad configuration" in capsys.readouterr().err and not bad.exists()


def test_a_run_can_start_from_given_weights(tmp_path: Path) -> None:
    base = tiny_run(tmp_path, val_images=1)
    first = train(TrainConfig(**base, out_dir=str(tmp_path / "first"), max_steps=5))
    # Zero steps from the first run's best weights: the new run's weights are those weights.
    tuned = tmp_path / "tuned"
    best = train(TrainConfig(**base, out_dir=str(tuned), max_steps=0,
                             init_weights=str(first)))
    started, given = safetensors.torch.load_file(best), safetensors.torch.load_file(first)
    assert all(torch.equal(started[k], given[k]) for k in given)
    fresh = train(TrainConfig(**base, out_dir=str(tmp_path / "fresh"), max_steps=0))
    assert not all(torch.equal(safetensors.torch.load_file(fresh)[k], given[k]) for k in given)
    # The starting point is part of the run's identity: resuming without it is refused.
    train(TrainConfig(**base, out_dir=str(tuned), max_steps=2, init_weights=str(first)))
    with pytest.raises(RcodecError, match="init_weights"):
        train(TrainConfig(**base, out_dir=str(tuned), max_steps=3))


def test_starting_weights_must_fit_the_architecture(tmp_path: Path) -> None:
    base = tiny_run(tmp_path, val_images=1)
    wider = train(TrainConfig(**{**base, "arch_config": {"blocks": 1, "maps": 12}},
                              out_dir=str(tmp_path / "wider"), max_steps=0))
    with pytest.raises(RcodecError, match="do not fit arch edsr_selu"):
        train(TrainConfig(**base, out_dir=str(tmp_path / "a"), max_steps=1,
                          init_weights=str(wider)))
    with pytest.raises(RcodecError, match="it is arch UQ"):  # a registered net of another arch
        train(TrainConfig(**base, out_dir=str(tmp_path / "b"), max_steps=1,
                          init_weights="bpg-uq-30-48"))
    with pytest.raises(RcodecError, match="unknown post-filter"):
        train(TrainConfig(**base, out_dir=str(tmp_path / "c"), max_steps=1,
                          init_weights="no-such-net"))
    with pytest.raises(RcodecError, match="missing.safetensors: cannot read"):
        train(TrainConfig(**base, out_dir=str(tmp_path / "d"), max_steps=1,
                          init_weights=str(tmp_path / "missing.safetensors")))
    # Checked before any pair is made: a run whose data would fail still names the --init.
    with pytest.raises(RcodecError, match="unknown post-filter"):
        train(TrainConfig(**{**base, "data_dir": str(tmp_path / "no-data")},
                          out_dir=str(tmp_path / "e"), max_steps=1, init_weights="no-such-net"))
