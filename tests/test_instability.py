"""Linear mode connectivity (Frankle et al. 2020): the interpolation's ends are the
trained networks bit for bit, and two identical runs have a barrier of exactly zero."""

import torch

from lthpipe.instability import alphas, barrier, error_curve, interpolate
from lthpipe.model import Architecture, init_params, stack
from lthpipe.settings import TrainSettings
from lthpipe.train import evaluate, train_stack
from test_train import toy_splits

ARCH = Architecture(6, (16,), 3)
SETTINGS = TrainSettings(epochs=2, lr=0.01, batch_size=32)


def _trained(order_seed: int):
    return train_stack(stack([init_params(ARCH, 0, "init")]), toy_splits(), SETTINGS, order_seed).final


def _one(params):
    return {k: v[0] for k, v in params.items()}


def test_the_interpolations_ends_are_the_two_trained_networks():
    a, b = _one(_trained(1)), _one(_trained(2))
    line = interpolate(a, b, alphas(7))
    for k in a:
        assert torch.equal(line[k][0], a[k]) and torch.equal(line[k][-1], b[k])
        assert not torch.equal(line[k][3], a[k]) and not torch.equal(line[k][3], b[k])
    splits = toy_splits()
    curve = error_curve(a, b, alphas(7), splits.x_test, splits.y_test)
    ends = evaluate(stack([a, b]), splits.x_test, splits.y_test)[0]
    assert curve[0] == 1 - ends[0] and curve[-1] == 1 - ends[1]


def test_two_identical_runs_have_a_barrier_of_exactly_zero():
    a, b = _one(_trained(1)), _one(_trained(1))
    assert all(torch.equal(a[k], b[k]) for k in a)  # training is deterministic
    splits = toy_splits()
    curve = error_curve(a, b, alphas(11), splits.x_test, splits.y_test)
    assert torch.all(curve == curve[0]) and barrier(curve) == 0.0


def test_the_barrier_is_the_largest_error_minus_the_mean_of_the_ends():
    # Binary fractions, so the arithmetic is exact.
    assert barrier(torch.tensor([0.125, 0.5, 0.25, 0.375])) == 0.5 - 0.25
    assert barrier(torch.tensor([0.75, 0.5, 0.25])) == 0.75 - 0.5  # an end can be the largest
