"""Exact planning as a 0-1 ILP (a binary per candidate, exactly one per image, byte and time
rows) solved by HiGHS (in process, matrix API) or CBC (through PuLP), with a proved bound."""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np

from rcodec.optimize.lagrangian import Grid

_HIGHS_PRESOLVE_MAX_COLUMNS = 5_000


@dataclass
class IlpResult:
    """The solver's plan (a column per image, None if it found none), how it ended, and its
    proved lower bound on the total sse (-inf when it proved nothing)."""

    choice: np.ndarray | None
    status: str
    bound: float


def _power_of_two_near(values: np.ndarray) -> float:
    """A power of two near the values' median: scaling by it is exact in floating point."""
    positive = values[values > 0]
    return 2.0 ** round(math.log2(np.median(positive))) if positive.size else 1.0


@dataclass
class _Model:
    """The grid as columns, offset by each image's least sse, bytes and seconds and scaled by
    powers of two, so solver tolerances act on numbers near 1 (HiGHS crawls otherwise)."""

    image: np.ndarray  # (n,) image (row of the grid) of each column
    column: np.ndarray  # (n,) grid column of each column
    cost: np.ndarray
    weight: np.ndarray
    seconds: np.ndarray
    byte_room: float
    time_room: float | None
    base_sse: float  # what the offsets removed from the objective
    scale: float  # sse per unit of cost

    @classmethod
    def from_grid(
        cls, grid: Grid, max_bytes: float, max_seconds: float | None, scale_rows: bool
    ) -> _Model:
        valid = grid.valid
        image, column = np.nonzero(valid)

        def offset(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            least = np.where(valid, values, np.inf).min(axis=1)
            return values[image, column] - least[image], least

        cost, least_sse = offset(grid.sse)
        weight, least_bytes = offset(grid.bytes)
        seconds, least_seconds = offset(grid.seconds)
        scale, per_byte, per_second = (_power_of_two_near(v) for v in (cost, weight, seconds))
        if not scale_rows:  # CBC scales rows itself and measured slower given pre-scaled ones
            per_byte = per_second = 1.0
        time_room = None
        if max_seconds is not None:
            time_room = float(max_seconds - least_seconds.sum()) / per_second
        return cls(
            image,
            column,
            cost / scale,
            weight / per_byte,
            seconds / per_second,
            float(max_bytes - least_bytes.sum()) / per_byte,
            time_room,
            float(least_sse.sum()),
            scale,
        )

    def total(self, objective: float) -> float:
        return self.base_sse + objective * self.scale

    def start(self, choice: np.ndarray | None) -> np.ndarray | None:
        """A known plan as a 0/1 vector over columns (a warm start)."""
        if choice is None:
            return None
        return (self.column == choice[self.image]).astype(np.float64)

    def choice(self, x: np.ndarray, num_images: int) -> np.ndarray:
        picked = x > 0.5
        out = np.full(num_images, -1, dtype=np.int64)
        out[self.image[picked]] = self.column[picked]
        return out


def solve_highs(
    grid: Grid,
    max_bytes: float,
    max_seconds: float | None,
    time_limit: float,
    gap: float,
    abs_gap: float,
    start: np.ndarray | None,
) -> IlpResult:
    """HiGHS through highspy's matrix API: building the model is a few numpy calls. HiGHS
    checks time_limit in its search, not inside presolve or the root LP."""
    import highspy  # on use: each solver's library loads only when that solver runs

    model = _Model.from_grid(grid, max_bytes, max_seconds, scale_rows=True)
    m, n = grid.num_images, model.image.size
    rows = [np.full(n, m + r) for r in range(2)]
    entries = np.stack([model.image, rows[0], rows[1]], axis=1)
    values = np.stack([np.ones(n), model.weight, model.seconds], axis=1)
    present = values != 0
    present[:, 0] = True
    if max_seconds is None:
        present[:, 2] = False
    num_rows = m + 1 + (max_seconds is not None)
    row_lower = np.concatenate([np.ones(m), np.full(num_rows - m, -np.inf)])
    row_upper = np.concatenate(
        [np.ones(m), [model.byte_room], [] if model.time_room is None else [model.time_room]]
    )
    starts = np.concatenate([[0], np.cumsum(present.sum(axis=1))[:-1]]).astype(np.int32)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    h.setOptionValue("mip_rel_gap", float(gap))
    h.setOptionValue("mip_abs_gap", float(abs_gap / model.scale))
    h.setOptionValue("random_seed", 0)
    if n > _HIGHS_PRESOLVE_MAX_COLUMNS:
        # Its presolve grows superlinearly on the dense budget rows (43 s at 95k columns, clock
        # unwatched); without it the root LP took 19 s there, with it 5 s at 15k columns vs 2 s.
        h.setOptionValue("presolve", "off")
    h.passModel(
        n,
        num_rows,
        int(present.sum()),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        model.cost,
        np.zeros(n),
        np.ones(n),
        row_lower,
        row_upper,
        starts,
        entries[present].astype(np.int32),
        values[present].astype(np.float64),
        np.ones(n, dtype=np.int32),
    )
    x0 = model.start(start)
    if x0 is not None:
        h.setSolution(n, np.arange(n, dtype=np.int32), x0)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    # Binaries are bounded, so "unbounded or infeasible" can only mean infeasible.
    infeasible = (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    )
    if status in infeasible:
        return IlpResult(None, "infeasible", np.inf)
    name = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
    }.get(status, h.modelStatusToString(status).lower().replace(" ", "_"))
    bound = info.mip_dual_bound
    bound = model.total(bound) if np.isfinite(bound) else -np.inf
    if info.primal_solution_status != 2:  # 2: a feasible solution exists
        return IlpResult(None, name, bound)
    x = np.asarray(h.getSolution().col_value)
    return IlpResult(model.choice(x, m), name, bound)


