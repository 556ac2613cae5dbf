"""The planner against brute force on small instances, plus its error paths and helpers."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import numpy as np
import pytest

from rcodec.errors import BudgetError, RcodecError
from rcodec.optimize import plan as plan_module
from rcodec.optimize.ilp import parse_cbc_log
from rcodec.optimize.lagrangian import Grid
from rcodec.optimize.plan import Candidates, budget_bytes_for_bpp, solve

EXACT = ("cbc", "highs", "auto")


def random_instance(seed: int, images: int = 5, per_image: int = 4) -> Candidates:
    """Monotone-ish rate-distortion rows (bytes fall, sse rises with the quantizer, noise makes
    some rows dominated), decode seconds independent, rows shuffled across images."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, per_image + 1, images) if seed % 3 == 0 else np.full(images, per_image)
    image = np.repeat(np.arange(images), counts)
    q = np.concatenate([np.sort(rng.random(c)) for c in counts])
    scale = rng.uniform(0.5, 2.0, images)[image]
    bytes_ = np.round(5000 * scale * np.exp(-2.5 * q) * rng.uniform(0.9, 1.1, q.size))
    sse = np.round(1000 * scale * np.exp(3 * q) * rng.uniform(0.85, 1.15, q.size))
    seconds = np.round(rng.uniform(0.05, 1.0, q.size), 3)
    order = rng.permutation(q.size)
    return Candidates(
        image[order], bytes_[order].astype(np.int64), sse[order].astype(np.int64), seconds[order]
    )


def brute_force(table: Candidates, max_bytes: int, max_seconds: float | None) -> int | None:
    """Least total sse over every combination, None when no combination fits."""
    groups = [np.flatnonzero(table.image == i) for i in range(table.num_images)]
    best = None
    for combo in itertools.product(*groups):
        rows = list(combo)
        if table.bytes[rows].sum() > max_bytes:
            continue
        if max_seconds is not None and table.decode_seconds[rows].sum() > max_seconds:
            continue
        total = int(table.sse[rows].sum())
        best = total if best is None else min(best, total)
    return best


def budgets(table: Candidates, fraction: float, joint: bool = False) -> tuple[int, float]:
    """Budgets a fraction of the way from each image's least to its most bytes, and the
    rest of the way in decode time (`joint`: the same fraction in both, which few plans
    meet)."""
    least_b = sum(table.bytes[table.image == i].min() for i in range(table.num_images))
    most_b = sum(table.bytes[table.image == i].max() for i in range(table.num_images))
    least_t = sum(table.decode_seconds[table.image == i].min() for i in range(table.num_images))
    most_t = sum(table.decode_seconds[table.image == i].max() for i in range(table.num_images))
    return (
        int(least_b + fraction * (most_b - least_b)),
        float(least_t + (fraction if joint else 1 - fraction) * (most_t - least_t)),
    )


def assert_feasible(plan, table: Candidates, max_bytes: int, max_seconds: float | None) -> None:
    assert plan.choice.shape == (table.num_images,)
    assert np.array_equal(table.image[plan.choice], np.arange(table.num_images))
    assert plan.total_bytes == table.bytes[plan.choice].sum() <= max_bytes
    assert plan.total_sse == table.sse[plan.choice].sum()
    assert max_seconds is None or plan.total_seconds <= max_seconds


CASES = [
    (seed, fraction, timed)
    for seed in range(8)
    for fraction in (0.3, 0.6)
    for timed in (False, True)
] + [(seed, 0.1, "joint") for seed in range(8)]  # 7 of these 8 admit no plan


def case_budgets(table: Candidates, fraction: float, timed: bool | str,
                 ) -> tuple[int, float | None]:
    max_bytes, max_seconds = budgets(table, fraction, joint=timed == "joint")
    return max_bytes, max_seconds if timed else None


