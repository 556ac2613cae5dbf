"""Degenerate inputs through `rcodec compress`, `sweep` and `plan`: each ends in a clear result
or a one-line error naming the file; infeasible budgets and solver time limits report plainly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import BPG_VECTORS, sample_crops
from PIL import Image

import rcodec.codec.bpg as bpg
from rcodec.cli import main
from rcodec.codec.images import open_image, read_rgb, write_png
from rcodec.codec.samples import sample_paths
from rcodec.optimize.plan import Candidates, solve
from rcodec.optimize.table import COLUMNS, write_csv

FAST = ["--level", "1", "--qps", "34:35", "--jobs", "1", "--filters", "none"]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.open(sample_paths()[0]).convert("RGB"))[40:88, 40:104]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def one_image(folder: Path, name: str, save) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save(folder / name)
    return folder


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *names: str) -> None:
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rcodec "), err
    for name in names:
        assert name in lines[0], (name, lines[0])


# --- folders of images -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["compress", "sweep"])
def test_empty_folder(command: str, tmp_path: Path, cache: Path,
                      capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    extra = ["--bpp", "0.5"] if command == "compress" else []
    code, _, err = run_cli(capsys, command, str(tmp_path / "empty"), "-o",
                           str(tmp_path / "out"), "--cache", str(cache), *extra, *FAST)
    assert_one_line_error(code, err, "empty", "no images found")
    assert not (tmp_path / "out").exists()


def test_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(capsys, "compress", str(tmp_path / "nowhere"), "-o",
                           str(tmp_path / "out"), "--bpp", "0.5", *FAST)
    assert_one_line_error(code, err, "nowhere", "not a directory")


def save_rgb16(array: np.ndarray):
    return lambda path: write_png(path, array.astype(np.uint16) * 257)


def save_gray16(array: np.ndarray):
    return lambda path: Image.fromarray(array[..., 1].astype(np.uint16) * 257).save(path)


def save_mode(array: np.ndarray, mode: str, **options: object):
    return lambda path: Image.fromarray(array).convert(mode).save(path, **options)


FORMATS = {
    "rgb16.png": (save_rgb16, "RGB"),
    "gray16.png": (save_gray16, "I;16"),
    "cmyk.jpg": (lambda a: save_mode(a, "CMYK", quality=90), "CMYK"),
    "gray_alpha.png": (lambda a: save_mode(a, "LA"), "LA"),
    "palette.png": (lambda a: save_mode(a, "P"), "P"),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_unusual_formats_compress_and_decompress(name: str, photo: np.ndarray, tmp_path: Path,
                                                 cache: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    make, mode = FORMATS[name]
    images = one_image(tmp_path / "images", name, make(photo))
    assert open_image(images / name).mode == mode
    rgb = read_rgb(images / name)
    assert rgb.shape == photo.shape and rgb.dtype == np.uint8
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "compress", str(images), "-o", str(out), "--bpp", "2",
                                "--cache", str(cache), *FAST)
    assert code == 0, err
    assert "wrote 1 files" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["summary"]["images"] == 1 and manifest["summary"]["status"] == "optimal"
    code, _, err = run_cli(capsys, "decompress", str(out), "-o", str(tmp_path / "decoded"))
    assert code == 0, err
    decoded = read_rgb(tmp_path / "decoded" / f"{Path(name).stem}.png")
    assert decoded.shape == photo.shape
    # The plan's error is that of the 8-bit RGB the sweep read, measured on the decoded image.
    assert int(((decoded.astype(np.int64) - rgb) ** 2).sum()) == manifest["plan"][0][
        "predicted_sse"]


def test_one_image_sweep_plan_and_compress(photo: np.ndarray, tmp_path: Path, cache: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    images = one_image(tmp_path / "images", "one.png", save_mode(photo, "RGB"))
    table = tmp_path / "sweep.csv"
    code, stdout, err = run_cli(capsys, "sweep", str(images), "-o", str(table), "--cache",
                                str(cache), *FAST)
    assert code == 0, err
    assert "2 rows for 1 images" in stdout
    code, stdout, err = run_cli(capsys, "plan", str(table), "--bpp", "1", "-o",
                                str(tmp_path / "plan.csv"), "--json", str(tmp_path / "plan.json"))
    assert code == 0, err
    summary = json.loads((tmp_path / "plan.json").read_text())
    assert summary["images"] == 1 and summary["status"] == "optimal" and summary["gap"] <= 1e-4
    assert "solver        cbc, optimal, proved gap" in stdout


@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 9999), (9999, 1), (8, 300)])
def test_images_too_small_for_bpg_name_the_file(height: int, width: int, photo: np.ndarray,
                                                tmp_path: Path, cache: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    sliver = np.resize(photo, (height, width, 3))
    images = one_image(tmp_path / "images", "sliver.png", save_mode(sliver, "RGB"))
    code, _, err = run_cli(capsys, "compress", str(images), "-o", str(tmp_path / "out"),
                           "--bpp", "4", "--cache", str(cache), *FAST)
    assert_one_line_error(code, err, "sliver.png", f"{width}x{height}", "too small for BPG")
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 9999)])
def test_tiny_and_thin_images_work_with_jpeg(height: int, width: int, photo: np.ndarray,
                                             tmp_path: Path, cache: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    sliver = np.resize(photo, (height, width, 3))
    images = one_image(tmp_path / "images", "sliver.png", save_mode(sliver, "RGB"))
    argv = ["compress", str(images), "-o", str(tmp_path / "out"), "--codec", "jpeg", "--qps",
            "50:51", "--jobs", "1", "--cache", str(cache)]
    code, stdout, err = run_cli(capsys, *argv, "--bytes", "100000")
    assert code == 0, err
    assert (tmp_path / "out" / "sliver.rcb").is_file()
    code, _, err = run_cli(capsys, "decompress", str(tmp_path / "out"), "-o",
                           str(tmp_path / "decoded"))
    assert code == 0, err
    assert read_rgb(tmp_path / "decoded" / "sliver.png").shape == (height, width, 3)
    # A budget under the smallest file is refused with the smallest achievable size.
    code, _, err = run_cli(capsys, *argv, "--bytes", "10")
    assert_one_line_error(code, err, "byte budget 10 is too small", "smallest achievable")


def test_a_broken_image_among_good_ones_is_named(photo: np.ndarray, tmp_path: Path,
                                                 cache: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    images = one_image(tmp_path / "images", "good.png", save_mode(photo, "RGB"))
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    code, _, err = run_cli(capsys, "sweep", str(images), "-o", str(tmp_path / "s.csv"),
                           "--cache", str(cache), *FAST)
    assert_one_line_error(code, err, "broken.png", "not a readable image")


def test_bpg_with_a_long_extension_reads_as_an_input_image(tmp_path: Path) -> None:
    """An ICC profile or EXIF block over 4 KB pushes the header past Pillow's first read."""
    data = (BPG_VECTORS / "chelsea_q40.bpg").read_bytes()
    header, end = bpg.BpgHeader.parse(data)
    header.extensions.append((2, bytes(6000)))
    (tmp_path / "icc.bpg").write_bytes(header.to_bytes() + data[end:])
    assert np.array_equal(read_rgb(tmp_path / "icc.bpg"), bpg.decode_bpg(data))


