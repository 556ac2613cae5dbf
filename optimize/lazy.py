"""Lazy post-filter evaluation: networks are measured only where a plan can use them.

Running every network on every quantizer of every image's window costs many times the codec
sweep, yet the plan keeps one (quantizer, filter) per image. So the codec alone is swept and
planned first; then, round by round until nothing is missing:

- every candidate network is measured at the quantizer each image's plan chose, so the plan
  can move any image onto any network; a network whose range does not offer that quantizer
  is measured at the nearest one it offers instead (a plan at high rates picks quantizers
  below the networks' ranges, and under a decode-time budget the range's edge may be where
  a network pays);
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


def key(row: dict) -> tuple:
    """What identifies a measurement: image, codec, quantizer, filter."""
    return row["image"], row["codec"], row["quantizer"], row["filter"]


def missing(rows: Sequence[dict], plan: Plan, networks: dict[str, Sequence[FilterSpec]],
            allowed: dict[tuple[str, str], Collection[int]],
            loss: Sequence[float] | None = None) -> dict[str, dict[str, Wanted]]:
    """Per codec and image, the (quantizer, networks) measurements the rules still ask
    for. `networks` are each codec's candidates, `allowed` each (image, codec)'s admissible
    quantizers, `loss` each row's objective loss (default: its squared error). Empty when
    the plan is settled. An image's chosen codec is the one explored: another codec's
    networks wait until the plan moves the image there.

    Beyond the rules of the module docstring: with the plan's prices of a byte and a second
    (its Lagrangian multipliers), each network's best measured quantizer for an image must
    have its neighbours measured too, unless the codec's own price rises towards the
    neighbour by more than the network saves: under a decode-time budget a network the
    plan did not choose may still be worth it at another quantizer."""
    measured = {key(row) for row in rows}
    wanted: dict[str, dict[str, dict[int, set[FilterSpec]]]] = {}

    def ask(image: str, codec: str, q: int, spec: FilterSpec) -> None:
        if q in allowed[image, codec] and spec.offered_at(q) \
                and (image, codec, q, spec.name) not in measured:
            wanted.setdefault(codec, {}).setdefault(image, {}).setdefault(q, set()).add(spec)

    for index in plan.choice:
        row = rows[int(index)]
        image, codec, chosen_q = row["image"], row["codec"], row["quantizer"]
        own = {spec.name: spec for spec in networks.get(codec, ())}
        for spec in own.values():
            ask(image, codec, _nearest_offered(spec, chosen_q, allowed[image, codec]), spec)
        if row["filter"] in own:
            for q in (chosen_q - 1, chosen_q + 1):
                ask(image, codec, q, own[row["filter"]])
    for (image, codec, name), (best_q, price, plain) in _cheapest(rows, plan, loss).items():
        spec = next((s for s in networks.get(codec, ()) if s.name == name), None)
        if spec is None:
            continue
        for q in (best_q - 1, best_q + 1):
            # The neighbour could be cheaper unless the codec alone gets dearer by more than
            # the network saves at its best quantizer (a filter moves the curve, but not by
            # more than its own gain).
            if q not in plain or best_q not in plain \
                    or plain[q] - plain[best_q] < abs(plain[best_q] - price):
                ask(image, codec, q, spec)
    return {codec: {image: {q: tuple(sorted(specs, key=lambda s: s.selector))
                            for q, specs in sorted(per_q.items())}
                    for image, per_q in per_image.items()}
            for codec, per_image in wanted.items()}


def _nearest_offered(spec: FilterSpec, quantizer: int, allowed: Collection[int]) -> int:
    """`quantizer` when the network is offered there, else the nearest allowed quantizer
    it is offered at (`quantizer` again when there is none)."""
    if spec.offered_at(quantizer):
        return quantizer
    offered = [q for q in allowed if spec.offered_at(q)]
    return min(offered, key=lambda q: (abs(q - quantizer), q)) if offered else quantizer


def _cheapest(rows: Sequence[dict], plan: Plan, loss: Sequence[float] | None,
              ) -> dict[tuple[str, str, str], tuple[int, float, dict[int, float]]]:
    """For each (image, codec, network): its measured quantizer of least priced loss (loss
    + multipliers x (bytes, seconds)), that price, and the unfiltered prices by quantizer."""
    lam, mu = plan.multipliers
    plain: dict[tuple[str, str], dict[int, float]] = {}
    best: dict[tuple[str, str, str], tuple[int, float]] = {}
    for index, row in enumerate(rows):
        value = float(row["sse"] if loss is None else loss[index])
        price = value + lam * row["bytes"] + mu * row["decode_seconds"]
        if row["filter"] == "none":
            plain.setdefault((row["image"], row["codec"]), {})[row["quantizer"]] = price
            continue
        slot = (row["image"], row["codec"], row["filter"])
        if slot not in best or price < best[slot][1]:
            best[slot] = (row["quantizer"], price)
    return {slot: (q, price, plain.get(slot[:2], {})) for slot, (q, price) in best.items()}


def merge(rows: Sequence[dict], fresh: Sequence[dict]) -> list[dict]:
    """`rows` plus the fresh rows not already among them (one row per image, codec,
    quantizer and filter), sorted that way: the order the planner numbers them in."""
    seen = {key(r) for r in rows}
    extra = [r for r in fresh if key(r) not in seen]
    return sorted([*rows, *extra], key=key)


def evaluations(rows: Sequence[dict], networks: dict[str, Sequence[FilterSpec]],
                ) -> dict[str, int]:
    """How many (image, quantizer, network) measurements the plan saw, and how many the
    exhaustive sweep of the same windows (every network at every quantizer its range
    offers) would have made."""
    windows: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        windows.setdefault((row["image"], row["codec"]), set()).add(row["quantizer"])
    exhaustive = sum(1 for (_, codec), qs in windows.items() for q in qs
                     for spec in networks.get(codec, ()) if spec.offered_at(q))
    names = {(codec, spec.name) for codec, specs in networks.items() for spec in specs}
    made = sum(1 for row in rows if (row["codec"], row["filter"]) in names)
    return {"network_evaluations": made, "exhaustive_network_evaluations": exhaustive}
