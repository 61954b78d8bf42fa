import pytest
import torch

from lthpipe.model import Architecture, forward, init_params, stack
from lthpipe.prune import (
    check_mask,
    dense_hidden,
    dense_small_network,
    kept_count,
    level_mask,
    magnitude_mask,
    random_mask_like,
    retained_fraction,
    same_budget_mask,
)

ARCH = Architecture(20, (30,), 5)


@pytest.mark.parametrize(
    ("n", "fraction", "expected"),
    [(100, 0.2, 20), (600, 0.2, 120), (150, 0.2, 30), (7, 0.5, 4), (5, 0.1, 1), (3, 0.01, 1), (10, 1.0, 10), (30, 0.05, 2)],
)
def test_kept_count_rounds_half_up_and_keeps_at_least_one(n, fraction, expected):
    assert kept_count(n, fraction) == expected


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.01])
def test_kept_count_rejects_fractions_outside_unit_interval(fraction):
    with pytest.raises(ValueError, match="fraction"):
        kept_count(10, fraction)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.2, 0.05, 0.01])
def test_layerwise_keeps_exact_count_per_layer_and_the_largest_weights(fraction):
    weights = init_params(ARCH, seed=3, purpose="test")
    mask = magnitude_mask(weights, fraction, "layerwise")
    for name in ("w0", "w1"):
        m, w = mask[name], weights[name].abs()
        assert int(m.sum()) == kept_count(w.numel(), fraction)
        if not m.all():
            assert w[m].min() >= w[~m].max()
    assert set(mask) == {"w0", "w1"}  # biases are never pruned


@pytest.mark.parametrize("fraction", [1.0, 0.3, 0.1, 0.01])
def test_global_keeps_exact_total_and_a_single_threshold(fraction):
    weights = init_params(ARCH, seed=4, purpose="test")
    weights["w1"] *= 10  # layers of very different scale: global pruning favours w1
    mask = magnitude_mask(weights, fraction, "global")
    total = sum(w.numel() for k, w in weights.items() if k.startswith("w"))
    assert sum(int(m.sum()) for m in mask.values()) == kept_count(total, fraction)
    kept = torch.cat([weights[k].abs()[mask[k]] for k in mask])
    dropped = torch.cat([weights[k].abs()[~mask[k]] for k in mask])
    if dropped.numel():
        assert kept.min() >= dropped.max()


def test_ties_still_give_the_exact_count():
    weights = {"w0": torch.ones(10, 10), "b0": torch.zeros(10), "w1": torch.ones(3, 10), "b1": torch.zeros(3)}
    mask = magnitude_mask(weights, 0.25, "layerwise")
    assert int(mask["w0"].sum()) == 25 and int(mask["w1"].sum()) == 8


def test_unknown_scope_is_rejected():
    with pytest.raises(ValueError, match="scope"):
        magnitude_mask(init_params(ARCH, 0, "t"), 0.5, "per_neuron")


def test_masks_are_checked_for_dtype_and_shape():
    weights = init_params(ARCH, 0, "t")
    with pytest.raises(ValueError, match="bool"):
        check_mask({"w0": torch.ones(30, 20)}, weights)
    with pytest.raises(ValueError, match="shape"):
        check_mask({"w0": torch.ones(20, 30, dtype=torch.bool)}, weights)


def test_random_mask_keeps_per_layer_counts_but_moves_them():
    weights = init_params(ARCH, 0, "t")
    mask = magnitude_mask(weights, 0.2, "layerwise")
    random = random_mask_like(mask, seed=0)
    for name in mask:
        assert int(random[name].sum()) == int(mask[name].sum())
    assert not torch.equal(random["w0"], mask["w0"])
    assert all(torch.equal(random[k], random_mask_like(mask, seed=0)[k]) for k in mask)
    assert retained_fraction(random) == retained_fraction(mask)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.2, 0.05])
