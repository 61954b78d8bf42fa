import pytest
import torch
import torch.nn.functional as F

from lthpipe.lottery import METHODS
from lthpipe.model import Architecture, derive_seed, init_params, weight_names
from lthpipe.prune import kept_count, mask_from_scores
from lthpipe.saliency import (
    AT_INIT_METHODS,
    GRASP_TEMPERATURE,
    at_init_mask,
    grasp_scores,
    snip_scores,
    synflow_masks,
    synflow_scores,
)

ARCH = Architecture(5, (6, 4), 3)  # two hidden layers: every layer has a layer before and after it
SHALLOW = Architecture(4, (5,), 3)  # one hidden layer: SynFlow's closed form


def network(arch: Architecture, seed: int) -> dict[str, torch.Tensor]:
    """float64 so that scores compare to their definitions at ~1e-12."""
    return {k: v.double() for k, v in init_params(arch, seed, "test_saliency").items()}


def batches(arch: Architecture, seed: int, dtype: torch.dtype = torch.float64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two minibatches of different sizes (7 and 5 examples), in the networks' dtype."""
    gen = torch.Generator().manual_seed(derive_seed(seed, "test_batches"))
    return [
        (torch.randn(b, arch.n_in, generator=gen, dtype=dtype), torch.randint(0, arch.n_out, (b,), generator=gen))
        for b in (7, 5)
    ]


def reference_loss(weights: list[torch.Tensor], params: dict, data: list, temperature: float = 1.0) -> torch.Tensor:
    """Mean cross-entropy over all examples, written from scratch with F.linear (not model.forward)."""
    x = torch.cat([xb for xb, _ in data])
    y = torch.cat([yb for _, yb in data])
    h = x
    for i, w in enumerate(weights):
        h = F.linear(h, w, params[f"b{i}"])
        if i < len(weights) - 1:
            h = h.relu()
    return F.cross_entropy(h / temperature, y)


def flat_grad_and_hessian(params: dict, data: list, temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """θ (all weights flattened), g and the explicit Hessian H of the loss over θ; biases fixed."""
    names = weight_names(params)
    shapes = [params[k].shape for k in names]
    theta = torch.cat([params[k].flatten() for k in names])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        weights = [part.view(s) for part, s in zip(flat.split([s.numel() for s in shapes]), shapes)]
        return reference_loss(weights, params, data, temperature)

    grad = torch.autograd.functional.jacobian(loss, theta)
    hessian = torch.autograd.functional.hessian(loss, theta)  # (n_weights, n_weights)
    return theta, grad, hessian


def unflatten(flat: torch.Tensor, like: dict) -> dict[str, torch.Tensor]:
    names = weight_names(like)
    parts = flat.split([like[k].numel() for k in names])
    return {k: part.view_as(like[k]) for k, part in zip(names, parts)}


def count(mask: dict) -> dict[str, int]:
    return {k: int(m.sum()) for k, m in mask.items()}


def test_snip_is_the_connection_sensitivity_of_an_nn_module():
    params, data = network(ARCH, 0), batches(ARCH, 0)
    layers = [torch.nn.Linear(i, o, dtype=torch.float64) for i, o in zip(ARCH.sizes, ARCH.sizes[1:])]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            layer.weight.copy_(params[f"w{i}"])
            layer.bias.copy_(params[f"b{i}"])
    net = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
    x, y = torch.cat([xb for xb, _ in data]), torch.cat([yb for _, yb in data])
    F.cross_entropy(net(x), y).backward()
    scores = snip_scores(params, data)
    assert set(scores) == {"w0", "w1", "w2"}
    for i, layer in enumerate(layers):
        torch.testing.assert_close(scores[f"w{i}"], (layer.weight * layer.weight.grad).abs().detach(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("temperature", [1.0, GRASP_TEMPERATURE])
def test_grasp_keep_score_is_theta_times_explicit_hessian_times_gradient(temperature):
    params, data = network(ARCH, 1), batches(ARCH, 1)
    theta, g, hessian = flat_grad_and_hessian(params, data, temperature)
    expected = unflatten(theta * (hessian @ g), params)  # -S(-θ) = θ ⊙ Hg
    scores = grasp_scores(params, data, temperature)
    for k in expected:
        torch.testing.assert_close(scores[k], expected[k], rtol=1e-9, atol=1e-14 * float(expected[k].abs().max()))


def test_grasp_temperature_changes_the_scores():
    """Not only a rescaling: T=200 ranks the weights differently from T=1."""
    params, data = network(ARCH, 1), batches(ARCH, 1)
    plain = grasp_scores(params, data, temperature=1.0)
    tempered = grasp_scores(params, data)  # the default, GRASP_TEMPERATURE
    assert GRASP_TEMPERATURE == 200.0
    assert any(not torch.equal(plain[k].argsort(), tempered[k].argsort()) for k in plain)


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_grasp_mask_removes_the_highest_grasp_scores_at_temperature_200(scope):
    """GraSP removes the weights with the highest S(-θ) = -θ ⊙ Hg (explicit Hessian, T=200)."""
    params, data = network(ARCH, 2), batches(ARCH, 2)
    theta, g, hessian = flat_grad_and_hessian(params, data, 200.0)
    s = unflatten(-theta * (hessian @ g), params)
    mask = at_init_mask("grasp", params, data, 0.3, scope)
    if scope == "layerwise":
        for k in mask:
            assert s[k][~mask[k]].min() >= s[k][mask[k]].max()
    else:
        removed = torch.cat([s[k][~mask[k]] for k in mask])
        kept = torch.cat([s[k][mask[k]] for k in mask])
        assert removed.min() >= kept.max()


def test_synflow_scores_match_the_closed_form_of_one_hidden_layer():
    """score(W1_ij) = |W1_ij| Σ_k |W2_ki| and score(W2_ki) = |W2_ki| (Σ_j |W1_ij| + |b1_i|),
    with W1 = w0, W2 = w1 and the masked network's weights W ⊙ M."""
    params = network(SHALLOW, 3)
    full = {k: torch.ones(params[k].shape, dtype=torch.bool) for k in ("w0", "w1")}
    gen = torch.Generator().manual_seed(derive_seed(3, "test_synflow_mask"))
    partial = {k: torch.rand(params[k].shape, generator=gen) < 0.6 for k in ("w0", "w1")}
    for mask in (full, partial):
        w1, w2, b1 = (params["w0"] * mask["w0"]).abs(), (params["w1"] * mask["w1"]).abs(), params["b0"].abs()
        scores = synflow_scores(params, mask)
        assert scores["w0"].dtype == torch.float64
        torch.testing.assert_close(scores["w0"], w1 * w2.sum(0).unsqueeze(1), rtol=1e-14, atol=0)
        torch.testing.assert_close(scores["w1"], w2 * (w1.sum(1) + b1).unsqueeze(0), rtol=1e-14, atol=0)


@pytest.mark.parametrize("method", AT_INIT_METHODS)
@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.2, 0.05, 0.01])
def test_each_method_keeps_the_magnitude_budget_per_layer(method, fraction):
    params = init_params(ARCH, 4, "test_saliency")  # float32, as the pipeline has it
    mask = at_init_mask(method, params, batches(ARCH, 4, torch.float32), fraction, "layerwise")
    assert count(mask) == {k: kept_count(params[k].numel(), fraction) for k in ("w0", "w1", "w2")}


@pytest.mark.parametrize("method", AT_INIT_METHODS)
@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.2, 0.05, 0.01])
def test_each_method_keeps_the_magnitude_budget_globally(method, fraction):
    params = init_params(ARCH, 5, "test_saliency")
    mask = at_init_mask(method, params, batches(ARCH, 5, torch.float32), fraction, "global")
    assert sum(count(mask).values()) == kept_count(ARCH.n_weights, fraction)


