"""Decode-time calibration, its use by the sweep, and the decode resource options."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rcodec.cli import main
from rcodec.codec.samples import sample_paths
from rcodec.errors import RcodecError
from rcodec.optimize import calibration as cal
from rcodec.optimize.sweep import NO_FILTER, CodecSpec, FilterSpec, SweepRequest, run_sweep
from rcodec.postfilter import registry
from rcodec.postfilter.inference import (
    DEFAULT_TILE,
    bytes_per_pixel,
    decode_tile,
    effective_precision,
    load_model,
)
from rcodec.postfilter.models import build, receptive_radius
from rcodec.units import parse_bytes, parse_seconds

SMALL = np.asarray(Image.open(sample_paths()[0]).convert("RGB"))[:96, :128]


@pytest.fixture(scope="module")
def shipped() -> registry.ModelEntry:
    return next(e for e in registry.load_registry() if e.default and e.codec == "bpg")


@pytest.fixture
def cal_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cal.json"
    monkeypatch.setenv("RCODEC_CALIBRATION", str(path))
    return path


@pytest.mark.parametrize(("text", "value"), [("2G", 2 * 2**30), ("512MB", 512 * 2**20),
                                             ("1.5k", 1536), ("100", 100)])
def test_parse_bytes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize(("text", "value"), [("45h", 45 * 3600), ("90min", 5400),
                                             ("30s", 30), ("2.5", 2.5)])
def test_parse_seconds(text: str, value: float) -> None:
    assert parse_seconds(text) == value


@pytest.mark.parametrize("text", ["", "G", "2 parsecs", "-1", "1e9"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        parse_bytes(text)


@pytest.fixture
def narrow_unet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> registry.ModelEntry:
    """The registry's one BPG network: a U-Net as the shipped ones (1024-pixel tiles,
    strided levels, told the QP), narrow enough that timing its full-tile window (1176
    pixels) takes a moment where a shipped one's (1536) takes 30 s on one core."""
    import dataclasses

    from helpers import save_entry

    config = {"widths": [4, 4, 4, 4], "blocks": [1, 1, 1, 1], "conditioned": True}
    saved = save_entry(tmp_path, monkeypatch, build("UQ", **config), "UQ")
    entry = dataclasses.replace(saved, name="bpg-narrow-uq", config=config, codec="bpg",
                                quantizer_range=(30, 51), channels="rgb")
    monkeypatch.setattr(registry, "load_registry", lambda: [entry])
    return entry


def test_calibrate_times_every_stage_and_survives_a_reload(
        cal_file: Path, narrow_unet: registry.ModelEntry) -> None:
    net = narrow_unet
    result = cal.calibrate([net.name], codecs=("bpg",), repeats=1, image=SMALL)
    assert result.codecs["bpg"] > 0 and result.output_seconds_per_mpx > 0
    assert result.filter_rate(net.name, net.sha256) > 0
    cal.save_calibration(result)
    assert cal.load_calibration() == result
    assert result.covers("bpg", [(net.name, net.sha256), ("none", "")])
    assert not result.covers("jpeg", [])
    assert not result.covers("bpg", [(net.name, "0" * 64)])  # other weights: not timed


def test_calibration_times_the_windows_of_the_images_at_hand(
        cal_file: Path, narrow_unet: registry.ModelEntry) -> None:
    filters = [(narrow_unet.name, narrow_unet.sha256)]
    first = cal.ensure_calibration("bpg", filters, [(60, 70)])
    assert first.covers("bpg", filters, [(60, 70)])
    assert not first.covers("bpg", filters, [(50, 90)])
    again = cal.ensure_calibration("bpg", filters, [(60, 70), (50, 90)])
    timed = {(h, w) for h, w, _ in again.filters[narrow_unet.name]["windows"]}
    assert {(60, 70), (50, 90)} <= timed  # whole images under one tile: one window each
    assert cal.load_calibration().covers("bpg", filters, [(50, 90)])


