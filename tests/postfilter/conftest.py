"""Fixtures shared by the post-filter tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rcodec.postfilter import registry, ship, weights


@pytest.fixture
def weights_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped registry, so that shipping does not touch the package."""
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copyfile(registry.weights_dir() / "registry.json", folder / "registry.json")
    for module in (registry, weights, ship):
        monkeypatch.setattr(module, "weights_dir", lambda: folder)
    return folder
