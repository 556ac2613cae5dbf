"""kill -9 in the middle of a sweep, a compress or a training run, then the same command again:
finished work is reused, nothing half-written is read as valid, and the outputs equal those of
an uninterrupted run. Two sweeps filling one cache at once leave it intact."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from helpers import sample_crops

from rcodec.cli import main
from rcodec.codec.images import write_png
from rcodec.errors import RcodecError
from rcodec.optimize import job
from rcodec.optimize.cache import SweepCache
from rcodec.postfilter import train as train_module
from rcodec.postfilter.train import TrainConfig, train
from rcodec.postfilter.weights import read_metadata, save_weights

#: Columns of the sweep table that do not depend on timing (decode/encode seconds do).
STABLE_COLUMNS = ("image", "codec", "quantizer", "filter", "bytes", "sse", "pixels", "psnr",
                  "ms_ssim")
# One named network, the cheapest U-Net for these QPs, rather than the defaults: what is
# tested is the cache under interruption and concurrency, and the defaults (several networks,
# four-view ones among them) grow as networks ship, and with them these tests' time.
SWEEP_OPTIONS = ["--level", "1", "--qps", "30:37", "--jobs", "1", "--filters", "bpg-uq-30-51"]
#: 3 images x 8 quantizers.
BITSTREAMS = 24


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 64x48 crops of the bundled photographs: a sweep takes a few seconds."""
    return sample_crops(tmp_path_factory.mktemp("images"), (40, 40, 104, 88), 3)