def test_an_entry_averaging_views_reuses_the_window_times_of_its_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The four-view entry runs the same network on the same windows as the one-view entry
    of its weights: calibrating it after that one times no window again."""
    import dataclasses

    from helpers import save_entry

    from rcodec.postfilter import timing

    one = save_entry(tmp_path, monkeypatch, build("l4"), "l4", channels="y")
    four = dataclasses.replace(one, name="jpeg-l4-x4", selector=202, ensemble=4)
    monkeypatch.setattr(registry, "load_registry", lambda: [one, four])
    first = cal.calibrate([one.name], codecs=("jpeg",), repeats=1, image=SMALL)
    runs = []
    monkeypatch.setattr(timing, "run_window", lambda *args: runs.append(args))
    both = cal.calibrate([four.name], codecs=("jpeg",), repeats=1, image=SMALL, base=first)
    assert runs == []
    timed_one, timed_four = both.filters[one.name], both.filters[four.name]
    assert timed_four["windows"] == timed_one["windows"] and timed_four["views"] == 4
    assert timed_four["seconds_per_mpx"] == pytest.approx(4 * timed_one["seconds_per_mpx"])
    network = [both.filter_seconds(e.name, e.sha256, 96, 128)  # less the luma conversions
               - both.filters[e.name]["extra_seconds_per_mpx"] * 96 * 128 / 1e6
               for e in (one, four)]
    assert network[1] == pytest.approx(4 * network[0])


def test_calibration_from_another_machine_is_ignored(cal_file: Path) -> None:
    foreign = cal.Calibration({"cpu": "a faster one"}, {"bpg": 0.01})
    cal.save_calibration(foreign)
    assert cal.load_calibration() is None
    cal_file.write_text("{not json")
    assert cal.load_calibration() is None


def test_malformed_calibration_files_are_measured_again(cal_file: Path) -> None:
    """A file of the right format number but the wrong shape is ignored, not trusted."""
    good = cal.Calibration(cal.machine_fingerprint(), {"bpg": 0.05},
                           {"net": {"sha256": "ab", "tile": 64, "radius": 18,
                                    "seconds_per_mpx": 1.0, "precision": "fp32",
                                    "windows": [[100, 100, 1.0]]}}, 0.1)
    cal.save_calibration(good)
    assert cal.load_calibration() == good
    base = good.to_json()
    net = base["filters"]["net"]
    broken = [[], "text", {**base, "codecs": ["bpg"]}, {**base, "codecs": {"bpg": "fast"}},
              {**base, "filters": {"net": {**net, "windows": [[100, 100]]}}},
              {**base, "filters": {"net": {**net, "windows": []}}},
              {**base, "filters": {"net": {**net, "tile": 0}}},
              {**base, "filters": {"net": {**net, "windows": [[0, 100, 1.0]]}}},
              {**base, "filters": {"net": {**net, "seconds_per_mpx": -1}}},
              {**base, "filters": {"net": {**net, "sha256": None}}},
              {**base, "output_seconds_per_mpx": None}, {**base, "surprise": 1},
              {k: v for k, v in base.items() if k != "codecs"}]
    for data in broken:
        cal_file.write_text(json.dumps(data))
        assert cal.load_calibration() is None, data


def timing(name: str = "net", sha256: str = "ab") -> cal.Calibration:
    """Codec 0.05 s/MP, PNG 0.1 s/MP; the network 1 s per 100x100 window, twice that rate
    per pixel for 200x200 ones, 0.5 s for an 82x54 one; 64-pixel tiles and a radius of 18."""
    net = {"sha256": sha256, "tile": 64, "radius": 18, "seconds_per_mpx": 0.0,
           "precision": "fp32", "windows": [[100, 100, 1.0], [200, 200, 8.0], [82, 54, 0.5]]}
    return cal.Calibration({}, {"bpg": 0.05}, {name: net}, 0.1)


def interpolated(pixels: int) -> float:
    return float(np.interp(pixels, [82 * 54, 10_000, 40_000], [0.5, 1.0, 8.0]))


def test_prediction_sums_the_stages_and_the_tile_windows() -> None:
    result = timing()
    assert result.seconds("bpg", "none", "", 1000, 2000) == pytest.approx(0.3)
    # one 50x64 tile: a 50x82 window of 4100 pixels, under the smallest timed window
    assert result.filter_seconds("net", "ab", 50, 64) == pytest.approx(0.5)
    # 100x100 image: tiles 64 and 36 each way; windows 82 or 54 each way, one timed exactly
    others = [82 * 82, 54 * 82, 54 * 54]
    expected = 0.5 + sum(interpolated(p) for p in others)
    assert result.filter_seconds("net", "ab", 100, 100) == pytest.approx(expected)
    assert result.seconds("bpg", "net", "ab", 100, 100) == pytest.approx(expected + 0.0015)
    with pytest.raises(RcodecError, match="rcodec calibrate"):
        result.seconds("jpeg", "none", "", 1, 1)
    with pytest.raises(RcodecError, match="rcodec calibrate"):
        result.filter_seconds("net", "other weights", 100, 100)
    result.filters["net"]["tile"] = 400  # a 300x300 window, past the largest timed: its rate
    assert result.filter_seconds("net", "ab", 300, 300) == pytest.approx(8.0 * 90_000 / 40_000)


def test_prediction_of_a_strided_dct_network() -> None:
    """A DCT-domain network sees the image padded to whole blocks, in windows widened to
    its stride of 8, plus the per-pixel work around it (0.2 s/MP here)."""
    net = {"sha256": "cd", "tile": 64, "radius": 18, "seconds_per_mpx": 0.0, "align": 8,
           "input": "dct", "extra_seconds_per_mpx": 0.2, "precision": "fp32",
           "windows": [[88, 88, 1.0], [88, 64, 0.5], [64, 88, 0.5], [64, 64, 0.25]]}
    result = cal.Calibration({}, {"jpeg": 0.05}, {"dct": net}, 0.1)
    # 100x100 -> 104x104 of blocks: tiles 0..64 (window 0..88) and 64..104 (window 40..104)
    assert result.filter_seconds("dct", "cd", 100, 100) == pytest.approx(2.25 + 0.002)
    assert result.covers("jpeg", [("dct", "cd")], [(100, 100)])
    assert not result.covers("jpeg", [("dct", "cd")], [(300, 300)])


@pytest.mark.parametrize("arch", ["l4", "fast_arcnn", "hrcnn"])
def test_calibrating_luma_and_dct_networks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           arch: str) -> None:
    """Luma networks are timed on one plane, strided ones on aligned windows, and the work
    around the network is timed too; the prediction then covers the images it was told."""
    import torch
    from helpers import save_entry

    from rcodec.codec.jpeg import JpegCodec
    from rcodec.postfilter import timing
    from rcodec.postfilter.models import build

    torch.manual_seed(0)
    entry = save_entry(tmp_path, monkeypatch, build(arch), arch, channels="y")
    payload = JpegCodec().encode(SMALL, 50)
    projected = []  # a pixel-domain net's output is projected onto the JPEG's intervals
    monkeypatch.setattr(timing, "project_luma",
                        lambda luma, coefficients: projected.append(luma.shape) or luma)
    record = cal.time_filter(entry, JpegCodec().decode(payload), 1, [(90, 120)],
                             payload=payload)
    assert set(projected) == (set() if arch == "hrcnn" else {SMALL.shape[:2]})
    assert record["input"] == ("dct" if arch == "hrcnn" else "y")
    assert record["align"] == {"l4": 1, "fast_arcnn": 2, "hrcnn": 8}[arch]
    assert record["extra_seconds_per_mpx"] > 0
    assert all(h % record["align"] == 0 or h >= 90 for h, _, _ in record["windows"])
    result = cal.Calibration({}, {"jpeg": 0.05}, {entry.name: record}, 0.1)
    assert result.covers("jpeg", [(entry.name, entry.sha256)], [(90, 120)])
    assert result.filter_seconds(entry.name, entry.sha256, 90, 120) > 0


def test_sweep_predicts_decode_time_from_the_calibration(
        tmp_path: Path, shipped: registry.ModelEntry) -> None:
    Image.fromarray(SMALL).save(tmp_path / "a.png")
    filters = (NO_FILTER, FilterSpec(shipped.name, shipped.selector, shipped.sha256))
    request = SweepRequest(CodecSpec("bpg", (("level", 1),)), filters, (40,),
                           calibration=timing(shipped.name, shipped.sha256))
    rows = run_sweep([tmp_path / "a.png"], request, tmp_path / "cache", jobs=1)
    pixels = SMALL.shape[0] * SMALL.shape[1]
    by_filter = {row["filter"]: row for row in rows}
    assert {row["decode_time_source"] for row in rows} == {"calibrated"}
    assert by_filter["none"]["decode_seconds"] == pytest.approx(0.15 * pixels / 1e6)
    assert by_filter[shipped.name]["decode_seconds"] == pytest.approx(  # windows 82 or 50 high
        0.15 * pixels / 1e6 + 2 * interpolated(82 * 82) + 2 * interpolated(50 * 82))
    measured = run_sweep([tmp_path / "a.png"], SweepRequest(request.codec, filters, (40,)),
                         tmp_path / "cache", jobs=1)
    assert {row["decode_time_source"] for row in measured} == {"measured"}


def test_calibrate_command_writes_json(cal_file: Path, capsys: pytest.CaptureFixture,
                                       shipped: registry.ModelEntry) -> None:
    assert main(["calibrate", "--models", shipped.name, "--repeats", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["filters"][shipped.name]["sha256"] == shipped.sha256
    assert cal.load_calibration() is not None
    assert main(["models", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed[shipped.name]["calibrated_seconds_per_mpx"] == pytest.approx(
        printed["filters"][shipped.name]["seconds_per_mpx"])


def test_max_memory_shrinks_tiles_only_when_needed(shipped: registry.ModelEntry) -> None:
    model = load_model(shipped)
    full = decode_tile(model)
    assert full >= DEFAULT_TILE
    assert decode_tile(model, 2**40) == full
    assert decode_tile(model, 400 * 2**20) < DEFAULT_TILE
    # A budget that holds a whole 400x300 image decodes it in one window, where tiles of 32
    # (all a square 540-pixel window allowed) would run the net on that window 130 times.
    whole_image = 300 * 400 * bytes_per_pixel(model)
    assert decode_tile(model, whole_image, shape=(300, 400)) == 400


def test_a_unet_decodes_in_its_larger_tiles_as_memory_allows() -> None:
    unet, edsr = build("UQ"), build("M")
    assert decode_tile(unet, precision="bf16") == unet.preferred_tile > DEFAULT_TILE
    # In fp32 the default memory budget holds a smaller window, but never below the default.
    assert DEFAULT_TILE <= decode_tile(unet, precision="fp32") <= unet.preferred_tile
    assert decode_tile(edsr, precision="bf16") == DEFAULT_TILE


def test_decode_with_a_small_memory_budget_gives_the_same_image(
        tmp_path: Path, shipped: registry.ModelEntry) -> None:
    # 741x500: wider than the U-Net's 2 x 254-pixel halo, so columns of tiles save memory.
    source = next(path for path in sample_paths() if path.stem == "motorcycle")
    rcb = tmp_path / "a.rcb"
    assert main(["encode", str(source), "-o", str(rcb), "--qp", "40", "--filter",
                 shipped.name]) == 0
    # A budget that holds the windows of 192-pixel tiles and no more: the decode tiles.
    model, precision = load_model(shipped), effective_precision(shipped)
    window = 192 + 2 * receptive_radius(model)
    budget = min(window, 500) * min(window, 741) * bytes_per_pixel(model, precision)
    assert decode_tile(model, budget, precision, (500, 741)) == 192
    outputs = []
    for extra in ([], ["--max-memory", str(budget), "--threads", "1"]):
        target = tmp_path / f"out{len(outputs)}.png"
        assert main(["decode", str(rcb), "-o", str(target), *extra]) == 0
        outputs.append(np.asarray(Image.open(target)))
    assert np.array_equal(outputs[0], outputs[1])


def test_a_memory_budget_no_window_fits_is_refused_by_name(
        tmp_path: Path, shipped: registry.ModelEntry, capsys: pytest.CaptureFixture) -> None:
    source, rcb, target = tmp_path / "a.png", tmp_path / "a.rcb", tmp_path / "b.png"
    Image.fromarray(np.zeros((48, 80, 3), np.uint8)).save(source)
    assert main(["encode", str(source), "-o", str(rcb), "--qp", "40", "--filter",
                 shipped.name]) == 0
    capsys.readouterr()
    assert main(["decode", str(rcb), "-o", str(target), "--max-memory", "1M"]) == 1
    error = capsys.readouterr().err
    assert f"a.rcb: post-filter {shipped.name!r}: 1M of memory is too little" in error
    assert "smallest tile of a 80x48 image" in error
    assert not target.exists()


def test_bad_max_memory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["decode", str(tmp_path / "x.rcb"), "-o", str(tmp_path / "x.png"),
              "--max-memory", "lots"])
    assert exit_info.value.code == 2
    assert "cannot read a size 'lots'" in capsys.readouterr().err


@pytest.mark.parametrize(("run_seconds", "measured_runs"), [(0.01, 5), (0.5, 4), (1.5, 2)])
def test_long_runs_are_timed_twice_short_ones_as_often_as_asked(
        monkeypatch: pytest.MonkeyPatch, run_seconds: float, measured_runs: int) -> None:
    from rcodec.postfilter import timing

    clock = {"now": 0.0, "runs": 0}

    def run() -> None:  # an action of `run_seconds` on a clock of its own
        clock["now"] += run_seconds
        clock["runs"] += 1

    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["now"])
    assert timing.median_seconds(5, run) == pytest.approx(run_seconds)
    warm_up = max(1, math.ceil(timing.WARM_UP_SECONDS / run_seconds - 1e-9))
    assert clock["runs"] - warm_up == measured_runs
