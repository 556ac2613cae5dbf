"""Convex-hull (Lagrangian) planning: the exact hull relaxation of the multiple-choice knapsack,
a proved lower bound and a greedy feasible plan, in whole-array numpy so 10^6 images take
seconds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rcodec.errors import BudgetError, RcodecError

# Below this many segments the break is found by a plain sort; above it by median splits (O(n)).
_SORT_BELOW = 65536
# Relative slack for float round-off in bounds and seconds sums (far below any useful gap).
_ROUNDOFF = 1e-9


@dataclass
class Grid:
    """Candidates laid out one image per row, padded with +inf (row index -1), so per-image work
    is whole-array numpy instead of a Python loop over images."""

    row: np.ndarray  # (M, K) int64 row index into the caller's table, -1 on padding
    bytes: np.ndarray  # (M, K) float64 (integers, exact below 2**53), +inf on padding
    sse: np.ndarray  # (M, K) float64, +inf on padding
    seconds: np.ndarray  # (M, K) float64, +inf on padding

    @classmethod
    def from_rows(
        cls,
        image: np.ndarray,
        bytes_: np.ndarray,
        sse: np.ndarray,
        seconds: np.ndarray,
        num_images: int,
    ) -> Grid:
        """Group a flat candidate table by image (every image must have a row)."""
        n = image.size
        grouped = n < 2 or bool(np.all(image[1:] >= image[:-1]))
        # Tables are usually written image by image: then grouping is a reshape, not a sort.
        order = np.arange(n) if grouped else np.argsort(image, kind="stable")
        img = image if grouped else image[order]
        counts = np.bincount(img, minlength=num_images)
        width = int(counts.max())
        if np.all(counts == width):
            row = order.reshape(num_images, width)
        else:
            pos = np.arange(n) - (np.cumsum(counts) - counts)[img]
            row = np.full((num_images, width), -1, dtype=np.int64)
            row[img, pos] = order
        return cls.from_row_index(row, bytes_, sse, seconds)

    @classmethod
    def from_row_index(
        cls, row: np.ndarray, bytes_: np.ndarray, sse: np.ndarray, seconds: np.ndarray
    ) -> Grid:
        valid = row >= 0

        def lay(values: np.ndarray) -> np.ndarray:
            if valid.all():
                return values[row].astype(np.float64)
            out = np.full(row.shape, np.inf)
            out[valid] = values[row[valid]]
            return out

        return cls(row.astype(np.int64), lay(bytes_), lay(sse), lay(seconds))

    @property
    def num_images(self) -> int:
        return self.row.shape[0]

    @property
    def valid(self) -> np.ndarray:
        return self.row >= 0

    def keep(self, mask: np.ndarray) -> Grid:
        """Only the cells where mask holds, packed to the left and the width trimmed."""
        mask = mask & self.valid
        order = np.argsort(~mask, axis=1, kind="stable")
        width = max(int(mask.sum(axis=1).max()), 1)
        order = order[:, :width]
        kept = np.take_along_axis(mask, order, axis=1)

        def pack(values: np.ndarray, pad: float) -> np.ndarray:
            return np.where(kept, np.take_along_axis(values, order, axis=1), pad)

        return Grid(
            pack(self.row, -1).astype(np.int64),
            pack(self.bytes, np.inf),
            pack(self.sse, np.inf),
            pack(self.seconds, np.inf),
        )

    def at(self, choice: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bytes, sse and seconds of one chosen column per image."""
        rows = np.arange(self.num_images)
        return self.bytes[rows, choice], self.sse[rows, choice], self.seconds[rows, choice]


@dataclass
class Outcome:
    """A feasible plan (a column per image), a proved lower bound on the optimal total sse, and
    the multipliers that proved it (reused by the ILP path to fix variables)."""

    choice: np.ndarray
    bound: float
    lam: float
    mu: float


