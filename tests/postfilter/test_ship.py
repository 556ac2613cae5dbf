"""Shipping a trained run: weights and registry entry written, the network then decodes the
files that name its selector, and a name or selector already given is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_postfilter import tiny_run

from rcodec.codec import container
from rcodec.codec.bpg import encode_bpg
from rcodec.errors import RcodecError
from rcodec.postfilter import registry, ship
from rcodec.postfilter.inference import load_model, restore, to_uint8
from rcodec.postfilter.models import build
from rcodec.postfilter.pipeline import decode_bytes
from rcodec.postfilter.train import TrainConfig, train
from rcodec.postfilter.weights import parse_safetensors, sha256_hex


def test_ship_round_trip(tmp_path: Path, weights_folder: Path) -> None:
    run = tmp_path / "run"
    best = train(TrainConfig(**tiny_run(tmp_path), out_dir=str(run), max_steps=5))
    selector = max(e.selector for e in registry.load_registry()) + 1
    entry = ship.ship(run, "test-net", selector, (38, 42), "a test network")

    # The weights and the entry are where the registry looks, and describe the run.
    data = best.read_bytes()
    assert (weights_folder / entry.weights).read_bytes() == data
    assert entry.sha256 == sha256_hex(data) and entry.steps == 5
    assert entry.arch == "edsr_selu" and entry.config == {"blocks": 1, "maps": 8}
    assert entry.seconds_per_mpx is not None and entry.seconds_per_mpx > 0
    listed = json.loads((weights_folder / "registry.json").read_text())
    assert listed[-1] == entry.to_json()
    assert registry.find(selector) == entry == registry.find("test-net")

    # A container naming the selector decodes through exactly these weights.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    payload = encode_bpg(image, qp=40, level=1)
    decoded = decode_bytes(container.pack(0, payload))
    model = load_model(entry)
    state = parse_safetensors(data, best)
    assert all(np.array_equal(model.state_dict()[k].numpy(), v.numpy())
               for k, v in state.items())
    expected = to_uint8(restore(model, decoded))
    assert np.array_equal(decode_bytes(container.pack(selector, payload)), expected)

    # Selectors and names are never reused.
    with pytest.raises(RcodecError, match="already registered"):
        ship.ship(run, "test-net-2", selector, (38, 42), "again")
    with pytest.raises(RcodecError, match="already registered"):
        ship.ship(run, "test-net", selector + 1, (38, 42), "again")
    assert [e.name for e in registry.load_registry()].count("test-net") == 1


def test_bf16_storage_keeps_the_pixels_of_bf16_inference(tmp_path: Path,
                                                         weights_folder: Path) -> None:
    run = tmp_path / "run"
    best = train(TrainConfig(**tiny_run(tmp_path), out_dir=str(run), max_steps=5))
    selector = max(e.selector for e in registry.load_registry()) + 1
    entry = ship.ship(run, "test-net-bf16", selector, (38, 42), "halved", precision="bf16",
                      store="bf16")
    stored = (weights_folder / entry.weights).read_bytes()
    tensors = parse_safetensors(stored, entry.weights)
    assert tensors["head.weight"].dtype == torch.bfloat16
    assert tensors["rgb_mean"].dtype == torch.float32  # used outside the convolutions
    assert len(stored) < 0.6 * len(best.read_bytes())
    assert entry.sha256 == sha256_hex(stored) and entry.steps == 5

    # bf16 autocast rounds the fp32 weights to these very values: the same pixels.
    trained = build(entry.arch, **entry.config).eval()
    trained.load_state_dict(parse_safetensors(best.read_bytes(), best))
    image = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    shipped = restore(load_model(entry), image, precision="bf16")
    assert np.array_equal(shipped, restore(trained, image, precision="bf16"))
    assert not np.array_equal(shipped, restore(trained, image))  # fp32 differs: a real test


def test_a_run_from_a_shipped_network_counts_its_steps_too(tmp_path: Path,
                                                           weights_folder: Path) -> None:
    selector = max(e.selector for e in registry.load_registry()) + 1
    base = tiny_run(tmp_path)
    train(TrainConfig(**base, out_dir=str(tmp_path / "first"), max_steps=5))
    first = ship.ship(tmp_path / "first", "test-first", selector, (38, 42), "first round")
    train(TrainConfig(**base, out_dir=str(tmp_path / "second"), max_steps=3,
                      init_weights="test-first"))
    second = ship.ship(tmp_path / "second", "test-second", selector + 1, (38, 42), "on")
    assert (first.steps, second.steps) == (5, 8)


def test_time_against_scales_the_control_by_the_side_by_side_ratio(
        tmp_path: Path, weights_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train(TrainConfig(**tiny_run(tmp_path), out_dir=str(tmp_path / "run"), max_steps=5))
    control = registry.find("bpg-m-qp40")
    # The machine gets busier between rounds: the best of each round's pair is the ratio.
    measured = iter([3.0, 6.0, 2.0, 5.0])
    timed = []

    def fake_seconds(entry: registry.ModelEntry) -> float:
        timed.append(entry.name)
        return next(measured)

    monkeypatch.setattr(ship, "_seconds_per_mpx", fake_seconds)
    selector = max(e.selector for e in registry.load_registry()) + 1
    entry = ship.ship(tmp_path / "run", "test-timed", selector, (38, 42), "timed",
                      time_against="bpg-m-qp40")
    assert timed == ["test-timed", "bpg-m-qp40"] * 2
    assert entry.seconds_per_mpx == round(control.seconds_per_mpx * 2.0 / 5.0, 3)
    assert registry.find("test-timed").seconds_per_mpx == entry.seconds_per_mpx

    # An unknown control is refused before anything is written.
    before = (weights_folder / "registry.json").read_bytes()
    with pytest.raises(RcodecError, match="no shipped network named 'nonesuch'"):
        ship.ship(tmp_path / "run", "test-other", selector + 1, (38, 42), "x",
                  time_against="nonesuch")
    assert (weights_folder / "registry.json").read_bytes() == before
    assert not (weights_folder / "test-other.safetensors").exists()


def test_a_folder_without_state_or_a_training_report_is_refused(tmp_path: Path,
                                                                weights_folder: Path) -> None:
    selector = max(e.selector for e in registry.load_registry()) + 1
    with pytest.raises(RcodecError, match="report.json: cannot read"):
        ship.ship(tmp_path, "test-none", selector, (38, 42), "no run here")
    (tmp_path / "report.json").write_text('{"arch": "A"}')
    with pytest.raises(RcodecError, match="no 'arch_config' \\(not a training report\\)"):
        ship.ship(tmp_path, "test-none", selector, (38, 42), "no run here")
    assert not list(weights_folder.glob("*.safetensors"))
