import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os

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
