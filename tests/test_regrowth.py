"""SET and RigL against their definitions (Evci et al. 2020): exact per-layer counts at
every step, the smallest magnitudes dropped, RigL growing the largest gradients among
the connections not kept, SET growing at random, new connections from zero."""

import math

import pytest
import torch

from lthpipe.config import ConfigError, resolve
from lthpipe.lottery import METHODS
from lthpipe.model import Architecture, init_params, stack
from lthpipe.prune import magnitude_mask, random_mask_like
from lthpipe.regrowth import Regrowth, drop_fraction, erdos_renyi_counts, start_mask, update_layer
from lthpipe.settings import RetrainSettings, SparseTrainingSettings, TrainSettings, from_params, to_params
from lthpipe.stages.training import LotteryStart
from lthpipe.train import FusedAdam, _restart, train_stack
from test_train import toy_splits

ARCH = Architecture(6, (16,), 3)
SPARSE = SparseTrainingSettings(update_every=3, drop_fraction=0.5, end=0.75)


def test_the_drop_fraction_decays_by_a_cosine_on_the_update_steps_only():
    settings = SparseTrainingSettings(update_every=10, drop_fraction=0.3, end=0.75)  # T = 200: T_end = 150
    assert drop_fraction(10, settings, 200) == pytest.approx(0.15 * (1 + math.cos(math.pi * 10 / 150)))
    assert drop_fraction(70, settings, 200) == pytest.approx(0.15 * (1 + math.cos(math.pi * 70 / 150)))
    assert [drop_fraction(t, settings, 200) for t in (0, 5, 11, 150, 160)] == [0.0] * 5


def test_an_update_drops_the_smallest_magnitudes_and_grows_the_largest_scores_among_the_rest():
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])  # 4 active of 8
    weight = torch.tensor([[0.5, -0.1, 0.3, 0.0], [-0.05, 0.0, 0.0, 0.0]])
    scores = torch.tensor([[9.0, 8.0, 0.0, 1.0], [0.0, 3.0, 2.0, 0.5]])
    new = update_layer(mask, weight, scores, 0.5)  # drop and grow floor(0.5 * 4 + 0.5) = 2
    # Dropped: -0.05 and -0.1, the smallest |w|. Grown: among the six not kept, the highest
    # scores, 8 (just dropped: it comes back) and 3; 9 and 0 (position (0, 2)) are kept.
    assert new.tolist() == [[True, True, True, False], [False, True, False, False]]
    assert int(new.sum()) == int(mask.sum())


def _network(seed=0):
    weights = init_params(ARCH, seed, "init")
    ticket = magnitude_mask(init_params(ARCH, seed, "trained"), 0.25)
    return weights, ticket


def test_rigl_grows_the_largest_gradients_of_the_connections_not_kept():
    weights, ticket = _network()
    mask = {k: m.float().unsqueeze(0) for k, m in random_mask_like(ticket, 0).items()}
    params = {k: (v * mask[k][0] if k in mask else v).unsqueeze(0) for k, v in weights.items()}
    grads = {k: torch.randn(v.shape, generator=torch.Generator().manual_seed(1)) for k, v in params.items()}
    before = {k: m.clone() > 0 for k, m in mask.items()}
    restart = Regrowth(["rigl"], [0], SPARSE, 12)(3, params, grads, mask)  # step 3 of 12: T_end = 9
    fraction = 0.25 * (1 + math.cos(math.pi * 3 / 9))  # α/2 (1 + cos(π t / T_end))
    for k, old in before.items():
        new = mask[k] > 0
        count = math.floor(fraction * int(old.sum()) + 0.5)
        smallest = _smallest(params[k].abs(), old, count)
        # The connections dropped for good are among the `count` active ones of smallest magnitude.
        assert not (old & ~new & ~smallest).any() and (old & ~new).any()
        # Grown: the `count` largest |grad| among what the drop did not keep.
        candidates = ~(old & ~smallest)
        top = torch.argsort(grads[k].abs().masked_fill(~candidates, -1).flatten(), descending=True)[:count]
        grown = torch.zeros(old.numel(), dtype=torch.bool)
        grown[top] = True
        assert torch.equal(new, (old & ~smallest) | grown.view_as(old))
        assert int(new.sum()) == int(old.sum())
        assert torch.equal(restart[k], old ^ new)  # new connections and the ones dropped for good restart at zero


def _smallest(magnitude, active, count):
    order = torch.argsort(magnitude.masked_fill(~active, math.inf).flatten(), stable=True)[:count]
    chosen = torch.zeros(active.numel(), dtype=torch.bool)
    chosen[order] = True
    return chosen.view_as(active)


def test_set_grows_at_random_whatever_the_gradients():
    weights, ticket = _network()
    mask0 = {k: m.float().unsqueeze(0) for k, m in random_mask_like(ticket, 0).items()}
    params = {k: (v * mask0[k][0] if k in mask0 else v).unsqueeze(0) for k, v in weights.items()}

    def grown(seed, grad_seed):
        mask = {k: m.clone() for k, m in mask0.items()}
        grads = {k: torch.randn(v.shape, generator=torch.Generator().manual_seed(grad_seed)) for k, v in params.items()}
        Regrowth(["set"], [seed], SPARSE, 12)(3, params, grads, mask)
        return {k: (mask[k] > 0) & ~(mask0[k] > 0) for k in mask}

    same_seed = grown(0, 1), grown(0, 2)  # other gradients: the same connections
    assert all(torch.equal(same_seed[0][k], same_seed[1][k]) for k in mask0)
    other_seed = grown(1, 1)  # another seed: other connections
    assert not all(torch.equal(same_seed[0][k], other_seed[k]) for k in mask0)
    assert sum(int(g.sum()) for g in same_seed[0].values()) > 0


