"""Every codec through the commands: encode, decode, info, sweep, compress, decompress, rd
and a challenge submission (whose decoder must carry what the codec needs)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import sample_crops
from PIL import Image

from rcodec.challenge.check import check
from rcodec.cli import main
from rcodec.codec import registry

NEW = ["avif", "webp", "jxl", "j2k"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_crops(tmp_path_factory.mktemp("images"), (0, 0, 144, 96), 3)


def flag(name: str) -> str:
    return "--" + registry.codec_class(name).quantizer_name.replace("_", "-")


@pytest.mark.parametrize("name", registry.names())
def test_encode_decode_info(name: str, images: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture) -> None:
    cls = registry.codec_class(name)
    source = sorted(images.iterdir())[0]
    plain, packed = tmp_path / f"x{cls.suffixes[0]}", tmp_path / "x.rcb"
    q = str(cls.typical_quantizer)
    assert main(["encode", str(source), "-o", str(plain), flag(name), q]) == 0
    assert main(["encode", str(source), "-o", str(packed), "--codec", name, flag(name), q]) == 0
    assert packed.read_bytes()[1:] == plain.read_bytes()  # selector 0, then the same stream
    capsys.readouterr()
    assert main(["info", str(packed), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["payload"]["format"] == cls.format_name and info["payload"]["width"] == 144
    if name in ("bpg", "jpeg"):  # the codecs whose files say the quantizer they were coded at
        assert info["payload"][cls.quantizer_name] == int(q)
    for data in (plain, packed):
        out = tmp_path / f"{data.suffix[1:]}.png"
        assert main(["decode", str(data), "-o", str(out)]) == 0
        assert np.asarray(Image.open(out)).shape[:2] == (96, 144)


@pytest.mark.parametrize("name", NEW)
def test_sweep_compress_decompress(name: str, images: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    table = tmp_path / "sweep.csv"
    assert main(["sweep", str(images), "-o", str(table), "--codec", name, "--bpp", "0.8",
                 "--cache", str(cache), "--jobs", "1"]) == 0
    rows = list(csv.DictReader(table.open()))
    assert rows and {r["codec"] for r in rows} == {name}
    out, decoded = tmp_path / "out", tmp_path / "decoded"
    assert main(["compress", str(images), "--bpp", "0.8", "-o", str(out), "--codec", name,
                 "--cache", str(cache), "--jobs", "1"]) == 0
    assert main(["decompress", str(out), "-o", str(decoded), "--jobs", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["summary"]["codecs"] == {name: 3} and manifest["summary"]["bpp"] <= 0.8
    assert main(["evaluate", str(images), str(decoded), "--json", str(tmp_path / "e.json")]) == 0
    evaluation = json.loads((tmp_path / "e.json").read_text())
    assert evaluation["total_sse"] == sum(r["predicted_sse"] for r in manifest["plan"])


def test_rd_with_several_codecs(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "rd"
    assert main(["rd", str(images), "--codec", "jpeg,webp", "--filters", "none",
                 "--bpp", "0.8:1.6:3", "-o", str(out), "--cache", str(tmp_path / "cache"),
                 "--jobs", "1"]) == 0
    names = {p.stem for p in out.glob("*.json")} - {"bd"}
    assert {"jpeg-fixed", "jpeg-plan", "webp-fixed", "webp-plan", "mixed-plan"} <= names
    bd = json.loads((out / "bd.json").read_text())
    assert bd["baseline"] == "jpeg-fixed"
    mixed = json.loads((out / "mixed-plan.json").read_text())
    for single in ("jpeg-plan", "webp-plan"):  # never worse than one codec at the same rate
        curve = json.loads((out / f"{single}.json").read_text())
        at = {p["target_bpp"]: p["psnr"] for p in curve["points"]}
        for point in mixed["points"]:
            if point["target_bpp"] in at:
                assert point["psnr"] >= at[point["target_bpp"]] - 1e-9


#: The distribution each new codec's decoder needs in a submission's pins.
DECODER_PINS = {"avif": "pillow", "webp": "pillow", "jxl": "imagecodecs", "j2k": "pillow"}


@pytest.mark.parametrize("name", NEW)
def test_a_submission_decodes_in_its_own_interpreter(name: str, images: Path,
                                                     tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    assert main(["challenge", "pack", str(images), "--bpp", "2.0", "-o", str(sub),
                 "--codec", name, "--cache", str(tmp_path / "cache"), "--jobs", "1"]) == 0
    pins = (sub / "decoder" / "requirements.txt").read_text().split()
    assert any(pin.lower().startswith(DECODER_PINS[name] + "==") for pin in pins)
    report = json.loads((sub / "report.json").read_text())
    assert report["plan"]["rows"] and all(
        (sub / "images" / f"{Path(row[0]).stem}.rcb").is_file() for row in report["plan"]["rows"])
    rules = {rule.name: rule.passed for rule in check(sub, images)}
    assert all(rules.values()), rules
