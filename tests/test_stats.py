"""Paired intervals and verdicts (lthpipe.stats), and mask overlap against chance
(lthpipe.stability)."""

import itertools
import math
import subprocess
import sys
from fractions import Fraction
from statistics import fmean, stdev

import pytest
import torch

from lthpipe.model import Architecture, init_params
from lthpipe.prune import magnitude_mask, random_mask_like
from lthpipe.stability import (
    chance_jaccard,
    expected_random_jaccard,
    expected_random_jaccard_pooled,
    input_survival,
    jaccard,
    survival_agreement,
)
from lthpipe.stats import VERDICTS, PairedDifference, decide, paired_difference

ARCH = Architecture(20, (30,), 5)

# ---- lthpipe.stats ----


def test_paired_interval_equals_the_hand_computation():
    # differences 2, -1, 4, 1: mean 1.5; squared deviations 0.25 + 6.25 + 6.25 + 0.25 = 13,
    # sd = sqrt(13 / 3) = 2.0816659995, standard error sd / sqrt(4) = 1.0408329997,
    # t(0.975, df = 3) = 3.1824463053 (tables: 3.182), half width 3.3123951344.
    diff = paired_difference([12.0, 9.0, 14.0, 11.0], [10.0, 10.0, 10.0, 10.0])
    assert diff.n == 4
    assert diff.mean == 1.5
    assert diff.sd == pytest.approx(2.0816659995, abs=1e-10)
    assert diff.low == pytest.approx(1.5 - 3.3123951344, abs=1e-10)
    assert diff.high == pytest.approx(1.5 + 3.3123951344, abs=1e-10)


def test_paired_interval_uses_n_minus_one_degrees_of_freedom():
    # differences 1 and 3: mean 2, sd sqrt(2), se 1, t(0.975, df = 1) = 12.7062047362
    diff = paired_difference([1.0, 3.0], [0.0, 0.0])
    assert (diff.low, diff.high) == (pytest.approx(2 - 12.7062047362, abs=1e-9), pytest.approx(2 + 12.7062047362, abs=1e-9))


def test_a_single_pair_has_no_interval():
    diff = paired_difference([0.9], [0.8])
    assert diff == PairedDifference(mean=pytest.approx(0.1), sd=None, n=1, low=None, high=None)
    assert decide(diff, tolerance=1.0) == "unclear"


def test_equal_differences_give_a_point_interval():
    diff = paired_difference([1.5, 2.5, 3.5], [1.25, 2.25, 3.25])  # exact in binary: every difference is 0.25
    assert diff.sd == 0.0 and diff.low == diff.high == diff.mean == 0.25


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (-0.005, 0.02, "holds"),  # lower bound above -tolerance
        (-0.01, 0.02, "holds"),  # lower bound exactly -tolerance still holds
        (0.01, 0.03, "holds"),
        (-0.05, -0.02, "fails"),  # the whole interval is below -tolerance
        (-0.05, -0.01, "unclear"),  # upper bound exactly -tolerance: not strictly below
        (-0.03, 0.01, "unclear"),  # straddles -tolerance
    ],
)
def test_decide_on_constructed_intervals(low, high, verdict):
    diff = PairedDifference(mean=(low + high) / 2, sd=0.01, n=5, low=low, high=high)
    assert decide(diff, tolerance=0.01) == verdict
    assert verdict in VERDICTS


def test_zero_tolerance_asks_for_no_loss_at_all():
    diff = PairedDifference(mean=0.01, sd=0.01, n=5, low=-0.001, high=0.02)
    assert decide(diff, tolerance=0.0) == "unclear"
    assert decide(diff, tolerance=0.001) == "holds"


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="same nonzero length"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="same nonzero length"):
        paired_difference([], [])
    with pytest.raises(ValueError, match="finite"):
        paired_difference([1.0, math.nan], [1.0, 1.0])
    with pytest.raises(ValueError, match="tolerance"):
        decide(paired_difference([1.0, 2.0], [1.0, 1.0]), tolerance=-0.1)


def test_stats_imports_without_torch():
    code = "import sys, lthpipe.stats; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- lthpipe.stability ----


def test_jaccard_of_a_mask_with_itself_is_one_and_with_its_complement_zero():
    mask = magnitude_mask(init_params(ARCH, 0, "test_stats"), 0.3, "global")
    same = jaccard(mask, mask)
    assert same.overall == 1.0 and set(same.layers.values()) == {1.0}
    disjoint = jaccard(mask, {k: ~m for k, m in mask.items()})
    assert disjoint.overall == 0.0 and set(disjoint.layers.values()) == {0.0}


