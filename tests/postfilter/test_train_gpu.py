"""scripts/train-gpu.sh, the one command that trains A, B and C on a GPU machine, run end
to end on the CPU in its tiny configuration from a copy of exactly what a device call sends
(the checkout with its weights parked by scripts/device-tree.py, the pairs and wheels carried
in it) with the packages that machine lacks made unimportable: rcodec run from a tree of
links (no install), the wheels installed, bf16 weights and a log written to OUT. And
device-tree.py's parking, which is what lets that tree fit the device tool's 64 MiB."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
from helpers import load_script

from rcodec.postfilter import registry, ship
from rcodec.postfilter.models import build

REPO = Path(__file__).resolve().parents[2]
device_tree = load_script("device-tree.py")
prepare_gpu_data = load_script("prepare-gpu-data.py")


#: Our dependencies the GPU machines' image lacks (the device tool's KINDS.md lists what it
#: holds); pytorch-msssim travels as a wheel.
ABSENT_ON_DEVICE = ("av", "pulp", "highspy", "imagecodecs", "jpeglib", "bjontegaard")


def sent_with_weights_parked() -> list[Path]:
    """The checkout's files a device call sends once `device-tree.py park` has run."""
    parked = set(device_tree.tracked_weights(REPO))
    return [p for p in device_tree.travelling_files(REPO) if p.as_posix() not in parked]


def test_a_device_call_fits_with_the_weights_parked() -> None:
    sent = sum((REPO / p).stat().st_size for p in sent_with_weights_parked())
    pairs = prepare_gpu_data.DEFAULT_BUDGET_MIB * 2**20
    # 2 MiB for the carried wheels (pytorch-msssim is 0.03)
    assert sent + pairs + 2 * 2**20 <= device_tree.TRAVEL_LIMIT, sent / 2**20
    assert device_tree.travelling_bytes(REPO) > device_tree.TRAVEL_LIMIT  # why parking exists


