"""Every shipped network: its registry entry agrees with its weights, and a file written with
its selector byte decodes through it, colour and (for luma networks) gray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import sample_crops
from PIL import Image

from rcodec import metrics
from rcodec.cli import main
from rcodec.codec.images import read_rgb
from rcodec.codec.registry import make_codec
from rcodec.codec.samples import sample_paths
from rcodec.optimize.table import read_sweep
from rcodec.postfilter import registry
from rcodec.postfilter.inference import apply_filter, load_model
from rcodec.postfilter.models import input_kind, parameter_count

ENTRIES = registry.load_registry()
QUANTIZER_LIMITS = {"bpg": (0, 51), "jpeg": (1, 100)}


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "crop.png"
    Image.open(sample_paths()[0]).convert("RGB").crop((40, 40, 112, 88)).save(path)
    return path


def test_selectors_and_names_are_unique() -> None:
    assert len({e.selector for e in ENTRIES}) == len({e.name for e in ENTRIES}) == len(ENTRIES)
    assert all(1 <= e.selector <= 255 for e in ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_entry_matches_its_weights(entry: registry.ModelEntry) -> None:
    model = load_model(entry)  # checks the sha256
    assert parameter_count(model) == entry.params
    assert entry.channels == ("rgb" if input_kind(entry.arch) == "rgb" else "y")
    low, high = entry.quantizer_range
    floor, ceiling = QUANTIZER_LIMITS[entry.codec]
    assert floor <= low <= high <= ceiling
    assert entry.seconds_per_mpx is not None and entry.seconds_per_mpx > 0 and entry.steps > 0


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_a_file_with_its_selector_decodes_through_it(entry: registry.ModelEntry, photo: Path,
                                                     tmp_path: Path) -> None:
    sources = [photo]
    if entry.channels == "y":  # luma networks filter gray images too
        gray = tmp_path / "gray.png"
        Image.open(photo).convert("L").save(gray)
        sources.append(gray)
    quantizer = ["--qp" if entry.codec == "bpg" else "--quality",
                 str(sum(entry.quantizer_range) // 2)]
    for source in sources:
        rcb, png = tmp_path / f"{source.stem}.rcb", tmp_path / f"{source.stem}.png"
        assert main(["encode", str(source), "-o", str(rcb), "--codec", entry.codec,
                     "--filter", entry.name, "--level", "1", *quantizer]) == 0
        assert rcb.read_bytes()[0] == entry.selector
        assert main(["decode", str(rcb), "-o", str(png)]) == 0
        payload = rcb.read_bytes()[1:]
        plain = make_codec(entry.codec).decode(payload)
        expected = apply_filter(entry, plain, payload)
        decoded = np.asarray(Image.open(png))
        assert decoded.shape == plain.shape and np.array_equal(decoded, expected)
        assert not np.array_equal(decoded, plain)  # the network did change the image
        if source == photo:
            assert read_rgb(png).shape == read_rgb(photo).shape


JPEG_DEFAULTS = [e for e in ENTRIES if e.codec == "jpeg" and e.default]


@pytest.mark.skipif(not JPEG_DEFAULTS, reason="no default JPEG network registered")
def test_jpeg_compress_with_the_default_networks_decodes_to_the_plan(tmp_path: Path) -> None:
    """JPEG's default networks are sweep candidates; the files compress writes decode, through
    the network each names, to exactly the error the plan predicted."""
    images = sample_crops(tmp_path / "images", (0, 0, 160, 120), 3)
    out, decoded, table = tmp_path / "out", tmp_path / "decoded", tmp_path / "sweep.csv"
    common = ["--codec", "jpeg", "--qps", "10:30:10", "--jobs", "1", "--cache",
              str(tmp_path / "cache")]
    assert main(["sweep", str(images), "-o", str(table), *common]) == 0
    assert {r["filter"] for r in read_sweep(table)} == {"none", *(e.name for e in JPEG_DEFAULTS)}
    assert main(["compress", str(images), "-o", str(out), "--bpp", "1.0", *common]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert main(["decompress", str(out), "-o", str(decoded), "--jobs", "1"]) == 0
    for row in manifest["plan"]:
        source = read_rgb(images / row["image"])
        output = read_rgb(decoded / f"{Path(row['image']).stem}.png")
        assert metrics.sse(output, source) == row["predicted_sse"]
