"""The width search's decision (lthpipe.selection) on constructed validation results."""

import random

import pytest

from lthpipe import selection
from lthpipe.artifacts import read_json, write_json
from lthpipe.results.width import select_width
from lthpipe.settings import SelectionSettings
from lthpipe.stats import decide, paired_difference

WIDTHS = (1, 2, 4, 8, 16, 32, 64)
# Mean validation accuracy per width: rising to width 4, then a plateau whose best
# mean (64) is 0.6 points above its first width, as in a noisy search that the
# tolerance rule would send to the edge.
PLATEAU = {1: 0.70, 2: 0.85, 4: 0.946, 8: 0.946, 16: 0.944, 32: 0.948, 64: 0.952}


def plateau_units(n_units: int, noise: float = 0.01, seed: int = 0) -> dict[int, list[float]]:
    """Validation accuracies of n_units (fold, seed) units per width: each unit shares a
    split effect across widths (what pairing removes), plus noise of its own per width,
    recentred so every width's mean is exactly its PLATEAU value."""
    rng = random.Random(seed)
    split = [rng.gauss(0, 0.03) for _ in range(n_units)] if n_units > 1 else [0.0]
    out = {}
    for w, m in PLATEAU.items():
        own = [rng.gauss(0, noise) for _ in range(n_units)] if n_units > 1 else [0.0]
        shift = sum(own) / n_units
        out[w] = [m + s + e - shift for s, e in zip(split, own)]
    return out


@pytest.mark.parametrize("n_units", [1, 3, 15])
def test_a_plateau_picks_its_first_width(n_units):
    choice = selection.choose(plateau_units(n_units), tolerance=0.01, rule="one_se")
    assert choice["width"] == 4
    assert choice["best_width"] == 64
    assert choice["n_units"] == n_units
    # 2 is clearly worse than the plateau: not good enough under any number of units.
    assert [w["width"] for w in choice["widths"] if w["qualifies"]] == [4, 8, 16, 32, 64]


@pytest.mark.parametrize("n_units", [1, 3, 15])
def test_the_tolerance_rule_stays_available_and_goes_to_the_edge_on_this_plateau(n_units):
    """lthpipe 0.1's rule: mean within 0.005 of the best mean; the plateau's first
    width is 0.6 points below, so the old rule walks up to 32."""
    choice = selection.choose(plateau_units(n_units), tolerance=0.005, rule="tolerance")
    assert choice["width"] == 32


@pytest.mark.parametrize("n_units", [3, 15])
@pytest.mark.parametrize("noise", [0.001, 0.02, 0.1, 0.3])
def test_a_clearly_worse_width_is_never_picked_however_noisy(n_units, noise):
    """Clearly worse: the 95% interval of its paired difference from the best width
    lies below -tolerance. 200 random searches per cell."""
    rng = random.Random(n_units * 1000 + int(noise * 1000))
    for _ in range(200):
        means = sorted(rng.uniform(0.5, 1.0) for _ in WIDTHS)
        val = {w: [m + rng.gauss(0, noise) for _ in range(n_units)] for w, m in zip(WIDTHS, means)}
        tolerance = rng.choice([0.0, 0.01, 0.02])
        choice = selection.choose(val, tolerance, "one_se")
        best = choice["best_width"]
        assert decide(paired_difference(val[choice["width"]], val[best]), tolerance) != "fails"


def test_with_one_unit_the_rule_is_the_tolerance_rule():
    val = {4: [0.90], 8: [0.93], 16: [0.95], 32: [0.951]}
    for tolerance, expected in ((0.0, 32), (0.01, 16), (0.03, 8), (0.06, 4)):
        assert selection.choose(val, tolerance, "one_se")["width"] == expected
        assert selection.choose(val, tolerance, "tolerance")["width"] == expected


def test_one_standard_error_is_the_margin_beyond_the_tolerance():
    # Width 4's paired differences from 8: -0.02, -0.04, -0.03: mean -0.03, sd 0.01,
    # standard error 0.01/sqrt(3) = 0.00577.
    val = {4: [0.78, 0.76, 0.77], 8: [0.80, 0.80, 0.80]}
    assert selection.choose(val, 0.025, "one_se")["width"] == 4  # -0.03 >= -(0.025 + 0.00577)
    assert selection.choose(val, 0.024, "one_se")["width"] == 8  # -0.03 <  -(0.024 + 0.00577)