@pytest.fixture(scope="module")
def reference(images: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An uninterrupted sweep (in this process) into a cache of its own: (cache, table)."""
    folder = tmp_path_factory.mktemp("reference")
    cache, table = folder / "cache", folder / "sweep.csv"
    assert main(sweep_argv(images, table, cache)) == 0
    return cache, table


def sweep_argv(images: Path, table: Path, cache: Path) -> list[str]:
    return ["sweep", str(images), "-o", str(table), "--cache", str(cache), *SWEEP_OPTIONS]


def compress_argv(images: Path, out: Path, cache: Path, bpp: str = "0.9") -> list[str]:
    return ["compress", str(images), "-o", str(out), "--bpp", bpp, "--cache", str(cache),
            *SWEEP_OPTIONS]


def rcodec(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "rcodec", *argv]


def environment() -> dict[str, str]:
    # One OpenMP thread: torch's small convolutions (MS-SSIM) crawl when a busy machine
    # deschedules one of their threads. It changes no result (each output has one thread).
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The same for the runs made in this process."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def start(argv: list[str]) -> subprocess.Popen:
    """A child in its own process group, so that kill -9 reaches any worker it starts."""
    return subprocess.Popen(argv, env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout: float = 120) -> None:
    """SIGKILL the process group as soon as `ready()`; fail if the work finished first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"finished before the kill point (exit {process.returncode}): "
                        f"{err.decode()[-500:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("the kill point was never reached")
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL


def run(argv: list[str]) -> None:
    result = subprocess.run(argv, env=environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def bitstreams(cache: Path) -> int:
    return len(list(cache.rglob("*.bin")))


def cache_entries(cache: Path) -> dict[Path, int]:
    """Finished cache entries (temporary files excluded) and their modification times."""
    return {p: p.stat().st_mtime_ns for p in cache.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")}


def assert_cache_valid(cache: Path) -> None:
    """Every finished entry passes its checksum: nothing half-written sits under a final name."""
    store = SweepCache(cache)
    for path in cache_entries(cache):
        key = path.name.split(".")[0]
        if path.suffix == ".bin":
            assert store.get_bytes(key) is not None, path
        else:
            assert store.get_json(key) is not None, path


def stable_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return [{k: row[k] for k in STABLE_COLUMNS} for row in csv.DictReader(handle)]


def kill_then_resume(argv: list[str], cache: Path, until: Callable[[], bool],
                     unwritten: Path) -> dict[Path, int]:
    """Kill `argv` once `until()` holds; check that it left `unwritten` unwritten and the
    cache valid; run it again to the end and check that nothing cached before the kill was
    rewritten. Returns the cache entries (path -> mtime) as the kill left them."""
    kill_when(start(argv), until)
    assert not unwritten.exists()  # outputs are written once, at the end, atomically
    assert_cache_valid(cache)
    before = cache_entries(cache)
    run(argv)
    after = cache_entries(cache)
    assert all(after[p] == mtime for p, mtime in before.items())  # reused, not rewritten
    return before


def test_sweep_killed_midway_resumes_with_the_same_table(
        images: Path, reference: tuple[Path, Path], tmp_path: Path) -> None:
    cache, table = tmp_path / "cache", tmp_path / "sweep.csv"
    before = kill_then_resume(rcodec(sweep_argv(images, table, cache)), cache,
                              lambda: bitstreams(cache) >= BITSTREAMS // 3, table)
    assert BITSTREAMS // 3 <= sum(p.suffix == ".bin" for p in before) < BITSTREAMS
    assert bitstreams(cache) == BITSTREAMS
    assert_cache_valid(cache)
    assert stable_rows(table) == stable_rows(reference[1])


def plan_without_timing(manifest: dict) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "decode_seconds"} for row in manifest["plan"]]


def test_compress_killed_midway_writes_the_same_files(
        images: Path, reference: tuple[Path, Path], tmp_path: Path) -> None:
    cache, out = tmp_path / "cache", tmp_path / "out"
    kill_then_resume(rcodec(compress_argv(images, out, cache)), cache,
                     lambda: bitstreams(cache) >= BITSTREAMS // 2, out / "manifest.json")

    straight = tmp_path / "straight"  # uninterrupted, from the reference sweep's cache
    assert main(compress_argv(images, straight, reference[0])) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(p.name for p in straight.iterdir())
    assert len(files) == 4 and "manifest.json" in files
    for name in files:
        if name.endswith(".rcb"):
            assert (out / name).read_bytes() == (straight / name).read_bytes(), name
    resumed = json.loads((out / "manifest.json").read_text())
    uninterrupted = json.loads((straight / "manifest.json").read_text())
    assert plan_without_timing(resumed) == plan_without_timing(uninterrupted)
    for key in ("total_bytes", "total_sse", "budget_bytes", "pooled_psnr"):
        assert resumed["summary"][key] == uninterrupted["summary"][key]


def test_a_compress_that_dies_while_writing_leaves_no_stale_manifest(
        images: Path, reference: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of a new plan beside the manifest of an old one would read as a finished job."""
    out = tmp_path / "out"
    assert main(compress_argv(images, out, reference[0])) == 0
    assert (out / "manifest.json").exists()
    written = []

    def dying_write(path: Path, data: bytes) -> None:
        if written:
            raise KeyboardInterrupt  # as if killed after the first container
        written.append(path)
        Path(path).write_bytes(data)

    monkeypatch.setattr(job, "atomic_write_bytes", dying_write)
    assert main(compress_argv(images, out, reference[0], bpp="0.6")) == 130
    assert written and not (out / "manifest.json").exists()


def test_two_sweeps_into_one_cache_at_once(images: Path, reference: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    tables = [tmp_path / "a.csv", tmp_path / "b.csv"]
    processes = [start(rcodec(sweep_argv(images, table, cache))) for table in tables]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
    for table in tables:
        assert stable_rows(table) == stable_rows(reference[1])
    assert_cache_valid(cache)
    assert not list(cache.rglob("*.tmp"))  # both finished: no temporary file is left
    assert bitstreams(cache) == BITSTREAMS
    assert {p.relative_to(cache) for p in cache_entries(cache)} == {
        p.relative_to(reference[0]) for p in cache_entries(reference[0])}


# --- training ---------------------------------------------------------------------------------

TRAIN_SCRIPT = """
import json, sys
from rcodec.postfilter.train import TrainConfig, train
train(TrainConfig(**json.loads(sys.argv[1])))
"""


def write_images(folder: Path, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:40, 0:48]
    for index in range(count):
        base = np.stack([xx * 3.0 + index * 20, yy * 4.0, (xx + yy) * 2.0], -1) % 256
        noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        write_png(folder / f"{index}.png", noisy)


def train_config(data: Path, out: Path) -> dict:
    return dict(arch="edsr_selu", arch_config={"blocks": 1, "maps": 8}, codec="bpg",
                quantizer=40, data_dir=str(data / "train"), val_dir=str(data / "val"),
                out_dir=str(out), batch_size=4, crop=24, max_steps=200, val_every=25,
                checkpoint_every=5, log_every=5, patience=1, val_crop=None,
                cache_dir=str(data / "pairs"), progress=False, seed=5, threads=1)


@pytest.fixture(scope="module")
def training_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("training")
    write_images(folder / "train", 3, seed=1)
    write_images(folder / "val", 1, seed=2)
    return folder


@pytest.fixture(scope="module")
def straight_run(training_data: Path) -> Path:
    """An uninterrupted run, in its own process like the killed one."""
    out = training_data / "straight"
    run([sys.executable, "-c", TRAIN_SCRIPT, json.dumps(train_config(training_data, out))])
    return out


def checkpoint_step(out: Path) -> int:
    try:
        state = read_metadata((out / "checkpoint.safetensors").read_bytes())["state"]
    except (OSError, KeyError, RcodecError):
        return 0
    return json.loads(state)["step"]


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load(path.read_bytes())


def assert_same_run(resumed: Path, straight: Path) -> None:
    for name in ("checkpoint.safetensors", "best.safetensors", "optimizer.safetensors"):
        ours, theirs = load_tensors(resumed / name), load_tensors(straight / name)
        assert ours.keys() == theirs.keys(), name
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name
    for name in ("checkpoint.safetensors", "best.safetensors"):
        assert read_metadata((resumed / name).read_bytes()) == read_metadata(
            (straight / name).read_bytes()), name
    assert (resumed / "log.csv").read_text() == (straight / "log.csv").read_text()
    # The file hashes may differ: safetensors writes metadata keys in no fixed order.
    reports = [json.loads((out / "report.json").read_text()) for out in (resumed, straight)]
    for report in reports:
        report.pop("weights_sha256")
    assert reports[0] == reports[1]


def test_training_killed_midway_ends_with_the_same_weights(training_data: Path,
                                                           straight_run: Path) -> None:
    resumed = training_data / "killed"
    argv = [sys.executable, "-c", TRAIN_SCRIPT, json.dumps(train_config(training_data, resumed))]
    process = start(argv)
    kill_when(process, lambda: checkpoint_step(resumed) >= 30)
    assert not (resumed / "report.json").exists()
    run(argv)
    assert_same_run(resumed, straight_run)


def test_training_killed_between_checkpoint_writes(training_data: Path, straight_run: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The kill lands after step 25's new best weights and optimizer state are written but
    before its checkpoint: the run resumes from step 20 and must still end the same."""
    resumed = training_data / "between"
    config = TrainConfig(**train_config(training_data, resumed))

    def dying_save(model: object, path: Path, metadata: dict[str, str] | None = None) -> str:
        if Path(path).name == train_module.CHECKPOINT and json.loads(
                (metadata or {}).get("state", "{}")).get("step") == 25:
            raise KeyboardInterrupt
        return save_weights(model, path, metadata)

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "save_weights", dying_save)
        with pytest.raises(KeyboardInterrupt):
            train(config)
    assert checkpoint_step(resumed) == 20
    assert json.loads(read_metadata((resumed / "best.safetensors").read_bytes())["step"]) == 25
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "optimizer state is from another step"
        train(config)
    assert_same_run(resumed, straight_run)


def network_records(cache: Path) -> int:
    """Cache records beyond the codec's own (one measurement and one encode time per
    bitstream): the post-filter measurements made so far."""
    records = len(list(cache.rglob("*.json")))
    return records - 2 * bitstreams(cache)


def test_compress_killed_while_measuring_networks_resumes(images: Path,
                                                          tmp_path: Path) -> None:
    """The lazy path measures networks after the codec sweep: a kill there, then the
    same command, gives the files of an uninterrupted run, reusing every measurement."""
    cache, out, straight = tmp_path / "cache", tmp_path / "out", tmp_path / "straight"

    def argv(target: Path, root: Path) -> list[str]:
        return ["compress", str(images), "-o", str(target), "--bpp", "0.3", "--cache",
                str(root), "--level", "1", "--jobs", "1"]

    kill_then_resume(rcodec(argv(out, cache)), cache, lambda: network_records(cache) >= 6,
                     out / "manifest.json")
    assert main(argv(straight, tmp_path / "fresh")) == 0
    resumed = json.loads((out / "manifest.json").read_text())
    uninterrupted = json.loads((straight / "manifest.json").read_text())
    assert plan_without_timing(resumed) == plan_without_timing(uninterrupted)
    assert resumed["evaluations"]["network_evaluations"] > 0
    for name in sorted(p.name for p in straight.glob("*.rcb")):
        assert (out / name).read_bytes() == (straight / name).read_bytes(), name