@pytest.fixture(params=[True, False], ids=["fixing", "no-fixing"])
def fixing(request, monkeypatch):
    """With reduced-cost fixing off, the solvers see every non-dominated candidate."""
    monkeypatch.setattr(plan_module, "_FIX_BY_REDUCED_COST", request.param)


@pytest.mark.parametrize(("seed", "fraction", "timed"), CASES)
def test_exact_methods_match_brute_force(seed, fraction, timed, fixing):
    table = random_instance(seed)
    max_bytes, max_seconds = case_budgets(table, fraction, timed)
    best = brute_force(table, max_bytes, max_seconds)
    if best is None:  # no plan exists: every method must say so, naming the budget
        for method in EXACT:
            with pytest.raises(BudgetError):
                solve(table, max_bytes, max_seconds, method=method, gap=0.0)
        return
    for method in EXACT:
        plan = solve(table, max_bytes, max_seconds, method=method, gap=0.0)
        assert_feasible(plan, table, max_bytes, max_seconds)
        assert plan.total_sse == best, method
        assert plan.method == ("cbc" if method == "auto" else method)
        assert plan.status == "optimal"
        assert plan.lower_bound <= best + 1e-6
        assert plan.gap <= 1e-6


@pytest.mark.parametrize(("seed", "fraction", "timed"), CASES)
def test_lagrangian_is_feasible_and_bracketed(seed, fraction, timed):
    table = random_instance(seed)
    max_bytes, max_seconds = case_budgets(table, fraction, timed)
    best = brute_force(table, max_bytes, max_seconds)
    if best is None:  # a heuristic cannot always prove it, but must not return a plan
        with pytest.raises(RcodecError, match="budget"):
            solve(table, max_bytes, max_seconds, method="lagrangian")
        return
    try:
        plan = solve(table, max_bytes, max_seconds, method="lagrangian")
    except BudgetError:
        raise
    except RcodecError:  # the heuristic may miss a tight joint plan, but must say so
        assert timed
        return
    assert_feasible(plan, table, max_bytes, max_seconds)
    assert plan.method == "lagrangian"
    assert plan.lower_bound <= best + 1e-6 <= plan.total_sse + 1e-6
    assert plan.gap == pytest.approx((plan.total_sse - plan.lower_bound) / plan.total_sse)
    assert plan.status == ("optimal" if plan.gap <= 1e-4 else "feasible")


def test_default_gap_stays_within_tolerance():
    table = random_instance(11, images=6)
    max_bytes, max_seconds = budgets(table, 0.5)
    best = brute_force(table, max_bytes, max_seconds)
    plan = solve(table, max_bytes, max_seconds)
    assert plan.lower_bound <= best <= plan.total_sse <= best * (1 + 1e-4)


def test_lagrangian_on_a_larger_instance_brackets_the_ilp():
    table = random_instance(5, images=400, per_image=6)
    max_bytes, _ = budgets(table, 0.4)
    exact = solve(table, max_bytes, method="highs", gap=0.0)
    rough = solve(table, max_bytes, method="lagrangian")
    assert rough.lower_bound <= exact.total_sse + 1e-6 <= rough.total_sse + 1e-6
    assert rough.gap < 1e-3


def test_byte_budget_below_least_names_the_least():
    table = Candidates(np.array([0, 0, 1]), np.array([10, 20, 7]), np.array([5, 1, 3]), np.zeros(3))
    for method in ("auto", "cbc", "highs", "lagrangian"):
        with pytest.raises(BudgetError, match=r"smallest achievable total is 17 bytes"):
            solve(table, 16, method=method)
    assert solve(table, 17).total_bytes == 17


def test_time_budget_below_least_names_the_least():
    table = Candidates(
        np.array([0, 0, 1]), np.array([10, 20, 7]), np.array([5, 1, 3]), np.array([0.5, 0.25, 1.0])
    )
    with pytest.raises(BudgetError, match=r"smallest achievable total is 1.25 s"):
        solve(table, 100, max_seconds=1.0)


