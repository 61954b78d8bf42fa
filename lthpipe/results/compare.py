"""Paired comparisons of methods at every point of their curves: each method's
accuracy against the dense network's with its verdict, where it holds down to, and
the configured comparisons between methods.

Every comparison pairs two methods over the same units, a unit being one network
seed on one data split: the dense network and the networks pruned from it share
that unit's split and initialisation, so their paired difference leaves out what
the unit contributes to both (lthpipe.stats)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from statistics import mean, pstdev

from lthpipe.stats import PairedDifference, decide, paired_difference

# What the summary compares at every point, as (a, b): "a - b" with its interval.
COMPARISONS = {
    "oneshot": [("rewind", "reinit"), ("rewind", "random_mask"), ("rewind", "dense_small"),
                ("snip", "rewind"), ("grasp", "rewind"), ("synflow", "rewind"),
                ("snip", "random_mask"), ("grasp", "random_mask"), ("synflow", "random_mask"),
                ("neurons", "dense_small"), ("neurons_finetune", "dense_small"), ("rewind", "neurons"),
                ("set", "random_mask"), ("rigl", "random_mask"), ("rigl", "set"), ("rigl", "rewind")],
    "imp": [("rewind", "oneshot"), ("rewind", "reinit"), ("rewind", "random_mask"), ("rewind", "dense_small"),
            ("neurons", "dense_small"), ("neurons_finetune", "dense_small"), ("neurons_iterative", "dense_small"),
            ("neurons_iterative", "neurons"), ("rewind", "neurons_iterative")],
}


def _unit(row: dict) -> tuple[int, int]:
    return row["fold"], row["seed"]


def _paired(a: list[dict], b: list[dict]) -> dict | None:
    """a - b over the units both have, or None when they share none."""
    b_by_unit = {_unit(r): r["test_acc"] for r in b}
    units = sorted(u for u in (_unit(r) for r in a) if u in b_by_unit)
    if not units:
        return None
    a_by_unit = {_unit(r): r["test_acc"] for r in a}
    return asdict(paired_difference([a_by_unit[u] for u in units], [b_by_unit[u] for u in units]))


def curves(rows: list[dict], tolerance: float) -> dict[str, dict[str, list[dict]]]:
    """Per procedure and method, one point per fraction (one-shot) or level
    (iterative), densest first: mean retained fraction, test accuracy over units
    (mean, sd, min, max), the mean early-stopping iteration, and the paired
    difference from the dense network with its verdict at `tolerance`."""
    dense = [r for r in rows if r["procedure"] == "dense"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row["procedure"] != "dense":
            point = row["fraction"] if row["procedure"] == "oneshot" else row["level"]
            groups[(row["procedure"], row["method"], point)].append(row)
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for (procedure, method, point), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], -_order(kv[0]))):
        accs = [r["test_acc"] for r in group]
        vs_dense = _paired(group, dense)
        out[procedure][method].append({
            "fraction": group[0]["fraction"], "level": group[0]["level"],
            "retained": mean(r["retained"] for r in group),
            "mean": mean(accs), "std": pstdev(accs), "min": min(accs), "max": max(accs), "n": len(accs),
            "best_iteration": mean(r["best_iteration"] for r in group),
            "vs_dense": vs_dense,
            "verdict": "unclear" if vs_dense is None else decide(PairedDifference(**vs_dense), tolerance),
        })
    return {p: dict(m) for p, m in out.items()}


def _order(key: tuple) -> float:
    """Densest first: larger fractions, smaller levels."""
    procedure, _, point = key
    return point if procedure == "oneshot" else -point


def holds_down_to(points: list[dict]) -> dict | None:
    """The sparsest point such that it and every denser point "hold": the interval of
    its paired difference from the dense network lies above -tolerance (so neither
    a lucky mean nor a point below a collapse counts)."""
    holding = None
    for point in sorted(points, key=lambda p: -p["retained"]):
        if point["verdict"] != "holds":
            break
        holding = point
    return holding


def comparisons(rows: list[dict]) -> dict[str, list[dict]]:
    """Every configured comparison (COMPARISONS) at every point both methods have."""
    by_point: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row["procedure"] != "dense":
            point = row["fraction"] if row["procedure"] == "oneshot" else row["level"]
            by_point[(row["procedure"], point, row["method"])].append(row)
    out: dict[str, list[dict]] = defaultdict(list)
    points = sorted({(p, pt) for p, pt, _ in by_point}, key=lambda k: (k[0], -_order((k[0], None, k[1]))))
    for procedure, point in points:
        for a, b in COMPARISONS.get(procedure, []):
            if (procedure, point, a) in by_point and (procedure, point, b) in by_point:
                group_a = by_point[(procedure, point, a)]
                out[procedure].append({
                    "a": a, "b": b, "fraction": group_a[0]["fraction"], "level": group_a[0]["level"],
                    "retained": mean(r["retained"] for r in group_a),
                    "difference": _paired(group_a, by_point[(procedure, point, b)]),
                })
    return dict(out)
