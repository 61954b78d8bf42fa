"""Neuron pruning against its definition: whole units by the norm of their weights,
exact unit and weight counts, the budget's nearest width, an exact compaction."""

import math

import pytest
import torch

from lthpipe.compact import apply_mask, compact, effective_widths, mlp_forward
from lthpipe.lottery import METHODS
from lthpipe.model import Architecture, init_params
from lthpipe.prune import dense_hidden, dense_small_network, magnitude_mask, retained_fraction
from lthpipe.stages.training import LotteryStart
from lthpipe.structured import alive_units, iterative_unit_mask, neuron_mask, top_units, unit_mask, unit_scores

ARCH = Architecture(6, (16,), 3)


def test_a_units_score_is_the_norm_of_its_incoming_and_outgoing_weights():
    weights = {"w0": torch.tensor([[3.0, 0.0], [1.0, 1.0], [0.0, 0.0]]),  # (3 units, 2 inputs)
               "w1": torch.tensor([[4.0, 1.0, 0.0], [0.0, 1.0, 2.0]])}  # (2 outputs, 3 units)
    (scores,) = unit_scores(weights)
    assert torch.allclose(scores, torch.tensor([5.0, 2.0, 2.0]))  # sqrt(9 + 16), sqrt(2 + 2), sqrt(0 + 4)
    assert top_units(scores, 2).tolist() == [True, True, False]  # a tie goes to the earlier unit


def test_the_mask_keeps_every_weight_of_the_highest_scoring_units_and_nothing_else():
    weights = init_params(ARCH, 0, "init")
    (scores,) = unit_scores(weights)
    mask = unit_mask(weights, (5,))
    kept = torch.argsort(scores, descending=True)[:5].sort().values
    assert mask["w0"].any(1).nonzero().flatten().tolist() == kept.tolist()
    assert mask["w0"][kept].all() and mask["w1"][:, kept].all()
    assert int(mask["w0"].sum()) == 5 * 6 and int(mask["w1"].sum()) == 3 * 5


def test_one_hidden_layer_keeps_the_width_whose_weight_count_is_nearest_the_budget():
    weights = init_params(ARCH, 1, "init")
    per_unit = ARCH.n_in + ARCH.n_out
    for kept in range(1, ARCH.n_weights + 1):  # every budget
        count = sum(int(m.sum()) for m in neuron_mask(weights, ARCH, kept).values())
        assert count % per_unit == 0
        nearest = min(abs(u * per_unit - kept) for u in range(1, ARCH.hidden[0] + 1))
        assert abs(count - kept) == nearest, kept


def test_two_hidden_layers_keep_the_same_size_controls_widths_exactly():
    arch = Architecture(7, (12, 5), 3)
    weights = init_params(arch, 2, "init")
    for fraction in (0.7, 0.4, 0.1):
        budget = sum(int(m.sum()) for m in magnitude_mask(weights, fraction).values())
        widths = dense_hidden(arch, budget)
        mask = neuron_mask(weights, arch, budget)
        assert effective_widths(mask) == list(widths)
        expected = 7 * widths[0] + widths[0] * widths[1] + widths[1] * 3
        assert sum(int(m.sum()) for m in mask.values()) == expected
        _, small_mask = dense_small_network(arch, widths, 2)
        assert sum(int(m.sum()) for m in small_mask.values()) == expected  # the same size as dense_small