def joint_table() -> Candidates:
    """Two images, each either small and slow (10 bytes, 5 s) or big and fast (100 bytes, 1 s)."""
    return Candidates(
        np.array([0, 0, 1, 1]),
        np.array([10, 100, 10, 100]),
        np.array([1, 1, 1, 1]),
        np.array([5.0, 1.0, 5.0, 1.0]),
    )


@pytest.mark.parametrize("method", ["auto", "cbc", "highs", "lagrangian"])
def test_budgets_feasible_alone_but_not_together(method):
    # Even the relaxation is infeasible here, so every method proves it.
    with pytest.raises(BudgetError, match="both budgets"):
        solve(joint_table(), 100, max_seconds=6.0, method=method)


@pytest.mark.parametrize("method", ["cbc", "highs"])
def test_integer_infeasible_but_relaxation_feasible(method):
    # The relaxation fits 6.5 s (mixing the two options); no whole choice does.
    with pytest.raises(BudgetError, match="both budgets"):
        solve(joint_table(), 100, max_seconds=6.5, method=method)
    with pytest.raises(RcodecError):
        solve(joint_table(), 100, max_seconds=6.5, method="lagrangian")


def test_dominated_candidates_are_dropped_without_losing_the_optimum():
    rng = np.random.default_rng(3)
    base = random_instance(4)
    # Add a worse copy of every row (more bytes, more sse, slower) and an exact duplicate.
    image = np.concatenate([base.image, base.image, base.image])
    bytes_ = np.concatenate(
        [base.bytes, base.bytes + rng.integers(0, 50, base.bytes.size), base.bytes]
    )
    sse = np.concatenate([base.sse, base.sse + rng.integers(1, 50, base.sse.size), base.sse])
    seconds = np.concatenate([base.decode_seconds, base.decode_seconds + 0.01, base.decode_seconds])
    table = Candidates(image, bytes_, sse, seconds)
    grid = Grid.from_rows(
        table.image, table.bytes, table.sse, table.decode_seconds, table.num_images
    )
    for timed in (False, True):
        dropped = plan_module._dominated(grid, timed) & grid.valid
        survivors = grid.row[grid.valid & ~dropped]
        assert survivors.max() < base.image.size  # only originals survive
        assert dropped.sum() >= 2 * base.image.size
    max_bytes, max_seconds = budgets(base, 0.5)
    for timed in (None, max_seconds):
        best = brute_force(base, max_bytes, timed)
        plan = solve(table, max_bytes, timed, method="highs", gap=0.0)
        assert plan.total_sse == best
        assert np.all(plan.choice < base.image.size)


def test_one_image():
    table = Candidates(
        np.zeros(3, dtype=int),
        np.array([30, 10, 20]),
        np.array([1.5, 9.0, 4.0]),
        np.array([0.1, 0.1, 0.3]),
    )
    for method in ("auto", "cbc", "highs", "lagrangian"):
        plan = solve(table, 25, method=method)
        assert plan.choice.tolist() == [2]
        assert plan.total_sse == 4.0 and isinstance(plan.total_sse, float)
        assert plan.total_bytes == 20
    assert solve(table, 25, max_seconds=0.2).choice.tolist() == [1]


