"""Choosing the smallest good width, with its uncertainty, and checking the study's
premise that it is clearly better than the next smaller one. Free of torch (a
reporting job).

Every width trains the same (fold, seed) units, so widths pair: unit i of width w
and unit i of the best width share their data split and differ only in the
network. Decisions use the paired differences, which remove what a split shares.

Rules (`width_rule`):
- ``one_se`` (default): Breiman's one-standard-error rule on the paired difference,
  widened by ``width_tolerance``: the smallest width w whose mean paired difference
  from the best width, d_w, satisfies  mean(d_w) >= -(tolerance + se(d_w)).  A width
  that is clearly worse (the upper end of its 95% interval below -tolerance) is
  never chosen, however noisy: that needs mean + t*se < -tolerance with t >= 1.96,
  which implies mean < -(tolerance + se). With one unit there is no standard error
  and the rule is the tolerance rule.
- ``tolerance`` (lthpipe 0.1's rule): the smallest width whose mean validation
  accuracy is within ``width_tolerance`` of the best mean.
"""

from __future__ import annotations

import math
from statistics import fmean, pstdev

from lthpipe.stats import PairedDifference, paired_difference

WIDTH_RULES = ("one_se", "tolerance")
# A network whose best validation point lies in the last LATE_SHARE of its budget was
# probably still learning when training stopped.
LATE_SHARE = 0.2
# ... and a width (or stage) is flagged when more than half of its units were.
LATE_UNITS = 0.5


def standard_error(diff: PairedDifference) -> float:
    return 0.0 if diff.sd is None else diff.sd / math.sqrt(diff.n)


def qualifies(diff: PairedDifference, tolerance: float, rule: str) -> bool:
    """Whether a width whose paired difference from the best width is `diff` is good enough."""
    if rule == "one_se":
        return diff.mean >= -(tolerance + standard_error(diff))
    if rule == "tolerance":
        return diff.mean >= -tolerance
    raise ValueError(f"unknown width rule {rule!r}; known: {', '.join(WIDTH_RULES)}")


def late_share(best_iterations: list[int], budgets: list[int]) -> float:
    """Share of networks whose early-stopping point lies in the last LATE_SHARE of their budget."""
    return fmean(1.0 if it > (1 - LATE_SHARE) * b else 0.0 for it, b in zip(best_iterations, budgets, strict=True))


def undertraining(metrics: dict) -> dict:
    """A stage's under-training check, from its record's metrics."""
    share = late_share(metrics["best_iteration"], metrics["budget"])
    return {"late_share": share, "undertrained": share > LATE_UNITS}


def premise(diff: PairedDifference | None) -> str:
    """Is the chosen width clearly better than the next smaller one? "met" when the
    95% interval of (chosen - smaller) lies above 0, "not met" when it does not,
    "unclear" without an interval (one unit), "untested" with no smaller width."""
    if diff is None:
        return "untested"
    if diff.low is None:
        return "unclear"
    return "met" if diff.low > 0 else "not met"


def _diff(d: PairedDifference) -> dict:
    return {"mean": d.mean, "sd": d.sd, "se": standard_error(d), "n": d.n, "low": d.low, "high": d.high}


def choose(val_acc: dict[int, list[float]], tolerance: float, rule: str) -> dict:
    """The width search's decision from each width's validation accuracies (one per
    unit, units in the same order for every width): the chosen width, every width's
    paired difference from the best and whether it qualifies, the premise check
    against the next smaller width, and whether the choice sits at the grid's edge."""
    widths = sorted(val_acc)
    if len({len(v) for v in val_acc.values()}) != 1:
        raise ValueError("every width needs the same units to pair them")
    means = {w: fmean(val_acc[w]) for w in widths}
    best = min(widths, key=lambda w: (-means[w], w))
    vs_best = {w: paired_difference(val_acc[w], val_acc[best]) for w in widths}
    good = {w: qualifies(vs_best[w], tolerance, rule) for w in widths}
    chosen = min(w for w in widths if good[w])
    smaller = max((w for w in widths if w < chosen), default=None)
    vs_smaller = paired_difference(val_acc[chosen], val_acc[smaller]) if smaller is not None else None
    return {
        "rule": rule, "tolerance": tolerance, "width": chosen, "best_width": best, "n_units": len(val_acc[best]),
        "widths": [
            {"width": w, "val_acc": means[w], "val_sd": pstdev(val_acc[w]), "vs_best": _diff(vs_best[w]),
             "qualifies": good[w]}
            for w in widths
        ],
        "next_smaller": {
            "width": smaller,
            "difference": _diff(vs_smaller) if vs_smaller else None,
            "premise": premise(vs_smaller),
        },
        "at_edge": chosen == widths[-1] and len(widths) > 1,
    }


def notes(selection: dict) -> list[str]:
    """What a reader of the width search must know, in sentences."""
    out = []
    chosen, smaller = selection["width"], selection["next_smaller"]
    if selection["at_edge"]:
        out.append(f"the chosen width {chosen} is the largest searched: accuracy may still rise beyond it, so it "
                   "is not shown to be the smallest good network; add larger widths to `widths`")
    if smaller["premise"] == "not met":
        d = smaller["difference"]
        out.append(f"premise not met: width {chosen} is not clearly better than width {smaller['width']} "
                   f"({d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] validation accuracy), so it is not "
                   "shown to be the smallest good network")
    elif smaller["premise"] == "unclear":
        out.append(f"premise unclear: one unit gives no interval for width {chosen} against {smaller['width']}")
    late = [w["width"] for w in selection["widths"] if w.get("undertrained")]
    if late:
        out.append(f"under-trained at width {', '.join(map(str, late))}: most networks were still improving in the "
                   f"last {LATE_SHARE:.0%} of their budget; raise `train.epochs` (or set `train.patience` with a "
                   "larger budget) so that the search does not compare unconverged narrow networks with converged "
                   "wide ones")
    return out
