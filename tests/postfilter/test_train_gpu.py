"""scripts/train-gpu.sh, the one command that trains A, B and C on a GPU machine, run end
to end on the CPU in its tiny configuration: the pairs made here, rcodec run from a tree of
links (no install), the carried wheels installed, bf16 weights and a log written to OUT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import safetensors.torch
import torch

from rcodec.postfilter.models import build

REPO = Path(__file__).resolve().parents[2]


def test_train_gpu_script_runs_end_to_end_on_cpu(tmp_path: Path) -> None:
    data, wheels, out = tmp_path / "data", tmp_path / "wheels", tmp_path / "out"
    samples = REPO / "codec" / "data" / "samples"
    subprocess.run([sys.executable, str(REPO / "scripts" / "prepare-gpu-data.py"), "--out",
                    str(data), "--train", str(samples), "--val", str(samples),
                    "--val-images", "2", "--budget-mib", "3", "--wheels", str(wheels),
                    "--jobs", "1"], check=True, capture_output=True, timeout=300)
    assert sorted(p.name for p in data.iterdir()) == [
        "README.txt", "train", "train-bpg-q40", "val", "val-bpg-q40"]
    assert any(p.name.startswith("pytorch_msssim") for p in wheels.iterdir())
    env = dict(os.environ, TINY="1", GPU_DATA=str(data), WHEELS=str(wheels),
               PYTHON=sys.executable)
    done = subprocess.run([str(REPO / "scripts" / "train-gpu.sh"), str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    log = (out / "train-gpu.log").read_text()
    assert "status 0" in log
    for arch in "ABC":
        tensors = safetensors.torch.load((out / f"bpg-{arch}-qp40.safetensors").read_bytes())
        assert {t.dtype for t in tensors.values()} == {torch.bfloat16}
        model = build(arch, blocks=1, maps=8)  # the tiny configuration's size
        model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
        report = json.loads((out / f"{arch}-report.json").read_text())
        assert report["steps"] == 4 and report["arch"] == arch
        assert f"{arch}: 4 steps" in log
    assert len(list(out.iterdir())) <= 8  # what the device tool brings back
