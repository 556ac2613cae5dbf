"""Lazy post-filter evaluation: networks are measured only where a plan can use them.

Running every network on every quantizer of every image's window costs many times the codec
sweep, yet the plan keeps one (quantizer, filter) per image. So the codec alone is swept and
planned first; then, round by round until nothing is missing:

- every candidate network is measured at the quantizer each image's plan chose (where the
  network's range offers it), so the plan can move any image onto any network;
- the network an image's plan chose is measured at the quantizers on either side, so every
  choice is a local optimum along the quantizer axis of its own network (a filter shifts the
  rate-distortion curve, so the filtered optimum sits near the unfiltered one);
- an adaptive window whose edge the plan chose is widened, as in the exhaustive sweep.

Every row the planner sees is still a measurement of the decoder's real output, and every
measurement goes through the sweep cache: an interrupted job resumes, a repeated one costs
nothing, and a later exhaustive `rcodec sweep` reuses all of them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rcodec.optimize.plan import Plan
from rcodec.optimize.sweep import FilterSpec, Wanted


def missing(rows: Sequence[dict], plan: Plan, networks: Sequence[FilterSpec],
            allowed: dict[str, Collection[int]]) -> dict[str, Wanted]:
    """Per image, the (quantizer, networks) measurements the rules above still ask for;
    `allowed` holds each image's admissible quantizers. Empty when the plan is settled."""
    measured = {(row["image"], row["quantizer"], row["filter"]) for row in rows}
    by_name = {spec.name: spec for spec in networks}
    wanted: dict[str, dict[int, set[FilterSpec]]] = {}
    for index in plan.choice:
        row = rows[int(index)]
        image, chosen_q = row["image"], row["quantizer"]
        asks = [(chosen_q, spec) for spec in networks]
        if row["filter"] in by_name:
            spec = by_name[row["filter"]]
            asks += [(chosen_q - 1, spec), (chosen_q + 1, spec)]
        for q, spec in asks:
            if q in allowed[image] and spec.offered_at(q) \
                    and (image, q, spec.name) not in measured:
                wanted.setdefault(image, {}).setdefault(q, set()).add(spec)
    return {image: {q: tuple(sorted(specs, key=lambda s: s.selector))
                    for q, specs in sorted(per_q.items())}
            for image, per_q in wanted.items()}


def merge(rows: Sequence[dict], fresh: Sequence[dict]) -> list[dict]:
    """`rows` plus the fresh rows not already among them (one row per image, quantizer and
    filter), sorted by image, quantizer and filter: the order the planner numbers them in."""
    seen = {(r["image"], r["quantizer"], r["filter"]) for r in rows}
    extra = [r for r in fresh if (r["image"], r["quantizer"], r["filter"]) not in seen]
    return sorted([*rows, *extra], key=lambda r: (r["image"], r["quantizer"], r["filter"]))


def evaluations(rows: Sequence[dict], networks: Sequence[FilterSpec]) -> dict[str, int]:
    """How many (image, quantizer, network) measurements the plan saw, and how many the
    exhaustive sweep of the same windows (every network at every quantizer its range
    offers) would have made."""
    windows: dict[str, set[int]] = {}
    for row in rows:
        windows.setdefault(row["image"], set()).add(row["quantizer"])
    exhaustive = sum(1 for qs in windows.values() for q in qs for spec in networks
                     if spec.offered_at(q))
    made = sum(1 for row in rows if row["filter"] in {spec.name for spec in networks})
    return {"network_evaluations": made, "exhaustive_network_evaluations": exhaustive}
