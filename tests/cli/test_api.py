"""The public API: the README's Python section runs as written, and the API and the CLI
give the same files and numbers for the same job."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rcodec
from rcodec.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def python_section() -> str:
    """The first ```python block after the README's "## Python" heading."""
    text = README.read_text()
    section = text[text.index("\n## Python\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory,
               demo_run: tuple[Path, str]) -> tuple[Path, str]:
    """The README's Python section, run as written in a fresh folder and interpreter, over
    the sweep cache `rcodec demo` left (the same job: its cold sweep is tested there)."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(demo_run[0].parent / "cache", folder / "cache")
    env = {"RCODEC_CACHE": str(folder / "cache"), "PATH": "/usr/bin:/bin",
           "HOME": str(folder), "RCODEC_CALIBRATION": str(folder / "cal.json")}
    done = subprocess.run([sys.executable, "-c", python_section()], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    return folder, done.stdout


def test_readme_python_section_runs_as_written(readme_run: tuple[Path, str]) -> None:
    folder, stdout = readme_run
    manifest = json.loads((folder / "py-demo/compressed/manifest.json").read_text())
    status, bpp, _, psnr, _ = stdout.splitlines()[0].split()
    assert status == manifest["summary"]["status"] == "optimal"
    assert float(bpp) == pytest.approx(manifest["summary"]["bpp"], abs=1e-4)
    assert manifest["summary"]["bpp"] <= 0.15
    assert psnr == f"{manifest['summary']['pooled_psnr']:.3f}"
    decoded = sorted(p.stem for p in (folder / "py-demo/decoded").glob("*.png"))
    assert decoded == sorted(p.stem for p in (folder / "py-demo/images").glob("*.png"))
    scores = rcodec.evaluate(folder / "py-demo/images", folder / "py-demo/decoded")
    assert stdout.splitlines()[1] == (f"pooled PSNR {scores.pooled_psnr:.3f} dB, "
                                      f"MS-SSIM {scores.ms_ssim:.5f}")
    # What the plan predicted is what the decoder produced: the same squared error.
    assert scores.total_sse == sum(row["predicted_sse"] for row in manifest["plan"])


def test_cli_and_api_write_the_same_files(readme_run: tuple[Path, str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = readme_run
    monkeypatch.setenv("RCODEC_CACHE", str(folder / "cache"))
    images, api_out = folder / "py-demo/images", folder / "py-demo/compressed"
    cli_out, cli_png = tmp_path / "compressed", tmp_path / "decoded"
    assert main(["compress", str(images), "--bpp", "0.15", "-o", str(cli_out)]) == 0
    assert main(["decompress", str(cli_out), "-o", str(cli_png)]) == 0
    names = sorted(p.name for p in api_out.glob("*.rcb"))
    assert names == sorted(p.name for p in cli_out.glob("*.rcb")) and names
    for name in names:
        assert (api_out / name).read_bytes() == (cli_out / name).read_bytes(), name
    for png in (folder / "py-demo/decoded").glob("*.png"):
        assert png.read_bytes() == (cli_png / png.name).read_bytes(), png.name
    api_manifest = json.loads((api_out / "manifest.json").read_text())
    cli_manifest = json.loads((cli_out / "manifest.json").read_text())
    assert api_manifest["plan"] == cli_manifest["plan"]
    for key in ("total_bytes", "pooled_psnr", "mean_psnr", "mean_ms_ssim", "status", "gap"):
        assert api_manifest["summary"][key] == cli_manifest["summary"][key], key