def test_the_premise_against_the_next_smaller_width():
    met = selection.choose({4: [0.80, 0.81, 0.79], 8: [0.90, 0.92, 0.91]}, 0.01, "one_se")
    assert met["width"] == 8 and met["next_smaller"]["width"] == 4
    assert met["next_smaller"]["premise"] == "met"
    # Chosen 8 is better than 4 on average, but not on every unit: no interval above 0.
    unclear = selection.choose({4: [0.80, 0.95, 0.70], 8: [0.90, 0.92, 0.91]}, 0.0, "one_se")
    assert unclear["width"] == 8 and unclear["next_smaller"]["premise"] == "not met"
    assert any("premise not met" in note for note in selection.notes(unclear))
    smallest = selection.choose({4: [0.9, 0.9], 8: [0.9, 0.9]}, 0.01, "one_se")
    assert smallest["width"] == 4 and smallest["next_smaller"] == {"width": None, "difference": None,
                                                                    "premise": "untested"}
    assert selection.choose({4: [0.8], 8: [0.9]}, 0.01, "one_se")["next_smaller"]["premise"] == "unclear"


def test_a_choice_at_the_largest_width_says_to_widen_the_search():
    choice = selection.choose({8: [0.83, 0.84], 16: [0.85, 0.85], 64: [0.87, 0.866]}, 0.0, "one_se")
    assert choice["width"] == 64 and choice["at_edge"]
    assert any("largest searched" in n and "widths" in n for n in selection.notes(choice))
    assert not selection.choose({8: [0.9, 0.9], 16: [0.9, 0.9]}, 0.0, "one_se")["at_edge"]


def test_late_share_counts_best_points_in_the_last_fifth_of_the_budget():
    assert selection.late_share([100, 161, 180], [200, 200, 200]) == pytest.approx(2 / 3)
    assert selection.late_share([160], [200]) == 0.0  # exactly at 80%: not late
    assert selection.undertraining({"best_iteration": [170, 190, 50], "budget": [200] * 3}) == {
        "late_share": pytest.approx(2 / 3), "undertrained": True}
    assert not selection.undertraining({"best_iteration": [170, 50], "budget": [200] * 2})["undertrained"]


def width_record(width: int, val: list[float], best: list[int], budget: int = 100) -> dict:
    n = len(val)
    return {"stage": "width", "dataset": "toy", "width": width,
            "networks": [{"method": "dense", "seed": s, "fold": 0, "level": 0} for s in range(n)],
            "metrics": {"val_acc": val, "test_acc": [v - 0.01 for v in val], "best_iteration": best,
                        "budget": [budget] * n}}


def test_selection_json_carries_both_decisions_and_their_intervals(tmp_path):
    accs = {2: [0.70, 0.72, 0.71], 4: [0.90, 0.93, 0.91], 8: [0.91, 0.92, 0.92], 16: [0.92, 0.93, 0.92]}
    best = {2: [99, 95, 100], 4: [40, 50, 90], 8: [30, 40, 50], 16: [20, 30, 40]}
    paths = []
    for w in accs:
        write_json(tmp_path / f"w{w}.json", width_record(w, accs[w], best[w]))
        paths.append(tmp_path / f"w{w}.json")
    select_width(paths, SelectionSettings(rule="one_se", tolerance=0.01), tmp_path / "sel.json", tmp_path / "w.png")
    sel = read_json(tmp_path / "sel.json")
    assert sel["width"] == 4 and sel["best_width"] == 16 and sel["rule"] == "one_se"
    by_width = {w["width"]: w for w in sel["widths"]}
    expected = paired_difference(accs[4], accs[16])
    assert by_width[4]["vs_best"]["low"] == pytest.approx(expected.low)
    assert by_width[4]["vs_best"]["high"] == pytest.approx(expected.high)
    assert [w for w, row in by_width.items() if row["qualifies"]] == [4, 8, 16]
    smaller = sel["next_smaller"]
    against = paired_difference(accs[4], accs[2])
    assert smaller["width"] == 2 and smaller["premise"] == "met"
    assert (smaller["difference"]["mean"], smaller["difference"]["low"]) == pytest.approx((against.mean, against.low))
    assert by_width[2]["undertrained"] and not by_width[4]["undertrained"]
    assert any("under-trained at width 2" in n for n in sel["notes"])
    assert sel["test_acc"] == pytest.approx(sum(accs[4]) / 3 - 0.01)


def test_widths_that_trained_other_units_are_not_paired(tmp_path):
    a, b = width_record(4, [0.9, 0.9], [1, 1]), width_record(8, [0.9, 0.9, 0.9], [1, 1, 1])
    write_json(tmp_path / "a.json", a)
    write_json(tmp_path / "b.json", b)
    with pytest.raises(ValueError, match="cannot pair"):
        select_width([tmp_path / "a.json", tmp_path / "b.json"], SelectionSettings(), tmp_path / "s.json",
                     tmp_path / "w.png")
