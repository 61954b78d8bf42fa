import pytest
import torch
import torch.nn.functional as F

from lthpipe.datasets import Splits
from lthpipe.lottery import METHODS
from lthpipe.model import Architecture, backward, forward, forward_with_activations, init_params, stack, unstack
from lthpipe.prune import magnitude_mask, random_mask_like
from lthpipe.settings import TrainSettings
from lthpipe.stages.training import LotteryStart
from lthpipe.train import FusedAdam, cross_entropy_with_grad, evaluate, train_stack

ARCH = Architecture(6, (16,), 3)
SETTINGS = TrainSettings(epochs=3, lr=0.01, batch_size=32)


def toy_splits(n: int = 300) -> Splits:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=gen)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return Splits(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_masked_weights_stay_exactly_zero(optimizer):
    """Nothing reapplies the mask after a step: a zero gradient leaves Adam's moments
    and SGD's momentum at zero, so the weight never moves."""
    nets = [init_params(ARCH, s, "init") for s in range(3)]
    masks = stack([magnitude_mask(n, 0.2) for n in nets])
    settings = TrainSettings(epochs=3, lr=0.01, batch_size=32, optimizer=optimizer)
    trained = train_stack(stack(nets), toy_splits(), settings, order_seed=0, masks=masks).best
    for name, mask in masks.items():
        assert torch.all(trained[name][~mask] == 0)
        assert torch.all(trained[name][mask] != 0)


def test_fused_adam_takes_the_steps_of_torch_adam_bit_for_bit():
    gen = torch.Generator().manual_seed(0)
    shapes = [(4, 16, 6), (4, 16), (4, 3, 16)]
    ours = [torch.randn(*shape, generator=gen) for shape in shapes]
    theirs = [p.clone() for p in ours]
    for p in ours + theirs:
        p.grad = torch.zeros_like(p)
    reference = torch.optim.Adam(theirs, lr=0.003, fused=True)
    fused = FusedAdam(ours, lr=0.003)
    for _ in range(50):
        for a, b in zip(ours, theirs):
            grad = torch.randn(a.shape, generator=gen) * (torch.rand(a.shape, generator=gen) > 0.3)  # some exact zeros
            a.grad.copy_(grad)
            b.grad.copy_(grad)
        fused.step()
        reference.step()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


@pytest.mark.parametrize("arch", [ARCH, Architecture(6, (12, 5), 3)], ids=["one hidden layer", "two hidden layers"])
def test_a_stack_trains_each_network_as_if_alone(arch):
    nets = [init_params(arch, s, "init") for s in range(4)]
    masks = [magnitude_mask(n, f) for n, f in zip(nets, (1.0, 0.5, 0.2, 0.1))]
    together = train_stack(stack(nets), toy_splits(), SETTINGS, order_seed=7, masks=stack(masks))
    for i, (net, mask) in enumerate(zip(nets, masks)):
        alone = train_stack(stack([net]), toy_splits(), SETTINGS, order_seed=7, masks=stack([mask]))
        for name in net:
            assert torch.allclose(together.best[name][i], alone.best[name][0], atol=1e-5)
        assert torch.allclose(together.history.val_acc[:, i], alone.history.val_acc[:, 0])
        assert torch.allclose(together.history.train_loss[:, i], alone.history.train_loss[:, 0], atol=1e-5)


def test_training_is_deterministic_for_a_seed():
    init = stack([init_params(ARCH, s, "init") for s in range(2)])
    first = train_stack(init, toy_splits(), SETTINGS, order_seed=1)
    second = train_stack(init, toy_splits(), SETTINGS, order_seed=1)
    assert all(torch.equal(first.best[k], second.best[k]) for k in first.best)
    assert torch.equal(first.test_acc, second.test_acc)


def test_training_learns_and_reports_its_early_stopping_point():
    splits = toy_splits()
    result = train_stack(stack([init_params(ARCH, 0, "init")]), splits, TrainSettings(10, lr=0.01, batch_size=32), 0)
    metrics, history = result.metrics(), result.history
    best = history.best[0].item()
    assert history.iterations == [7 * e for e in range(1, 11)]  # 200 rows in minibatches of 32: 7 a epoch
    assert metrics["best_iteration"][0] == history.iterations[best]
    assert metrics["val_acc"][0] == history.val_acc[best, 0].item() == history.val_acc[:, 0].max().item()
    assert best == int(torch.nonzero(history.val_acc[:, 0] == history.val_acc[:, 0].max())[0])  # first on ties
    # Test accuracy at the early-stopping point, from the weights kept there.
    assert metrics["test_acc"][0] == evaluate(result.best, splits.x_test, splits.y_test)[0].item()
    assert metrics["test_acc"][0] > 0.7


def test_early_stopping_on_validation_loss_keeps_the_lowest_loss_point():
    settings = TrainSettings(iterations=40, eval_every=5, lr=0.05, batch_size=32, early_stopping="val_loss")
    result = train_stack(stack([init_params(ARCH, s, "init") for s in range(3)]), toy_splits(), settings, 0)
    history = result.history
    assert history.iterations == list(range(5, 41, 5))
    assert torch.equal(history.best, history.val_loss.argmin(0))
    assert torch.allclose(evaluate(result.best, toy_splits().x_val, toy_splits().y_val)[1],
                          history.val_loss[history.best, torch.arange(3)])


def test_a_rewind_point_holds_the_weights_and_the_minibatch_order_after_k_steps():
    init = stack([init_params(ARCH, s, "init") for s in range(2)])
    splits, k = toy_splits(), 17  # 7 minibatches an epoch: iteration 17 is inside the third epoch
    short = train_stack(init, splits, TrainSettings(iterations=k, eval_every=k, lr=0.01, batch_size=32), order_seed=3)
    long = train_stack(init, splits, TrainSettings(epochs=5, lr=0.01, batch_size=32), order_seed=3, rewind_at=k)
    point = long.rewind
    assert point.iteration == k
    assert all(torch.equal(point.params[name], short.best[name]) for name in init)
    replay = torch.Generator().manual_seed(3)
    perms = [torch.randperm(200, generator=replay) for _ in range(3)]
    resumed = torch.Generator()
    resumed.set_state(point.order_state)
    assert torch.equal(torch.randperm(200, generator=resumed), perms[2])


def test_a_resumed_run_draws_the_minibatches_that_follow_the_rewind_point():
    """With weights frozen (lr ~ 0) the first evaluation's training loss is the mean loss
    over exactly the minibatches after iteration k, which the test recomputes."""
    splits, k = toy_splits(), 17
    init = stack([init_params(ARCH, 0, "init")])
    dense = train_stack(init, splits, TrainSettings(epochs=4, lr=0.01, batch_size=32), order_seed=3, rewind_at=k)
    frozen = TrainSettings(epochs=4, lr=1e-30, batch_size=32)
    resumed = train_stack(dense.rewind.params, splits, frozen, 3, resume=dense.rewind)
    assert resumed.history.iterations == [21, 28]  # the grid of the full run, after k
    replay = torch.Generator().manual_seed(3)
    perm = [torch.randperm(200, generator=replay) for _ in range(3)][2]
    batches = [perm[b * 32 : (b + 1) * 32] for b in range(17 - 14, 7)]  # the rest of the third epoch
    losses = [F.cross_entropy(forward(dense.rewind.params, splits.x_train[i])[0], splits.y_train[i], reduction="sum")
              for i in batches]
    expected = sum(losses) / sum(len(i) for i in batches)
    assert torch.allclose(resumed.history.train_loss[0, 0], expected, atol=1e-5)


def _start(theta0, mask, seed=5, rewind=None) -> LotteryStart:
    return LotteryStart(ARCH, seed, "uniform", theta0, rewind if rewind is not None else theta0, {"magnitude": mask})


def test_rewind_starts_from_the_rewind_point_on_the_kept_weights():
    theta0, theta_k = init_params(ARCH, 5, "init"), init_params(ARCH, 6, "later")
    mask = magnitude_mask({k: v * 3 + 1 for k, v in theta0.items()}, 0.3)
    for rewind, expected in ((None, theta0), (theta_k, theta_k)):
        start, start_mask = METHODS["rewind"].start(_start(theta0, mask, rewind=rewind))
        assert start_mask is mask
        # What training starts from is θ × mask: one optimizer step with lr ~ 0 shows it.
        frozen = train_stack(stack([start]), toy_splits(), TrainSettings(1, 1e-30, 512), 0, stack([mask])).best
        for name in mask:
            assert torch.equal(frozen[name][0], expected[name] * mask[name])
        assert torch.equal(frozen["b0"][0], expected["b0"])


def test_controls_differ_from_rewind_in_the_intended_way():
    theta0 = init_params(ARCH, 5, "init")
    mask = magnitude_mask(theta0, 0.3)
    reinit, reinit_mask = METHODS["reinit"].start(_start(theta0, mask))
    assert reinit_mask is mask and not torch.equal(reinit["w0"], theta0["w0"])
    random_start, random_mask = METHODS["random_mask"].start(_start(theta0, mask))
    assert random_start is theta0
    assert all(torch.equal(random_mask[k], random_mask_like(mask, 5)[k]) for k in mask)
    small, small_mask = METHODS["dense_small"].start(_start(theta0, mask))
    # kept: 29 of 96 (w0) + 14 of 48 (w1) = 43 weights -> round(43 / (6 + 3)) = 5 units of 9 weights
    assert sum(int(m.sum()) for m in small_mask.values()) == 5 * (6 + 3)


def test_forward_of_a_stack_equals_each_network():
    nets = [init_params(Architecture(6, (16, 8), 3), s, "init") for s in range(3)]
    x = torch.randn(10, 6)
    logits = forward(stack(nets), x)
    for i, net in enumerate(unstack(stack(nets))):
        h = torch.relu(x @ net["w0"].T + net["b0"])
        h = torch.relu(h @ net["w1"].T + net["b1"])
        assert torch.allclose(logits[i], h @ net["w2"].T + net["b2"], atol=1e-6)


@pytest.mark.parametrize("hidden", [(), (16,), (12, 5)])
def test_hand_written_gradients_equal_autograd(hidden):
    arch = Architecture(6, hidden, 3)
    params = stack([init_params(arch, s, "init") for s in range(3)])
    x, y = torch.randn(20, 6), torch.randint(0, 3, (20,))
    # Zero inputs and zero biases make exact-zero pre-activations, where ReLU's gradient
    # convention (0 at 0) must match autograd's.
    x[:4] = 0
    params["b0"][:, :5] = 0

    logits, hidden_out = forward_with_activations(params, x)
    loss, dlogits = cross_entropy_with_grad(logits, y)
    grads = {k: torch.full_like(v, float("nan")) for k, v in params.items()}
    backward(params, x, hidden_out, dlogits, grads)

    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    expected_loss = F.cross_entropy(forward(leaves, x).transpose(1, 2), y.expand(3, -1), reduction="none").mean(1)
    expected_loss.sum().backward()
    assert torch.allclose(loss, expected_loss.detach(), atol=1e-6)
    for k, leaf in leaves.items():
        assert torch.allclose(grads[k], leaf.grad, atol=1e-6), k


def test_patience_stops_each_network_as_if_alone_and_the_stack_when_all_have():
    """Every network keeps the early-stopping point it would have kept had it stopped
    alone after `patience` evaluations without improvement; the stack stops when
    the last network stops, before the maximum budget."""
    settings = TrainSettings(iterations=400, eval_every=5, lr=0.05, batch_size=32, early_stopping="val_loss",
                             patience=3)
    nets = [init_params(ARCH, s, "init") for s in range(3)]
    together = train_stack(stack(nets), toy_splits(), settings, order_seed=0)
    h = together.history
    assert h.budget == 400 and h.iterations[-1] < 400  # stopped before the budget
    stops = h.stopped
    assert h.iterations[-1] == max(stops)  # the last network's stop ends the stack
    for i, net in enumerate(nets):
        alone = train_stack(stack([net]), toy_splits(), settings, order_seed=0)
        assert alone.history.stopped == [stops[i]]
        assert alone.metrics()["best_iteration"] == [together.metrics()["best_iteration"][i]]
        # Stopped `patience` evaluations after its best point, and never improved after it.
        best = together.history.best[i].item()
        assert stops[i] == h.iterations[best + settings.patience]
        for name in net:
            assert torch.allclose(together.best[name][i], alone.best[name][0], atol=1e-5)
    assert together.metrics()["stopped_iteration"] == stops
    assert together.metrics()["budget"] == [400] * 3


def test_without_patience_the_whole_budget_runs():
    result = train_stack(stack([init_params(ARCH, 0, "init")]), toy_splits(), SETTINGS, 0)
    assert result.history.stopped == [None]
    assert result.history.iterations[-1] == result.history.budget == 21
