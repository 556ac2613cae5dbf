"""Pick one (quantizer, post-filter) candidate per image to minimise total squared error under a
total byte budget and an optional total decode-time budget.

`solve` runs an exact ILP (HiGHS or CBC) for small datasets and the convex-hull Lagrangian path
for large ones; every plan carries a proved lower bound, so its optimality gap is known."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from rcodec.errors import BudgetError, RcodecError
from rcodec.optimize.ilp import IlpResult, solve_cbc, solve_highs
from rcodec.optimize.lagrangian import Grid, Outcome, solve_lagrangian

METHODS = ("auto", "cbc", "highs", "lagrangian")
#: `method="auto"` runs the ILP up to this many images and the Lagrangian path above. The ILP is
#: CBC: on benchmarks/plan.py instances with both budgets (after the exact reductions below) it
#: took 0.8 s at 10,000 images and 9 s at 100,000, HiGHS 1.8 s and 23 s (its presolve and root
#: LP crawl on the two dense budget rows and ignore the time limit); only a hard 286-image case
#: favoured HiGHS (0.3 s vs 1.8 s). Above the cap the Lagrangian path already proves 1e-4
#: (4e-5 with both budgets, 6e-9 size-only at 10^6 images), so auto stays well inside a minute.
AUTO_ILP_MAX_IMAGES = 100_000
# Reduced-cost fixing is exact; tests switch it off to make the solvers do all the work.
_FIX_BY_REDUCED_COST = True


@dataclass(frozen=True, eq=False)
class Candidates:
    """The candidate table, one row per (image, quantizer, post-filter) with its measured cost.

    Rows of an image need not be contiguous; images are numbered 0..M-1 and each needs a row."""

    image: np.ndarray
    bytes: np.ndarray
    sse: np.ndarray
    decode_seconds: np.ndarray

    def __post_init__(self) -> None:
        columns = {
            n: np.asarray(getattr(self, n)) for n in ("image", "bytes", "sse", "decode_seconds")
        }
        lengths = {n: a.shape for n, a in columns.items()}
        if (
            any(a.ndim != 1 for a in columns.values())
            or len({a.size for a in columns.values()}) > 1
        ):
            raise RcodecError(
                f"candidate columns must be 1-D and equally long, got shapes {lengths}"
            )
        if columns["image"].size == 0:
            raise RcodecError("the candidate table is empty")
        for name, array in columns.items():
            if array.dtype.kind not in "iuf":
                raise RcodecError(f"candidate {name} must be numeric, got dtype {array.dtype}")
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise RcodecError(f"candidate {name} has NaN or infinite values")
            if (array < 0).any():
                raise RcodecError(f"candidate {name} has negative values")
        for name in ("image", "bytes"):
            array = columns[name]
            if array.dtype.kind == "f" and (array != np.floor(array)).any():
                raise RcodecError(f"candidate {name} must hold whole numbers")
            columns[name] = array.astype(np.int64)
        sse = columns["sse"]
        columns["sse"] = sse.astype(np.int64 if sse.dtype.kind in "iu" else np.float64)
        columns["decode_seconds"] = columns["decode_seconds"].astype(np.float64)
        image = columns["image"]
        if image.max() < image.size:
            missing = np.flatnonzero(np.bincount(image) == 0)
        else:  # more indices than rows, so one is missing: no bincount as long as the largest
            present = np.unique(image)
            missing = np.flatnonzero(present != np.arange(present.size))[:1]
        if missing.size:
            raise RcodecError(
                f"images must be numbered 0..M-1 with a row each; image {missing[0]} has none"
            )
        for name, array in columns.items():
            object.__setattr__(self, name, array)

    @property
    def num_images(self) -> int:
        return int(self.image.max()) + 1


@dataclass(frozen=True, eq=False)
class Plan:
    """The chosen row of the candidate table per image, its totals, and how good it is proved.

    `status` is "optimal" when proved within the requested gap, "time_limit" when the ILP solver
    stopped on the clock, "feasible" when the Lagrangian plan's proved gap is above the request.
    `lower_bound` is a proved lower bound on the optimal total sse, so `gap` is a guarantee."""

    choice: np.ndarray
    total_bytes: int
    total_sse: int | float
    total_seconds: float
    method: str
    status: str
    lower_bound: float
    gap: float
    solve_seconds: float
    ilp_columns: int = 0  # binaries the ILP solver saw after the exact reductions
    #: The Lagrangian multipliers (loss per byte, loss per second) behind the bound: the
    #: price of the budgets, which tells the lazy sweep which candidates could still pay.
    multipliers: tuple[float, float] = (0.0, 0.0)


def budget_bytes_for_bpp(bpp: float | str | Decimal | Fraction, total_pixels: int) -> int:
    """floor(bpp * pixels / 8), the CLIC byte budget, in exact arithmetic: 0.15 is read as the
    decimal 0.15 (its shortest repr), not the binary float just below it."""
    if isinstance(bpp, bool) or not isinstance(bpp, float | int | str | Decimal | Fraction):
        raise RcodecError(f"bits per pixel must be a number, got {bpp!r}")
    try:
        rate = Fraction(str(bpp)) if isinstance(bpp, float | str | Decimal) else Fraction(bpp)
    except (ValueError, ZeroDivisionError) as exc:
        raise RcodecError(f"bits per pixel must be a finite number, got {bpp!r}") from exc
    if rate < 0:
        raise RcodecError(f"bits per pixel must not be negative, got {bpp}")
    if isinstance(total_pixels, bool) or not isinstance(total_pixels, int | np.integer):
        raise RcodecError(f"total pixels must be an integer, got {total_pixels!r}")
    if total_pixels < 0:
        raise RcodecError(f"total pixels must not be negative, got {total_pixels}")
    return math.floor(rate * int(total_pixels) / 8)


def solve(
    candidates: Candidates,
    max_bytes: int,
    max_seconds: float | None = None,
    method: str = "auto",
    time_limit: float = 60.0,
    gap: float = 1e-4,
) -> Plan:
    """The plan of least total sse within max_bytes (and max_seconds if given).

    method: "highs"/"cbc" solve the ILP to a relative gap `gap` (or until `time_limit` seconds),
    "lagrangian" is the hull relaxation plus greedy fill, "auto" picks by dataset size.
    Raises BudgetError when no plan meets the budgets."""
    started = time.perf_counter()
    max_bytes, max_seconds = _check_arguments(max_bytes, max_seconds, method, time_limit, gap)
    grid = Grid.from_rows(
        candidates.image,
        candidates.bytes,
        candidates.sse,
        candidates.decode_seconds,
        candidates.num_images,
    )
    _check_budgets(grid, max_bytes, max_seconds)
    if method == "auto":
        method = "cbc" if grid.num_images <= AUTO_ILP_MAX_IMAGES else "lagrangian"
    columns = 0
    if method == "lagrangian":
        # No explicit dominance pruning here: the hull never picks a dominated point anyway.
        outcome: Outcome | None = solve_lagrangian(grid, max_bytes, max_seconds, gap)
        rows = grid.row[np.arange(grid.num_images), outcome.choice]
        bound, status = outcome.bound, ""
    else:
        grid = grid.keep(~_dominated(grid, max_seconds is not None))
        deadline = started + time_limit
        rows, status, bound, columns, outcome = _solve_ilp(
            grid, max_bytes, max_seconds, method, deadline, gap
        )
    prices = (0.0, 0.0) if outcome is None else (float(outcome.lam), float(outcome.mu))
    return _make_plan(candidates, rows, bound, method, status, gap, started, columns, prices)


def _check_arguments(
    max_bytes: int, max_seconds: float | None, method: str, time_limit: float, gap: float
) -> tuple[int, float | None]:
    if method not in METHODS:
        raise RcodecError(f"unknown planning method {method!r}; choose from {', '.join(METHODS)}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int | np.integer) or max_bytes < 0:
        raise RcodecError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds >= 0):
        raise RcodecError(f"max_seconds must be a non-negative number or None, got {max_seconds!r}")
    if not (math.isfinite(time_limit) and time_limit > 0):
        raise RcodecError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    if not (math.isfinite(gap) and gap >= 0):
        raise RcodecError(f"gap must be a non-negative fraction, got {gap!r}")
    return int(max_bytes), None if max_seconds is None else float(max_seconds)


def _least_totals(grid: Grid) -> tuple[int, float]:
    """The least total bytes and the least total seconds, each budget taken alone."""
    least_bytes = int(np.where(grid.valid, grid.bytes, np.inf).min(axis=1).sum())
    return least_bytes, float(np.where(grid.valid, grid.seconds, np.inf).min(axis=1).sum())


def _check_budgets(grid: Grid, max_bytes: int, max_seconds: float | None) -> None:
    least_bytes, least_seconds = _least_totals(grid)
    if least_bytes > max_bytes:
        raise BudgetError(
            f"byte budget {max_bytes} is too small: the smallest achievable total is "
            f"{least_bytes} bytes"
        )
    if max_seconds is not None and least_seconds > max_seconds:
        raise BudgetError(
            f"decode-time budget {max_seconds:g} s is too small: the smallest achievable "
            f"total is {least_seconds:.6g} s"
        )


def _jointly_infeasible(grid: Grid, max_bytes: int, max_seconds: float | None) -> BudgetError:
    least_bytes, least_seconds = _least_totals(grid)
    seconds = "" if max_seconds is None else f" and {max_seconds:g} s"
    return BudgetError(
        f"no plan meets both budgets at once ({max_bytes} bytes{seconds}), though each alone "
        f"is achievable (smallest totals {least_bytes} bytes, {least_seconds:.6g} s)"
    )


def _dominated(grid: Grid, use_seconds: bool) -> np.ndarray:
    """Cells some other candidate of the same image beats or equals on every budgeted cost and
    sse (exact: an optimal plan never needs them). Ties keep the fastest, then the first."""
    m, k = grid.row.shape
    out = np.zeros((m, k), dtype=bool)
    earlier = np.arange(k)[:, None] < np.arange(k)[None, :]  # [j, l]: j comes before l
    step = max(1, 2_000_000 // (k * k))  # bounds the (rows, k, k) temporaries
    for s in range(0, m, step):
        b, e, t = (a[s : s + step] for a in (grid.bytes, grid.sse, grid.seconds))
        bj, bl, ej, el = b[:, :, None], b[:, None, :], e[:, :, None], e[:, None, :]
        tj, tl = t[:, :, None], t[:, None, :]
        no_worse = (bj <= bl) & (ej <= el)
        better = (bj < bl) | (ej < el)
        if use_seconds:
            no_worse &= tj <= tl
            better |= tj < tl
            tie = earlier
        else:
            tie = (tj < tl) | ((tj == tl) & earlier)
        out[s : s + step] = (no_worse & (better | tie)).any(axis=1)
    return out


def _solve_ilp(
    grid: Grid, max_bytes: int, max_seconds: float | None, method: str, deadline: float, gap: float
) -> tuple[np.ndarray, str, float, int, Outcome | None]:
    """Exact plan via the ILP on what survives reduced-cost fixing; returns the table row per
    image, status, proved bound, the number of binaries the solver saw, and the Lagrangian
    outcome it started from."""
    try:
        # gap 0: run the multiplier search to the end, the tighter start fixes more variables
        heuristic: Outcome | None = solve_lagrangian(grid, max_bytes, max_seconds, 0.0)
    except BudgetError:
        raise
    except RcodecError:
        heuristic = None  # no start plan, but the ILP may still find one
    m = grid.num_images
    rows = np.arange(m)
    bound = heuristic.bound if heuristic is not None else -np.inf
    start = heuristic.choice if heuristic is not None else None
    keep = grid.valid
    if heuristic is not None and _FIX_BY_REDUCED_COST:
        keep = _survivors(grid, heuristic)
        keep[rows, heuristic.choice] = True
    packed = grid.keep(keep)
    if start is not None:
        start = (np.cumsum(keep, axis=1) - 1)[rows, start]
    free = packed.valid.sum(axis=1) > 1
    choice = np.zeros(m, dtype=np.int64)  # images left with one candidate take it
    if not free.any():
        return packed.row[rows, choice], "optimal", _plan_sse(packed, choice), 0, heuristic
    fixed_b, fixed_s, fixed_t = packed.at(choice)
    sub = Grid(*(a[free] for a in (packed.row, packed.bytes, packed.sse, packed.seconds)))
    room_b = max_bytes - float(fixed_b[~free].sum())
    room_t = None if max_seconds is None else max_seconds - float(fixed_t[~free].sum())
    backend = solve_highs if method == "highs" else solve_cbc
    abs_gap = gap * max(bound, 0.0)
    for _ in range(3):  # solvers meet rows within a tolerance: re-solve tighter if it shows
        result: IlpResult = backend(
            sub,
            room_b,
            room_t,
            deadline - time.perf_counter(),
            gap,
            abs_gap,
            None if start is None else start[free],
        )
        status = result.status
        if status == "infeasible":
            raise _jointly_infeasible(grid, max_bytes, max_seconds)
        if result.choice is None:
            break
        choice[free] = result.choice
        over_b = float(packed.at(choice)[0].sum()) - max_bytes
        over_t = 0.0 if max_seconds is None else float(packed.at(choice)[2].sum()) - max_seconds
        if over_b <= 0 and over_t <= 0:
            bound = max(bound, float(fixed_s[~free].sum()) + result.bound)
            return (packed.row[rows, choice], result.status, bound, int(sub.valid.sum()),
                    heuristic)
        room_b -= max(over_b, 0.0)
        if room_t is not None and over_t > 0:
            room_t -= over_t + 1e-12 * max_seconds
        status = "feasible"  # if this was the last try, the heuristic plan stands
    if heuristic is None:
        raise RcodecError(f"the {method} solver found no plan within the time limit")
    return grid.row[rows, heuristic.choice], status, bound, int(sub.valid.sum()), heuristic


def _survivors(grid: Grid, heuristic: Outcome) -> np.ndarray:
    """Reduced-cost fixing: a plan using a cell costs at least the Lagrangian bound plus the
    cell's reduced cost, so cells whose total exceeds the heuristic plan's sse are never optimal."""
    priced = grid.sse
    if heuristic.lam > 0:
        priced = priced + heuristic.lam * grid.bytes
    if heuristic.mu > 0:
        priced = priced + heuristic.mu * grid.seconds
    reduced = priced - priced.min(axis=1, keepdims=True)
    upper = _plan_sse(grid, heuristic.choice)
    return grid.valid & (heuristic.bound + reduced <= upper * (1 + 1e-9) + 1e-9)


def _plan_sse(grid: Grid, choice: np.ndarray) -> float:
    return float(grid.at(choice)[1].sum())


def _make_plan(
    candidates: Candidates,
    rows: np.ndarray,
    bound: float,
    method: str,
    status: str,
    gap: float,
    started: float,
    columns: int,
    multipliers: tuple[float, float] = (0.0, 0.0),
) -> Plan:
    sse = candidates.sse[rows].sum()
    total_sse = int(sse) if candidates.sse.dtype.kind in "iu" else float(sse)
    lower = min(max(float(bound), 0.0), float(total_sse))
    achieved = (total_sse - lower) / max(float(total_sse), np.finfo(float).tiny)
    if not status:
        status = "optimal" if achieved <= gap else "feasible"
    return Plan(
        choice=rows,
        total_bytes=int(candidates.bytes[rows].sum()),
        total_sse=total_sse,
        total_seconds=float(candidates.decode_seconds[rows].sum()),
        method=method,
        status=status,
        lower_bound=lower,
        gap=float(achieved),
        solve_seconds=time.perf_counter() - started,
        ilp_columns=columns,
        multipliers=multipliers,
    )