def test_jaccard_per_layer_and_pooled_on_a_small_example():
    a = {"w0": torch.tensor([[True, True], [False, False]]), "w1": torch.tensor([[True, False]])}
    b = {"w0": torch.tensor([[False, True], [True, False]]), "w1": torch.tensor([[True, False]])}
    overlap = jaccard(a, b)
    assert overlap.layers == {"w0": 1 / 3, "w1": 1.0}
    assert overlap.overall == 2 / 4  # intersections 1 + 1 over unions 3 + 1


def test_jaccard_of_two_empty_masks_is_undefined():
    empty = {"w0": torch.zeros(2, 2, dtype=torch.bool)}
    with pytest.raises(ValueError, match="empty"):
        jaccard(empty, empty)
    with pytest.raises(ValueError, match="empty"):
        expected_random_jaccard(4, 0, 0)


def enumerated_jaccard(layers: list[tuple[int, int, int]]) -> Fraction:
    """E[pooled Jaccard] by listing every pair of subsets of every layer, in exact fractions."""
    choices = [
        list(itertools.product(itertools.combinations(range(n), k_a), itertools.combinations(range(n), k_b)))
        for n, k_a, k_b in layers
    ]
    values = []
    for pairs in itertools.product(*choices):
        inter = sum(len(set(a) & set(b)) for a, b in pairs)
        union = sum(len(set(a) | set(b)) for a, b in pairs)
        values.append(Fraction(inter, union))
    return sum(values) / len(values)


@pytest.mark.parametrize(("n", "k_a", "k_b"), [(6, 2, 3), (7, 3, 3), (5, 1, 4), (6, 6, 2), (5, 4, 4)])
def test_expected_jaccard_equals_the_enumeration_of_all_pairs(n, k_a, k_b):
    assert expected_random_jaccard(n, k_a, k_b) == pytest.approx(float(enumerated_jaccard([(n, k_a, k_b)])), abs=1e-14)


def test_pooled_expected_jaccard_equals_the_enumeration_and_differs_from_the_layer_mean():
    layers = [(5, 2, 1), (4, 1, 3), (3, 2, 2)]
    exact = float(enumerated_jaccard(layers))
    assert expected_random_jaccard_pooled(layers) == pytest.approx(exact, abs=1e-14)
    assert abs(exact - fmean(expected_random_jaccard(*c) for c in layers)) > 0.01


def test_expected_jaccard_of_a_full_mask_is_the_other_masks_fraction():
    assert expected_random_jaccard(10, 10, 3) == pytest.approx(0.3, abs=1e-15)
    assert expected_random_jaccard(235200, 235200, 235200) == 1.0


def within_standard_errors(samples: list[float], expected: float, errors: float = 4.0) -> bool:
    return abs(fmean(samples) - expected) <= errors * stdev(samples) / math.sqrt(len(samples))


def test_random_mask_pairs_average_to_the_exact_expected_jaccard():
    """400 independent pairs of random masks (seeded: deterministic) with per-layer counts
    that differ between the two masks and between layers."""
    weights = init_params(ARCH, 1, "test_stats")
    template_a = magnitude_mask(weights, 0.2, "global")
    template_b = magnitude_mask(weights, 0.35, "global")
    overlaps = [jaccard(random_mask_like(template_a, 2 * i), random_mask_like(template_b, 2 * i + 1)) for i in range(400)]
    chance = chance_jaccard(template_a, template_b)
    pooled = [o.overall for o in overlaps]
    assert within_standard_errors(pooled, chance.overall)
    for name in ("w0", "w1"):
        assert within_standard_errors([o.layers[name] for o in overlaps], chance.layers[name])
    # power: the mean of the layers' chance levels (0.118 against 0.151) is ~37 standard errors off
    assert not within_standard_errors(pooled, fmean(chance.layers.values()))


def test_input_survival_counts_kept_first_layer_weights_per_input():
    mask = {"w0": torch.tensor([[True, False, True], [True, False, False]]), "w1": torch.ones(1, 2, dtype=torch.bool)}
    assert input_survival(mask).tolist() == [2, 0, 1]


def test_survival_agreement_on_known_vectors():
    x = torch.tensor([0, 1, 2, 3, 4])
    assert survival_agreement([x, x, 2 * x]) == pytest.approx(1.0)
    assert survival_agreement([x, 4 - x]) == pytest.approx(-1.0)
    assert survival_agreement([x, torch.tensor([1, 0, 1, 0, 1]), x]) == pytest.approx(1 / 3)  # pairs: 0, 0, 1
    assert math.isnan(survival_agreement([x, torch.full((5,), 3)]))
    with pytest.raises(ValueError, match="two seeds"):
        survival_agreement([x])


def test_survival_agreement_of_random_masks_is_zero_on_average():
    template = magnitude_mask(init_params(ARCH, 2, "test_stats"), 0.2, "layerwise")
    survival = [input_survival(random_mask_like(template, seed)) for seed in range(400)]
    correlations = [survival_agreement([survival[2 * i], survival[2 * i + 1]]) for i in range(200)]
    assert within_standard_errors(correlations, 0.0)