def lower_hull(weight: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Columns of each row's lower-left convex hull in (weight, cost), from the lightest point to
    the cheapest, as an (M, H) array padded with -1 (gift wrapping, one vertex per pass)."""
    m = weight.shape[0]
    lightest = weight.min(axis=1)
    first = np.where(weight == lightest[:, None], cost, np.inf).argmin(axis=1)
    rows = np.arange(m)
    vertices = [first]
    active = rows
    cw, cc = weight[rows, first], cost[rows, first]
    with np.errstate(invalid="ignore", divide="ignore"):
        while active.size:
            # The first pass covers every row: use the arrays as they are, not a copy.
            w, c = (weight, cost) if active.size == m else (weight[active], cost[active])
            dw = w - cw[:, None]
            dc = cc[:, None] - c
            eff = dc / dw
            # Only points that both cost less and weigh more continue the hull.
            eff[~((dw > 0) & (dc > 0))] = -np.inf
            nxt = eff.argmax(axis=1)
            local = np.arange(active.size)
            more = eff[local, nxt] > -np.inf
            column = np.full(m, -1, dtype=np.int64)
            column[active[more]] = nxt[more]
            if not more.any():
                break
            vertices.append(column)
            local, nxt = local[more], nxt[more]
            active = active[more]
            cw, cc = w[local, nxt], c[local, nxt]
    return np.stack(vertices, axis=1)


def _take_best(eff: np.ndarray, dw: np.ndarray, capacity: float) -> tuple[np.ndarray, int]:
    """Dantzig's greedy: segments by efficiency while they fit. Returns the taken mask and the
    break segment (-1 when all fit). Median splits keep it linear instead of a full sort."""
    taken = np.zeros(eff.size, dtype=bool)
    idx = np.arange(eff.size)
    for _ in range(64):
        if idx.size <= _SORT_BELOW:
            break
        e = eff[idx]
        pivot = np.partition(e, idx.size // 2)[idx.size // 2]
        upper = e > pivot
        if not upper.any():  # a huge run of equal efficiencies: let the sort settle it
            break
        weight = dw[idx[upper]].sum()
        if weight <= capacity:
            taken[idx[upper]] = True
            capacity -= weight
            idx = idx[~upper]
        else:
            idx = idx[upper]
    # Stable, so equal efficiencies keep image-major order and each image's prefix stays whole.
    order = idx[np.argsort(-eff[idx], kind="stable")]
    fits = int(np.searchsorted(np.cumsum(dw[order]), capacity, side="right"))
    taken[order[:fits]] = True
    return taken, int(order[fits]) if fits < order.size else -1


def hull_relaxation(
    weight: np.ndarray, cost: np.ndarray, budget: float
) -> tuple[np.ndarray, float]:
    """Integer part of the hull relaxation's optimum under sum(weight) <= budget (a column per
    image) and the break efficiency, the multiplier at which the relaxation is optimal."""
    hull = lower_hull(weight, cost)
    m, h = hull.shape
    rows = np.arange(m)
    if h == 1:
        return hull[:, 0], 0.0
    safe = np.maximum(hull, 0)
    hw = np.take_along_axis(weight, safe, axis=1)
    hc = np.take_along_axis(cost, safe, axis=1)
    segment = hull[:, 1:] >= 0
    dw = (hw[:, 1:] - hw[:, :-1])[segment]
    dc = (hc[:, :-1] - hc[:, 1:])[segment]
    taken_flat, brk = _take_best(dc / dw, dw, budget - hw[:, 0].sum())
    taken = np.zeros(segment.shape, dtype=bool)
    taken[segment] = taken_flat
    # Float near-ties could put a later segment of an image before an earlier one: keep prefixes.
    steps = np.logical_and.accumulate(taken, axis=1).sum(axis=1)
    lam = float(dc[brk] / dw[brk]) if brk >= 0 else 0.0
    return hull[rows, steps], lam


def lagrangian_bound(
    grid: Grid, lam: float, mu: float, max_bytes: float, max_seconds: float | None
) -> float:
    """Weak duality: sum_i min_k(sse + lam*bytes + mu*seconds) - lam*B - mu*T <= optimum,
    for any lam, mu >= 0, whatever produced them."""
    priced = grid.sse
    if lam > 0:
        priced = priced + lam * grid.bytes
    if mu > 0:
        priced = priced + mu * grid.seconds
    best = priced.min(axis=1).sum()
    penalty = lam * max_bytes + (mu * max_seconds if mu > 0 and max_seconds is not None else 0.0)
    return float(best - penalty - _ROUNDOFF * 1e-3 * (abs(best) + penalty))


def greedy_fill(
    grid: Grid, choice: np.ndarray, max_bytes: float, max_seconds: float | None
) -> np.ndarray:
    """Spend what the plan leaves of the budgets on the largest sse cuts that still fit (any
    candidate, not just hull points). Rounds of each image's best upgrade, biggest first, keep
    it vectorised where one-at-a-time would loop once per upgrade."""
    choice = choice.copy()
    b, s, t = grid.at(choice)
    room_b = max_bytes - b.sum()
    room_t = np.inf if max_seconds is None else max_seconds * (1 - _ROUNDOFF) - t.sum()
    rows = np.arange(grid.num_images)
    for _ in range(64):
        gain = s[rows, None] - grid.sse[rows]
        dw = grid.bytes[rows] - b[rows, None]
        ok = (gain > 0) & (dw <= room_b)
        if max_seconds is None:
            dt = np.zeros_like(dw)
        else:
            dt = grid.seconds[rows] - t[rows, None]
            ok &= dt <= room_t
        best = np.where(ok, gain, -np.inf).argmax(axis=1)
        local = np.flatnonzero(ok[np.arange(rows.size), best])
        if not local.size:
            break
        rows, best = rows[local], best[local]
        gain, dw, dt = gain[local, best], dw[local, best], dt[local, best]
        order = np.argsort(-gain, kind="stable")
        # The largest cut fits alone, so each round makes progress.
        fits = (np.cumsum(dw[order]) <= room_b) & (np.cumsum(dt[order]) <= room_t)
        take = order[np.logical_and.accumulate(fits)]
        i, k = rows[take], best[take]
        choice[i] = k
        b[i], s[i], t[i] = grid.bytes[i, k], grid.sse[i, k], grid.seconds[i, k]
        room_b -= dw[take].sum()
        room_t -= dt[take].sum()
    return choice


def _plan_sse(grid: Grid, choice: np.ndarray) -> float:
    return float(grid.at(choice)[1].sum())


def solve_lagrangian(grid: Grid, max_bytes: int, max_seconds: float | None, gap: float) -> Outcome:
    """Best plan and bound from the hull relaxation; with a time budget, a search over the
    seconds multiplier mu with the exact byte path inside."""
    if max_seconds is None:
        choice, lam = hull_relaxation(grid.bytes, grid.sse, max_bytes)
        bound = lagrangian_bound(grid, lam, 0.0, max_bytes, None)
        return Outcome(greedy_fill(grid, choice, max_bytes, None), bound, lam, 0.0)

    limit = max_seconds * (1 - _ROUNDOFF)
    best: Outcome | None = None
    best_sse = np.inf
    # The best bound so far and its multipliers: any mu gives a valid one, feasible or not.
    top = (-np.inf, 0.0, 0.0)

    def evaluate(mu: float) -> bool:
        """Inner exact byte path at this mu; True when its plan meets the time budget."""
        nonlocal best, best_sse, top
        cost = grid.sse + mu * grid.seconds if mu > 0 else grid.sse
        choice, lam = hull_relaxation(grid.bytes, cost, max_bytes)
        bound = lagrangian_bound(grid, lam, mu, max_bytes, max_seconds)
        top = max(top, (bound, lam, mu))
        if grid.at(choice)[2].sum() > limit:
            return False
        choice = greedy_fill(grid, choice, max_bytes, max_seconds)
        total = _plan_sse(grid, choice)
        if total < best_sse:
            best, best_sse = Outcome(choice, bound, lam, mu), total
        return True

    def finish(plan: Outcome | None) -> Outcome:
        assert plan is not None
        return Outcome(plan.choice, *top)

    if evaluate(0.0):
        return finish(best)
    # mu prices seconds in sse units: start near the ratio of the spreads, then bracket.
    valid = grid.valid
    spread_s = np.ptp(np.where(valid, grid.sse, grid.sse[:, :1]), axis=1).sum()
    spread_t = np.ptp(np.where(valid, grid.seconds, grid.seconds[:, :1]), axis=1).sum()
    lo, hi = 0.0, max(float(spread_s), 1.0) / max(float(spread_t), 1e-12) * 1e-2
    for _ in range(40):
        if evaluate(hi):
            break
        lo, hi = hi, hi * 8
    else:
        return finish(_least_seconds(grid, max_bytes, max_seconds))
    for _ in range(60):
        if best_sse - top[0] <= gap * best_sse or hi - lo <= 1e-7 * hi:
            break
        mid = np.sqrt(lo * hi) if lo > 0 else hi / 8
        if evaluate(mid):
            hi = mid
        else:
            lo = mid
    return finish(best)


def _least_seconds(grid: Grid, max_bytes: int, max_seconds: float) -> Outcome:
    """Last resort when no mu gave a plan within the time budget: minimise seconds under the
    byte budget. Its relaxation proves joint infeasibility when even that exceeds the budget."""
    choice, lam = hull_relaxation(grid.bytes, grid.seconds, max_bytes)
    priced = grid.seconds + lam * grid.bytes if lam > 0 else grid.seconds
    least = priced.min(axis=1).sum() - lam * max_bytes
    if least > max_seconds * (1 + _ROUNDOFF):
        raise BudgetError(
            f"no plan meets both budgets at once: within {max_bytes} bytes the decode time is "
            f"at least {least:.6g} s, above the {max_seconds:g} s budget"
        )
    choice = greedy_fill(grid, choice, max_bytes, max_seconds)
    if grid.at(choice)[2].sum() > max_seconds:
        raise RcodecError(
            "the Lagrangian planner found no plan meeting both budgets (they may be jointly "
            "infeasible); try method='cbc' or 'highs'"
        )
    return Outcome(choice, -np.inf, lam, 0.0)