@pytest.mark.parametrize("hidden", [(16,), (12, 5)], ids=["one hidden layer", "two hidden layers"])
def test_a_neuron_pruned_network_compacts_exactly_to_a_smaller_dense_network(hidden):
    arch = Architecture(6, hidden, 3)
    weights = init_params(arch, 3, "init")
    mask = neuron_mask(weights, arch, arch.n_weights // 3)
    small = compact(weights, mask)
    widths = dense_hidden(arch, arch.n_weights // 3)
    assert small.effective_widths == widths
    assert all(small.params[f"w{i}"].shape == (out, inp) for i, (out, inp) in
               enumerate(zip((*widths, 3), (6, *widths))))
    assert not small.gathers_inputs  # every input feeds a kept unit
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(small.forward(x), mlp_forward(apply_mask(weights, mask), x), atol=1e-6)


def test_neuron_methods_start_rewound_or_from_the_trained_weights_with_the_ticket_budget():
    theta0, trained = init_params(ARCH, 5, "init"), init_params(ARCH, 9, "trained")
    ticket = magnitude_mask(trained, 0.3)  # 29 of 96 + 14 of 48 = 43 weights
    start = LotteryStart(ARCH, 5, "uniform", theta0, theta0, {"magnitude": ticket}, trained)
    rewound, mask = METHODS["neurons"].start(start)
    tuned, tuned_mask = METHODS["neurons_finetune"].start(start)
    assert rewound is theta0 and tuned is trained
    assert all(torch.equal(mask[k], neuron_mask(trained, ARCH, 43)[k]) for k in mask)
    assert all(torch.equal(mask[k], tuned_mask[k]) for k in mask)
    # round(43 / 9) = 5 units of 9 weights: the same width as dense_small, recorded exactly.
    assert effective_widths(mask) == [5] and retained_fraction(mask) == 45 / 144
    _, small_mask = METHODS["dense_small"].start(start)
    assert effective_widths(small_mask) == [5]
    assert math.isclose(retained_fraction(small_mask), retained_fraction(mask))


# ---- iteratively: each level prunes the units its own network of the level before kept


@pytest.mark.parametrize("hidden", [(16,), (12, 5)], ids=["one hidden layer", "two hidden layers"])
def test_a_level_of_iterative_neuron_pruning_keeps_the_best_of_the_units_that_survived(hidden):
    arch = Architecture(6, hidden, 3)
    previous = unit_mask(init_params(arch, 4, "init"), tuple(h - 2 for h in hidden))
    alive = alive_units(previous)
    # The network trained under `previous`; the removed units' (masked) weights are the
    # largest, so they would win if they could come back.
    trained = {k: v * 100 if k.startswith("w") else v for k, v in init_params(arch, 6, "trained").items()}
    budget = arch.n_weights // 3
    mask = iterative_unit_mask(trained, previous, arch, budget)
    widths = dense_hidden(arch, budget)
    assert effective_widths(mask) == list(widths)
    for layer, (kept, survived) in enumerate(zip(alive_units(mask), alive)):
        assert not (kept & ~survived).any(), layer  # a removed unit never comes back
    masked = {k: v * previous[k] if k in previous else v for k, v in trained.items()}
    scores = unit_scores(masked)
    for layer, (kept, survived) in enumerate(zip(alive_units(mask), alive)):
        best = torch.argsort(scores[layer].masked_fill(~survived, -math.inf), descending=True, stable=True)
        assert kept.nonzero().flatten().tolist() == best[:widths[layer]].sort().values.tolist()


def test_iterative_neuron_pruning_from_nothing_pruned_is_one_shot_neuron_pruning():
    trained = init_params(ARCH, 9, "trained")
    everything = {k: torch.ones_like(v, dtype=torch.bool) for k, v in trained.items() if k.startswith("w")}
    for budget in (20, 43, 90):
        iterative = iterative_unit_mask(trained, everything, ARCH, budget)
        assert all(torch.equal(iterative[k], neuron_mask(trained, ARCH, budget)[k]) for k in iterative)


def test_a_level_never_keeps_more_units_than_survived():
    previous = unit_mask(init_params(ARCH, 4, "init"), (3,))
    mask = iterative_unit_mask(init_params(ARCH, 5, "trained"), previous, ARCH, ARCH.n_weights)  # budget: all 16
    assert effective_widths(mask) == [3]
    with pytest.raises(ValueError, match="more units than survive"):
        unit_mask(init_params(ARCH, 5, "trained"), (4,), alive_units(previous))