def solve_cbc(
    grid: Grid,
    max_bytes: float,
    max_seconds: float | None,
    time_limit: float,
    gap: float,
    abs_gap: float,
    start: np.ndarray | None,
) -> IlpResult:
    """CBC through PuLP. PuLP calls a time-limited run "Optimal", so the status and bound come
    from CBC's own log instead."""
    import pulp  # on use: importing pulp takes a third of a second

    model = _Model.from_grid(grid, max_bytes, max_seconds, scale_rows=False)
    m, n = grid.num_images, model.image.size
    prob = pulp.LpProblem("plan", pulp.LpMinimize)
    x = [prob.add_variable(f"x{j}", cat=pulp.LpBinary) for j in range(n)]
    prob += pulp.LpAffineExpression(zip(x, model.cost.tolist(), strict=True))
    order = np.argsort(model.image, kind="stable")
    bounds = np.searchsorted(model.image[order], np.arange(m + 1))
    for i in range(m):
        members = order[bounds[i] : bounds[i + 1]].tolist()
        prob += pulp.LpAffineExpression([(x[j], 1) for j in members]) == 1, f"one{i}"
    prob += pulp.LpAffineExpression(zip(x, model.weight.tolist(), strict=True)) <= model.byte_room
    if model.time_room is not None:
        prob += (
            pulp.LpAffineExpression(zip(x, model.seconds.tolist(), strict=True)) <= model.time_room
        )
    x0 = model.start(start)
    if x0 is not None:
        for var, value in zip(x, x0.tolist(), strict=True):
            var.setInitialValue(value)
    fd, log_path = tempfile.mkstemp(suffix=".log", prefix="rcodec-cbc-")
    os.close(fd)
    try:
        with warnings.catch_warnings():  # PuLP 3 flags PULP_CBC_CMD for 4.0; it is what we want
            warnings.simplefilter("ignore", DeprecationWarning)
            solver = pulp.PULP_CBC_CMD(
                msg=False,
                timeLimit=max(time_limit, 0.01),
                gapRel=gap,
                gapAbs=abs_gap / model.scale,
                warmStart=x0 is not None,
                logPath=log_path,
            )
        prob.solve(solver)
        with open(log_path) as f:
            log = f.read()
    finally:
        os.unlink(log_path)
    status, objective, bound = parse_cbc_log(log, gap, abs_gap / model.scale)
    bound = model.total(bound) if np.isfinite(bound) else bound
    if status == "infeasible" or objective is None:
        return IlpResult(None, status, np.inf if status == "infeasible" else -np.inf)
    values = np.array([v.varValue or 0.0 for v in x])
    return IlpResult(model.choice(values, m), status, bound)


_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"


def parse_cbc_log(log: str, gap: float, abs_gap: float) -> tuple[str, float | None, float]:
    """How CBC ended, its best objective (None if it found no plan) and a proved lower bound.

    CBC prints the bound when it stops early ("Lower bound:", "best possible") and the gap when
    it exits on tolerance; a bare "Optimal" is proved only up to the gap tolerances given."""
    result = re.search(r"^Result - (.*)$", log, re.MULTILINE)
    text = result.group(1).lower() if result else ""
    # Preprocessing may stop before any "Result" line; binaries rule out "unbounded".
    if "infeasible" in text or re.search(r"says infeasible|problem is infeasible", log, re.I):
        return "infeasible", None, np.inf
    found = re.search(r"^Objective value:\s*" + _NUMBER, log, re.MULTILINE)
    objective = float(found.group(1)) if found and "no feasible" not in log.lower() else None
    if text.startswith("optimal"):
        status = "optimal"
    elif "time" in text:
        status = "time_limit"
    else:
        status = re.sub(r"\W+", "_", text).strip("_") or "unknown"
    bounds = [float(v) for v in re.findall(r"^Lower bound:\s*" + _NUMBER, log, re.MULTILINE)]
    bounds += [float(v) for v in re.findall(r"best possible " + _NUMBER, log)]
    exit_gap = re.findall(r"Exiting as integer gap of " + _NUMBER, log)
    if objective is not None and exit_gap:
        bounds.append(objective - float(exit_gap[-1]))
    if objective is not None and status == "optimal":  # CBC stops within these tolerances
        bounds.append(objective - max(gap * abs(objective), abs_gap))
    return status, objective, max(bounds) if bounds else -np.inf