def test_dense_small_has_the_same_weight_count_up_to_one_unit(fraction):
    kept = kept_count(ARCH.n_weights, fraction)
    (width,) = dense_hidden(ARCH, kept)
    params, mask = dense_small_network(ARCH, (width,), seed=0)
    n_active = sum(int(m.sum()) for m in mask.values())
    assert n_active == Architecture(20, (width,), 5).n_weights == width * 25
    assert abs(n_active - kept) <= (ARCH.n_in + ARCH.n_out) / 2


DEEP = Architecture(20, (30, 12), 5)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.2, 0.05])
def test_deeper_dense_small_scales_every_width_by_one_factor(fraction):
    kept = kept_count(DEEP.n_weights, fraction)
    hidden = dense_hidden(DEEP, kept)
    small = Architecture(20, hidden, 5)
    # One factor s for both layers (up to rounding), and about the kept weight count.
    assert abs(hidden[0] / 30 - hidden[1] / 12) <= 0.5 / 12 + 0.5 / 30
    one_more = Architecture(20, (hidden[0] + 1, hidden[1] + 1), 5).n_weights
    assert abs(small.n_weights - kept) < one_more - small.n_weights
    if fraction == 1.0:
        assert hidden == DEEP.hidden


def test_dense_small_computes_exactly_the_small_network():
    for arch, hidden in ((ARCH, (7,)), (DEEP, (9, 4))):
        params, mask = dense_small_network(arch, hidden, seed=1)
        small = init_params(Architecture(20, hidden, 5), 1, "dense_small")
        x = torch.randn(16, 20)
        assert torch.equal(params["w0"][hidden[0]:], torch.zeros(arch.hidden[0] - hidden[0], 20))
        assert all(torch.equal(params[k] * mask[k], params[k]) for k in mask)
        assert torch.allclose(forward(stack([params]), x), forward(stack([small]), x), atol=1e-6)


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_iterative_levels_nest_and_keep_exactly_the_configured_share(scope):
    trained = init_params(DEEP, seed=5, purpose="test")
    mask = {k: torch.ones_like(v, dtype=torch.bool) for k, v in trained.items() if k.startswith("w")}
    for level in range(1, 8):
        # Later levels see "retrained" weights: new magnitudes, the old mask.
        trained = {k: v * (1 + 0.1 * level * torch.randn(v.shape, generator=torch.Generator().manual_seed(level)))
                   for k, v in trained.items()}
        new = level_mask(trained, mask, rate=0.2, output_rate=0.1, scope=scope)
        assert all(torch.equal(new[k] & ~mask[k], torch.zeros_like(mask[k])) for k in mask)  # a subset
        if scope == "layerwise":
            for k, rate in (("w0", 0.2), ("w1", 0.2), ("w2", 0.1)):
                assert int(new[k].sum()) == kept_count(int(mask[k].sum()), 1 - rate)
                survivors = trained[k].abs()[mask[k]]
                kept = trained[k].abs()[new[k]]
                assert kept.min() >= survivors.sort(descending=True).values[int(new[k].sum()) - 1]
        else:
            remaining = sum(int(m.sum()) for m in mask.values())
            assert sum(int(m.sum()) for m in new.values()) == kept_count(remaining, 0.8)
        mask = new


def test_same_budget_mask_matches_the_counts_of_another_mask():
    weights = init_params(DEEP, seed=2, purpose="test")
    like = random_mask_like(magnitude_mask(weights, 0.3), seed=4)
    scores = {k: weights[k].abs() for k in like}
    per_layer = same_budget_mask(scores, like, "layerwise")
    assert {k: int(m.sum()) for k, m in per_layer.items()} == {k: int(m.sum()) for k, m in like.items()}
    assert torch.equal(per_layer["w0"], magnitude_mask(weights, 0.3)["w0"])
    total = same_budget_mask(scores, like, "global")
    assert sum(int(m.sum()) for m in total.values()) == sum(int(m.sum()) for m in like.values())