# --- plans -------------------------------------------------------------------------------------


def sweep_table(path: Path, rows: list[dict]) -> Path:
    full = [{"codec": "bpg", "filter": "none", "pixels": 1000, "psnr": 30.0, "ms_ssim": 0.9,
             "decode_time_source": "measured", **row} for row in rows]
    write_csv(path, full, COLUMNS)
    return path


def test_infeasible_budgets_name_the_least(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    table = sweep_table(tmp_path / "s.csv", [
        {"image": "a.png", "quantizer": 30, "bytes": 500, "sse": 10, "decode_seconds": 0.5},
        {"image": "a.png", "quantizer": 40, "bytes": 200, "sse": 90, "decode_seconds": 0.2},
        {"image": "b.png", "quantizer": 40, "bytes": 300, "sse": 50, "decode_seconds": 0.3}])
    plan = ["-o", str(tmp_path / "p.csv")]
    code, _, err = run_cli(capsys, "plan", str(table), "--bytes", "499", *plan)
    assert_one_line_error(code, err, "byte budget 499 is too small", "500 bytes")
    code, _, err = run_cli(capsys, "plan", str(table), "--bytes", "10000", "--decode-time",
                           "0.4", *plan)
    assert_one_line_error(code, err, "decode-time budget 0.4 s is too small", "0.5 s")
    code, _, err = run_cli(capsys, "plan", str(table), "--bytes", "700", "--decode-time",
                           "0.5", *plan)
    assert code == 0, err  # a (200 bytes, 0.2 s) + b (300, 0.3): exactly on both budgets
    code, _, err = run_cli(capsys, "plan", str(table), "--bytes", "799", "--decode-time",
                           "0.6", *plan)
    assert code == 0, err
    assert not (tmp_path / "nothing.csv").exists()


@pytest.mark.parametrize("content", [
    "", "image,codec\n", "image,codec,quantizer,filter,bytes,sse,pixels,decode_seconds\n",
    "image,codec,quantizer,filter,bytes,sse,pixels,decode_seconds\na,bpg,x,none,1,1,1,0\n",
    "image,codec,quantizer,filter,bytes,sse,pixels,decode_seconds\na,bpg,30,none,-5,1,1,0\n",
    "image,codec,quantizer,filter,bytes,sse,pixels,decode_seconds\na,bpg,30,none,5,1,1,nan\n",
])
def test_malformed_sweep_tables_are_refused(content: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "s.csv").write_text(content)
    code, _, err = run_cli(capsys, "plan", str(tmp_path / "s.csv"), "--bpp", "1", "-o",
                           str(tmp_path / "p.csv"))
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "p.csv").exists()


