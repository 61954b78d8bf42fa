import pytest
import torch

from lthpipe.data import Splits
import torch.nn.functional as F

from lthpipe.model import Architecture, backward, forward, forward_with_activations, init_params, stack, unstack
from lthpipe.prune import magnitude_mask, random_mask_like
from lthpipe.settings import TrainSettings
from lthpipe.stages import lottery_networks
from lthpipe.train import cross_entropy_with_grad, train_stack

ARCH = Architecture(6, (16,), 3)
SETTINGS = TrainSettings(epochs=3, lr=0.01, batch_size=32)


def toy_splits(n: int = 300) -> Splits:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=gen)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return Splits(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:])


def test_masked_weights_stay_exactly_zero():
    nets = [init_params(ARCH, s, "init") for s in range(3)]
    masks = stack([magnitude_mask(n, 0.2) for n in nets])
    trained, _ = train_stack(stack(nets), toy_splits(), SETTINGS, order_seed=0, masks=masks)
    for name, mask in masks.items():
        assert torch.all(trained[name][~mask] == 0)
        assert torch.all(trained[name][mask] != 0)


@pytest.mark.parametrize("arch", [ARCH, Architecture(6, (12, 5), 3)], ids=["one hidden layer", "two hidden layers"])
def test_a_stack_trains_each_network_as_if_alone(arch):
    nets = [init_params(arch, s, "init") for s in range(4)]
    masks = [magnitude_mask(n, f) for n, f in zip(nets, (1.0, 0.5, 0.2, 0.1))]
    together, history = train_stack(stack(nets), toy_splits(), SETTINGS, order_seed=7, masks=stack(masks))
    for i, (net, mask) in enumerate(zip(nets, masks)):
        alone, alone_history = train_stack(stack([net]), toy_splits(), SETTINGS, order_seed=7, masks=stack([mask]))
        for name in net:
            assert torch.allclose(together[name][i], alone[name][0], atol=1e-5)
        assert torch.allclose(history.val_acc[:, i], alone_history.val_acc[:, 0])
        assert torch.allclose(history.train_loss[:, i], alone_history.train_loss[:, 0], atol=1e-5)


def test_training_is_deterministic_for_a_seed():
    init = stack([init_params(ARCH, s, "init") for s in range(2)])
    first, h1 = train_stack(init, toy_splits(), SETTINGS, order_seed=1)
    second, h2 = train_stack(init, toy_splits(), SETTINGS, order_seed=1)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert torch.equal(h1.test_acc, h2.test_acc)


def test_training_learns_and_reports_best_validation_epoch():
    _, history = train_stack(stack([init_params(ARCH, 0, "init")]), toy_splits(), TrainSettings(10, 0.01, 32), 0)
    summary = history.summary()
    best = summary["best_epoch"][0]
    assert summary["val_acc"][0] == history.val_acc[best - 1, 0].item() == history.val_acc[:, 0].max().item()
    assert summary["test_acc"][0] == history.test_acc[best - 1, 0].item()
    assert summary["final_test_acc"][0] == history.test_acc[-1, 0].item()
    assert summary["test_acc"][0] > 0.7


def test_rewind_starts_from_theta0_on_the_kept_weights():
    theta0 = init_params(ARCH, 5, "init")
    mask = magnitude_mask({k: v * 3 + 1 for k, v in theta0.items()}, 0.3)
    start, start_mask = lottery_networks(ARCH, theta0, mask, seed=5, method="rewind")
    assert start_mask is mask
    # What training starts from is θ0 × mask: one optimizer step with lr 0 shows it.
    frozen, _ = train_stack(stack([start]), toy_splits(), TrainSettings(1, 1e-30, 512), 0, stack([mask]))
    for name in mask:
        assert torch.equal(frozen[name][0], theta0[name] * mask[name])
    assert torch.equal(frozen["b0"][0], theta0["b0"])


def test_controls_differ_from_rewind_in_the_intended_way():
    theta0 = init_params(ARCH, 5, "init")
    mask = magnitude_mask(theta0, 0.3)
    reinit, reinit_mask = lottery_networks(ARCH, theta0, mask, 5, "reinit")
    assert reinit_mask is mask and not torch.equal(reinit["w0"], theta0["w0"])
    random_start, random_mask = lottery_networks(ARCH, theta0, mask, 5, "random_mask")
    assert random_start is theta0
    assert all(torch.equal(random_mask[k], random_mask_like(mask, 5)[k]) for k in mask)
    small, small_mask = lottery_networks(ARCH, theta0, mask, 5, "dense_small")
    # kept: 29 of 96 (w0) + 14 of 48 (w1) = 43 weights -> round(43 / (6 + 3)) = 5 units of 9 weights
    assert sum(int(m.sum()) for m in small_mask.values()) == 5 * (6 + 3)
    with pytest.raises(ValueError, match="method"):
        lottery_networks(ARCH, theta0, mask, 5, "magic")


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