def test_train_gpu_script_runs_end_to_end_on_cpu(tmp_path: Path,
                                                  weights_folder: Path) -> None:
    tree, out = tmp_path / "tree", tmp_path / "out"
    for path in sent_with_weights_parked():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, tree / path)  # (keeps the scripts' execute bits)
    data, wheels = tree / "gpu-data", tree / ".whl"  # the carried folders, where it looks
    samples = REPO / "codec" / "data" / "samples"
    subprocess.run([sys.executable, str(REPO / "scripts" / "prepare-gpu-data.py"), "--out",
                    str(data), "--train", str(samples), "--val", str(samples),
                    "--val-images", "2", "--budget-mib", "3", "--wheels", str(wheels),
                    "--jobs", "1"], check=True, capture_output=True, timeout=300)
    assert sorted(p.name for p in data.iterdir()) == [
        "README.txt", "train", "train-bpg-q40", "val", "val-bpg-q40"]
    assert any(p.name.startswith("pytorch_msssim") for p in wheels.iterdir())
    absent = tmp_path / "absent"  # modules whose import fails, as it would there
    absent.mkdir()
    for name in ABSENT_ON_DEVICE:
        (absent / f"{name}.py").write_text(f"raise ImportError('no {name} on the device')\n")
    env = dict(os.environ, TINY="1", PYTHON=sys.executable, PYTHONPATH=str(absent))
    done = subprocess.run([str(tree / "scripts" / "train-gpu.sh"), str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    log = (out / "train-gpu.log").read_text()
    assert "status 0" in log
    tiny = {"blocks": 1, "maps": 8}  # the script's tiny configuration
    for arch in "ABC":
        tensors = safetensors.torch.load((out / arch / "best.safetensors").read_bytes())
        model = build(arch, **tiny)
        parameters = {name for name, _ in model.named_parameters()}
        # Parameters in bf16, buffers (the RGB mean) as trained, as ship stores them.
        assert {name: t.dtype for name, t in tensors.items()} == {
            name: torch.bfloat16 if name in parameters else torch.float32 for name in tensors}
        assert set(tensors) - parameters == {"rgb_mean"}
        model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
        report = json.loads((out / arch / "report.json").read_text())
        assert report["steps"] == 4 and report["arch"] == arch
        assert f"{arch}: 4 steps" in log
    assert len([p for p in out.rglob("*") if p.is_file()]) <= 8  # what the device tool
    # brings back
    # What came back ships as it is (its steps from the weights' metadata).
    selector = max(e.selector for e in registry.load_registry()) + 1
    entry = ship.ship(out / "A", "test-gpu-a", selector, (40, 40), "as it came back")
    assert (entry.arch, entry.config, entry.codec, entry.steps) == ("A", tiny, "bpg", 4)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.com", *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A repository with two committed weights files, a registry and code."""
    repo = tmp_path / "repo"
    (repo / "postfilter" / "weights").mkdir(parents=True)
    for name, size in (("a.safetensors", 3000), ("b.safetensors", 5000)):
        (repo / "postfilter" / "weights" / name).write_bytes(os.urandom(size))
    (repo / "postfilter" / "weights" / "registry.json").write_text("[]")
    (repo / "code.py").write_text("x = 1\n")
    (repo / ".gitignore").write_text("/.device-parked/\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "c")
    return repo


def test_parking_takes_the_weights_out_of_what_travels_and_restore_undoes_it(
        checkout: Path) -> None:
    weights = checkout / "postfilter" / "weights"
    before = {p.name: p.read_bytes() for p in weights.iterdir()}
    sent = device_tree.travelling_bytes(checkout)
    assert device_tree.park(checkout) == ["postfilter/weights/a.safetensors",
                                          "postfilter/weights/b.safetensors"]
    assert sorted(p.name for p in weights.iterdir()) == ["registry.json"]
    assert "safetensors" not in git(checkout, "ls-files")
    assert device_tree.travelling_bytes(checkout) == sent - 8000
    with pytest.raises(device_tree.TreeError, match="parked already"):
        device_tree.park(checkout)
    device_tree.restore(checkout)
    assert {p.name: p.read_bytes() for p in weights.iterdir()} == before
    assert git(checkout, "status", "--porcelain") == ""
    assert not (checkout / device_tree.PARKED).exists()
    with pytest.raises(device_tree.TreeError, match="nothing parked"):
        device_tree.restore(checkout)


def test_parking_refuses_weights_with_uncommitted_changes(checkout: Path) -> None:
    (checkout / "postfilter" / "weights" / "a.safetensors").write_bytes(b"retrained")
    with pytest.raises(device_tree.TreeError, match="uncommitted"):
        device_tree.park(checkout)
    assert (checkout / "postfilter" / "weights" / "b.safetensors").exists()
    assert not (checkout / device_tree.PARKED).exists()


def test_parking_refuses_a_parking_folder_git_would_send(checkout: Path) -> None:
    (checkout / ".gitignore").write_text("")
    with pytest.raises(device_tree.TreeError, match="does not ignore"):
        device_tree.park(checkout)
    assert "a.safetensors" in git(checkout, "ls-files")


def test_the_command_line_reports_the_size_and_fails_over_the_limit(
        checkout: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert device_tree.main(["size", "--repo", str(checkout)]) == 0
    monkeypatch.setattr(device_tree, "TRAVEL_LIMIT", 4000)  # a's and b's 8000 bytes: over
    assert device_tree.main(["size", "--repo", str(checkout)]) == 1
    assert "is over the" in capsys.readouterr().out
    assert device_tree.main(["park", "--repo", str(checkout)]) == 0  # 0.1 KiB left: fits
    assert device_tree.main(["restore", "--repo", str(checkout)]) == 0
    assert device_tree.main(["restore", "--repo", str(checkout)]) == 1
    assert "nothing parked" in capsys.readouterr().err