def random_instance(seed: int, images: int, per_image: int) -> Candidates:
    """Rate-distortion-like rows: bytes fall and sse rises with the quantizer, plus noise."""
    rng = np.random.default_rng(seed)
    image = np.repeat(np.arange(images), per_image)
    q = np.tile(np.linspace(0, 1, per_image), images)
    scale = rng.uniform(0.5, 2.0, images)[image]
    size = np.round(5000 * scale * np.exp(-2.5 * q) * rng.uniform(0.9, 1.1, q.size))
    sse = np.round(1000 * scale * np.exp(3 * q) * rng.uniform(0.85, 1.15, q.size))
    return Candidates(image, size.astype(np.int64), sse.astype(np.int64),
                      np.round(rng.uniform(0.05, 1.0, q.size), 3))


def budgets(table: Candidates, fraction: float) -> tuple[int, float]:
    """Byte and time budgets a fraction of the way from the least to the most."""
    def totals(values: np.ndarray) -> tuple[float, float]:
        per_image = values.reshape(table.num_images, -1)
        return per_image.min(axis=1).sum(), per_image.max(axis=1).sum()

    (least_b, most_b), (least_t, most_t) = totals(table.bytes), totals(table.decode_seconds)
    return (int(least_b + fraction * (most_b - least_b)),
            float(least_t + (1 - fraction) * (most_t - least_t)))


@pytest.mark.parametrize("method", ["cbc", "highs"])
def test_solver_time_limit_reports_status_and_gap(method: str) -> None:
    """2000 images with both budgets and no gap allowed cannot be proved in 10 ms: the solver
    stops on its clock, and the plan says so, with the gap it did prove."""
    table = random_instance(1, images=2000, per_image=12)
    max_bytes, max_seconds = budgets(table, 0.4)
    plan = solve(table, max_bytes, max_seconds, method, time_limit=0.01, gap=0.0)
    assert plan.status == "time_limit"
    assert plan.total_bytes <= max_bytes and plan.total_seconds <= max_seconds
    assert 0 <= plan.lower_bound <= plan.total_sse
    assert plan.gap == pytest.approx((plan.total_sse - plan.lower_bound) / plan.total_sse)
    assert 0 <= plan.gap < 1e-3
    assert plan.solve_seconds < 5
    finished = solve(table, max_bytes, max_seconds, method, time_limit=60, gap=1e-4)
    assert finished.status == "optimal" and finished.gap <= 1e-4
    assert finished.total_sse <= plan.total_sse


def test_one_candidate_per_image_and_the_lagrangian_path() -> None:
    table = random_instance(3, images=6, per_image=1)
    exact = solve(table, int(table.bytes.sum()), method="cbc")
    assert exact.status == "optimal" and exact.gap == 0
    relaxed = solve(table, int(table.bytes.sum()), method="lagrangian")
    assert relaxed.status == "optimal" and np.array_equal(relaxed.choice, exact.choice)


def test_a_job_failing_in_its_workers_ends_in_one_line(tmp_path: Path) -> None:
    """A bad image found by a worker process: the error line, and nothing after it (no
    warnings from the workers' resource tracker at exit)."""
    folder = sample_crops(tmp_path / "images", (0, 0, 96, 64), 3)
    Image.new("RGB", (6, 6)).save(folder / "tiny.png")  # too small for x265, seen by a worker
    done = subprocess.run([sys.executable, "-m", "rcodec", "compress", str(folder), "--bpp",
                           "0.5", "-o", str(tmp_path / "out"), "--jobs", "2", "--cache",
                           str(tmp_path / "cache"), "--filters", "none"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "tiny.png" in lines[0] and "too small" in lines[0], lines