def test_restarted_connections_lose_their_weight_and_optimizer_state():
    params = {"w0": torch.randn(2, 3, 4), "b0": torch.randn(2, 3)}
    for p in params.values():
        p.grad = torch.randn_like(p)
    adam = FusedAdam(list(params.values()), lr=0.1)
    adam.step()
    sgd = torch.optim.SGD(list(params.values()), lr=0.1, momentum=0.9)
    sgd.step()
    restart = {"w0": torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(0)) > 0.5}
    before = params["w0"].clone()
    for optimizer in (adam, sgd):
        _restart(optimizer, params, restart)
    states = [adam.exp_avg[0], adam.exp_avg_sq[0], sgd.state[params["w0"]]["momentum_buffer"]]
    for tensor in (params["w0"], *states):
        assert torch.all(tensor[restart["w0"]] == 0) and torch.all(tensor[~restart["w0"]] != 0)
    assert torch.equal(params["w0"][~restart["w0"]], before[~restart["w0"]])


class Watch:
    """Wraps a mask update: checks, before every step, that every weight outside its mask is
    exactly zero, and records each network's per-layer counts after the update."""

    def __init__(self, update):
        self.update, self.counts, self.changes = update, [], 0

    def __call__(self, iteration, params, grads, mask):
        for k, m in mask.items():
            assert torch.all(params[k][m == 0] == 0), (iteration, k)
        before = {k: m.clone() for k, m in mask.items()}
        restart = self.update(iteration, params, grads, mask)
        for k, m in mask.items():
            assert torch.all(params[k][(m > 0) & (before[k] == 0)] == 0)  # new connections start at zero
            self.changes += int((m != before[k]).sum())
        self.counts.append({k: m.sum((1, 2)).tolist() for k, m in mask.items()})
        return restart


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_density_is_exactly_constant_at_every_step_and_fixed_masks_never_change(optimizer):
    weights, ticket = zip(*(_network(s) for s in range(3)))
    masks = [random_mask_like(t, s) for s, t in enumerate(ticket)]
    start = stack([{k: v * m[k] if k in m else v for k, v in w.items()} for w, m in zip(weights, masks)])
    settings = TrainSettings(epochs=3, lr=0.01, batch_size=32, optimizer=optimizer)  # 7 steps an epoch: 21
    watch = Watch(Regrowth(["set", "rigl", None], [0, 1, 2], SPARSE, 21))
    result = train_stack(start, toy_splits(), settings, 0, stack(masks), mask_update=watch)
    expected = {k: [int(m[k].sum()) for m in masks] for k in masks[0]}
    assert len(watch.counts) == 21 and all(counts == expected for counts in watch.counts)
    assert watch.changes > 0  # connections did move
    for k in masks[0]:
        assert result.best_mask[k].sum((1, 2)).tolist() == expected[k]
        assert torch.equal(result.best_mask[k][2], masks[2][k])  # the fixed-mask network
        assert torch.all(result.best[k][~result.best_mask[k]] == 0)  # the weights kept at early stopping fit its mask


def test_set_and_rigl_start_from_theta0_with_the_random_mask_controls_mask():
    theta0, ticket = _network()
    start = LotteryStart(ARCH, 5, "uniform", theta0, theta0, {"magnitude": ticket}, theta0)
    _, control = METHODS["random_mask"].start(start)
    for method in ("set", "rigl"):
        weights, mask = METHODS[method].start(start)
        assert weights is theta0 and METHODS[method].regrowth == method
        assert all(torch.equal(mask[k], control[k]) for k in mask)


def test_erdos_renyi_gives_density_proportional_to_fan_in_plus_fan_out_with_the_exact_total():
    shapes = {"w0": (64, 784), "w1": (10, 64)}
    counts = erdos_renyi_counts(shapes, 5_000)
    assert sum(counts.values()) == 5_000
    eps = 5_000 / (64 + 784 + 10 + 64)
    assert abs(counts["w0"] - eps * (64 + 784)) < 1 and abs(counts["w1"] - eps * (10 + 64)) < 1
    dense_output = erdos_renyi_counts(shapes, 40_000)  # the output layer would pass density 1
    assert dense_output == {"w0": 40_000 - 640, "w1": 640}
    mask = start_mask({k: torch.ones(s, dtype=torch.bool) for k, s in shapes.items()}, 0, "erdos_renyi")
    assert {k: int(m.sum()) for k, m in mask.items()} == erdos_renyi_counts(shapes, 64 * 784 + 640)


def test_the_schedule_reaches_the_retraining_only_where_set_or_rigl_train():
    config = {"datasets": {"t": {"source": {"kind": "sklearn", "name": "iris"}}}}
    plain = resolve(config)["t"].retrain_settings()
    assert "sparse" not in to_params(plain)  # other studies' params, records and reruns as they were
    config["defaults"] = {"methods": ["rewind", "rigl"], "sparse_training": {"update_every": 7}}
    with_rigl = resolve(config)["t"].retrain_settings()
    assert to_params(with_rigl)["sparse"]["update_every"] == 7
    assert from_params(RetrainSettings, to_params(with_rigl)) == with_rigl
    config["defaults"]["rewind"] = {"at": 1, "unit": "epoch"}
    with pytest.raises(ConfigError, match="rigl train sparse from θ0"):
        resolve(config)
