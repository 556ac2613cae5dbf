"""The sample photographs bundled with rcodec (scikit-image's public-domain / CC0 photos)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path


def sample_paths() -> list[Path]:
    """Paths of the bundled sample photographs."""
    folder = resources.files("rcodec.codec").joinpath("data", "samples")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".png"))


def copy_samples(target: Path) -> Path:
    """Copy the bundled photographs into `target` (created if needed) and return it."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sample_paths():
        shutil.copyfile(path, target / path.name)
    return target