def test_synflow_ignores_the_data_and_snip_does_not():
    params = network(ARCH, 6)
    first, second = batches(ARCH, 6), batches(ARCH, 7)
    synflow = [at_init_mask("synflow", params, data, 0.2, "global") for data in (first, second)]
    snip = [at_init_mask("snip", params, data, 0.2, "global") for data in (first, second)]
    assert all(torch.equal(synflow[0][k], synflow[1][k]) for k in synflow[0])
    assert any(not torch.equal(snip[0][k], snip[1][k]) for k in snip[0])


@pytest.mark.parametrize("scope", ["layerwise", "global"])
@pytest.mark.parametrize("seed", range(5))
def test_synflow_masks_are_nested_and_follow_the_exponential_schedule(scope, seed):
    """A pruned weight never returns. Scoring pruned weights 0 instead of -inf breaks this
    here (layerwise, seeds 0, 2, 4): live weights of cut-off units tie with them at 0."""
    params = init_params(ARCH, seed, "test_saliency")
    fraction, iterations = 0.1, 20
    masks = list(synflow_masks(params, fraction, scope, iterations))
    assert len(masks) == iterations
    for k, (before, after) in enumerate(zip(masks, masks[1:]), start=2):
        assert all(not (after[name] & ~before[name]).any() for name in after)
        kept = fraction ** (k / iterations)
        if scope == "layerwise":
            assert count(after) == {name: kept_count(m.numel(), kept) for name, m in after.items()}
        else:
            assert sum(count(after).values()) == kept_count(ARCH.n_weights, kept)


def test_synflow_final_mask_keeps_the_highest_scores_of_the_last_masked_network():
    params = init_params(ARCH, 8, "test_saliency")
    *_, before, last = synflow_masks(params, 0.2, "layerwise", 10)
    scores = synflow_scores(params, before)
    live = {k: s.masked_fill(~before[k], -torch.inf) for k, s in scores.items()}
    expected = mask_from_scores(live, 0.2, "layerwise")
    assert all(torch.equal(last[k], expected[k]) for k in last)


def test_unknown_method_and_bad_fraction_are_rejected():
    params = init_params(ARCH, 0, "test_saliency")
    with pytest.raises(ValueError, match="unknown pruning-at-init method"):
        at_init_mask("magnitude", params, batches(ARCH, 0, torch.float32), 0.5)
    with pytest.raises(ValueError, match="fraction"):
        at_init_mask("synflow", params, [], -0.5)


def test_registry_agrees_with_the_lottery_methods():
    assert {m.mask_source for m in METHODS.values() if m.at_init} == set(AT_INIT_METHODS)