def test_unordered_ragged_rows_map_back_to_table_rows():
    table = Candidates(
        np.array([2, 0, 1, 0, 2, 1, 2]),
        np.array([5, 9, 4, 3, 1, 8, 3]),
        np.array([1, 2, 5, 7, 9, 1, 4]),
        np.zeros(7),
    )
    plan = solve(table, 13, method="highs", gap=0.0)
    assert plan.total_sse == brute_force(table, 13, None)
    assert plan.choice.tolist() == [3, 2, 0]
    assert isinstance(plan.total_sse, int)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (([0, 1], [1], [1, 1], [0.0, 0.0]), "equally long"),
        (([], [], [], []), "empty"),
        (([0, 1], [1, -1], [1, 1], [0.0, 0.0]), "bytes has negative"),
        (([0, 1], [1, 1], [1, np.nan], [0.0, 0.0]), "sse has NaN"),
        (([0, 1], [1, 1], [1, 1], [0.0, -0.5]), "decode_seconds has negative"),
        (([0, 2], [1, 1], [1, 1], [0.0, 0.0]), "image 1 has none"),
        (([0, -1], [1, 1], [1, 1], [0.0, 0.0]), "image has negative"),
        (([0, 1], [1.5, 1], [1, 1], [0.0, 0.0]), "whole numbers"),
        (([0, 1], ["a", "b"], [1, 1], [0.0, 0.0]), "numeric"),
    ],
)
def test_candidate_validation(columns, message):
    with pytest.raises(RcodecError, match=message):
        Candidates(*(np.asarray(c) for c in columns))


def test_argument_validation():
    table = random_instance(1)
    with pytest.raises(RcodecError, match="unknown planning method"):
        solve(table, 10**6, method="gurobi")
    with pytest.raises(RcodecError, match="max_bytes"):
        solve(table, -1)
    with pytest.raises(RcodecError, match="max_seconds"):
        solve(table, 10**6, max_seconds=float("nan"))
    with pytest.raises(RcodecError, match="gap"):
        solve(table, 10**6, gap=-1.0)


def test_budget_bytes_for_bpp_is_exact():
    assert math.floor(0.7 * 720 / 8) == 62  # what float arithmetic would give
    assert budget_bytes_for_bpp(0.7, 720) == 63
    assert budget_bytes_for_bpp("0.7", 720) == 63
    assert budget_bytes_for_bpp(Decimal("0.15"), 1_000_000) == 18_750
    assert budget_bytes_for_bpp(0.15, 1_000_001) == 18_750
    assert budget_bytes_for_bpp(1, 9) == 1
    with pytest.raises(RcodecError):
        budget_bytes_for_bpp(-0.1, 100)
    with pytest.raises(RcodecError):
        budget_bytes_for_bpp(float("nan"), 100)
    with pytest.raises(RcodecError):
        budget_bytes_for_bpp(0.15, 10.5)


def test_cbc_log_time_limit_reports_the_bound_not_optimal():
    log = (
        "Cbc0020I Exiting on maximum time\n"
        "Cbc0005I Partial search - best objective 517041 (best possible 516929.14), took 0 "
        "iterations and 0 nodes (2.29 seconds)\n"
        "Result - Stopped on time limit\n\n"
        "Objective value:                517041.00000000\n"
        "Lower bound:                    516929.140\n"
        "Gap:                            0.00\n"
    )
    assert parse_cbc_log(log, 1e-4, 0.0) == ("time_limit", 517041.0, 516929.14)


def test_cbc_log_optimal_within_tolerance():
    exited = (
        "Cbc0011I Exiting as integer gap of 0.05 less than 1e-10 or 0.01%\n"
        "Result - Optimal solution found\n\nObjective value:    1000.00000000\n"
    )
    assert parse_cbc_log(exited, 1e-4, 0.0) == ("optimal", 1000.0, 999.95)
    bare = "Result - Optimal solution found\n\nObjective value:    1000.00000000\n"
    assert parse_cbc_log(bare, 1e-3, 0.0) == ("optimal", 1000.0, 999.0)
    assert parse_cbc_log("Result - Problem proven infeasible\n", 0, 0)[0] == "infeasible"


def test_auto_switches_to_lagrangian_above_the_threshold(monkeypatch):
    monkeypatch.setattr(plan_module, "AUTO_ILP_MAX_IMAGES", 4)
    table = random_instance(2)
    max_bytes, _ = budgets(table, 0.5)
    assert solve(table, max_bytes).method == "lagrangian"
