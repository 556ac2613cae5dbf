"""`rcodec challenge pack`: a submission folder planned under the organisers' byte cap.

SUB/images/<stem>.rcb   one container per image, named after the source image
SUB/decoder/            a self-contained decoder (see challenge.bundle)
SUB/report.json         plan, budgets, totals, versions

Every byte outside decoder/ counts against the cap, report.json included, so the plan is
solved for the cap less the report's size (re-solved once the report is known). The folder
is built beside the target and renamed into place: a killed pack leaves no half submission.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from rcodec.challenge.bundle import write_decoder
from rcodec.codec.images import image_paths, image_shape
from rcodec.errors import BudgetError, RcodecError
from rcodec.fileio import atomic_write_text
from rcodec.optimize import job
from rcodec.optimize.objective import DEFAULT as DEFAULT_OBJECTIVE
from rcodec.optimize.sweep import SweepRequest
from rcodec.optimize.table import plan_rows, plan_summary
from rcodec.postfilter import registry

REPORT = "report.json"
IMAGES = "images"
DECODER = "decoder"

#: Columns of the report's plan rows; image i is written to images/<stem of i>.rcb.
PLAN_COLUMNS = ["image", "quantizer", "filter", "bytes"]


def submission_bytes(sub_dir: Path) -> int:
    """Bytes of every file of a submission outside its decoder folder."""
    return sum(path.stat().st_size for path in sub_dir.rglob("*")
               if path.is_file() and DECODER not in path.relative_to(sub_dir).parts[:1])


def _report(rows: list[dict], plan, cap: int, reserve: int, budget: job.Budget,
            requests: Sequence[SweepRequest], decoder: dict, objective: str) -> dict:
    summary = plan_summary(rows, plan, cap - reserve, budget.decode_seconds, objective)
    codecs = [{"name": r.codec.name, "options": dict(r.codec.options)} for r in requests]
    # What the CLIC rule (one codec, pooled PSNR) would not need is reported only when it
    # applies: the report's bytes count against the cap.
    extra = {} if objective == DEFAULT_OBJECTIVE else {
        "objective": objective, "gap_in_unit": summary["gap_in_unit"]}
    if len(codecs) > 1:
        extra["images_per_codec"] = summary["codecs"]
    # Compact rows: the report's bytes count against the cap too.
    chosen = [[r["image"], r["quantizer"], r["filter"], r["bytes"]]
              for r in plan_rows(rows, plan)]
    return {"budget": {"bytes": cap, "bpp": budget.bpp, "decode_seconds": budget.decode_seconds,
                       "reserved_for_report": reserve},
            "totals": {key: summary[key] for key in (
                "images", "pixels", "total_bytes", "bpp", "pooled_psnr", "mean_psnr",
                "mean_ms_ssim", "decode_seconds")},
            "solver": {key: summary[key] for key in ("solver", "status", "gap",
                                                     "solve_seconds")} | extra,
            # The options given, not every default: the report's bytes count against the cap.
            "codec": codecs[0] if len(codecs) == 1 else codecs,
            "filters": list(dict.fromkeys(f.name for r in requests for f in r.filters)),
            "decoder": decoder, "versions": job.versions(),
            "plan": {"columns": PLAN_COLUMNS, "rows": chosen}}


def pack(images: Path | Sequence[Path], sub_dir: Path, budget: job.Budget,
         requests: SweepRequest | Sequence[SweepRequest], cache_root: Path, jobs: int = -1,
         backend: str | None = None, solver: str = "auto",
         progress: Callable[[int], None] | None = None, time_limit: float = 60.0,
         objective: str = DEFAULT_OBJECTIVE) -> dict:
    """Plan, write and bundle a submission into `sub_dir` (replacing it); return the report.
    Several requests (one per codec) let the plan pick each image's codec. `time_limit`:
    seconds per solve."""
    requests = [requests] if isinstance(requests, SweepRequest) else list(requests)
    paths = image_paths(images)
    sub_dir = Path(sub_dir)
    sub_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{sub_dir.name}.", dir=sub_dir.parent))
    try:
        swept = job.sweep_and_plan(paths, requests, budget, cache_root, jobs, backend, solver,
                                   progress, time_limit, objective=objective)
        rows, plan, cap = swept.rows, swept.plan, swept.max_bytes
        reserve = 0
        for _ in range(4):  # the report's size settles after one or two rounds
            chosen = plan_rows(rows, plan)
            used = {r["filter"] for r in chosen} - {"none"}
            decoder = {"entry": f"{DECODER}/decode.py", "networks": sorted(used)}
            report = _report(rows, plan, cap, reserve, budget, requests, decoder, objective)
            text = json.dumps(report, separators=(",", ":"))
            if plan.total_bytes + len(text) <= cap:
                break
            reserve = len(text) + 16
            if reserve >= cap:
                raise BudgetError(f"a byte cap of {cap} leaves no room for the images")
            plan, _ = job.plan_rows_for(rows, dataclasses.replace(
                budget, bpp=None, bytes=cap - reserve), solver, time_limit, objective)
        else:
            raise BudgetError(f"could not fit the report within the cap of {cap} bytes")
        job.write_containers(paths, chosen, requests, cache_root, staging / IMAGES)
        write_decoder(staging / DECODER, [registry.find(name) for name in sorted(used)])
        atomic_write_text(staging / REPORT, text)
        total = submission_bytes(staging)
        if total > cap:
            raise BudgetError(f"submission is {total} bytes, over the cap of {cap}")
        _replace(staging, sub_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _replace(staging: Path, target: Path) -> None:
    """Move the finished folder into place, replacing an older submission there."""
    if target.exists():
        if not (target / REPORT).is_file() and any(target.iterdir()):
            raise RcodecError(f"{target}: exists and is not a submission; not replacing it")
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)


def cap_for(budget: job.Budget, images: Path | Sequence[Path]) -> int:
    """The byte cap a budget means for these images."""
    pixels = sum(h * w for h, w in map(image_shape, image_paths(images)))
    return budget.max_bytes(pixels)

