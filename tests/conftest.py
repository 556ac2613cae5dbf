import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os
import subprocess

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_calibration(tmp_path_factory: pytest.TempPathFactory):
    """Keep the suite's decode-time calibration out of the user's cache folder."""
    old = os.environ.get("RCODEC_CALIBRATION")
    os.environ["RCODEC_CALIBRATION"] = str(tmp_path_factory.mktemp("calibration") / "cal.json")
    yield
    if old is None:
        os.environ.pop("RCODEC_CALIBRATION", None)
    else:
        os.environ["RCODEC_CALIBRATION"] = old


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The README's first command's job, `rcodec demo`, run once in a fresh folder with a
    cold cache: (its output folder, its stdout). The sweep cache it leaves (folder/../cache)
    serves the README's Python section, the same job on the same photographs, so the suite
    runs that 4-minute cold sweep once; this run is the one that tests it cold."""
    root = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "RCODEC_CACHE": str(root / "cache")}
    result = subprocess.run([sys.executable, "-m", "rcodec", "demo", "-o", str(root / "d")],
                            capture_output=True, text=True, timeout=900, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return root / "d", result.stdout
