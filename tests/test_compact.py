import pytest
import torch

from lthpipe.compact import apply_mask, compact, effective_widths, mlp_forward, multiply_adds
from lthpipe.model import Architecture, init_params
from lthpipe.prune import magnitude_mask, random_mask_like

T, F = True, False


def assert_same_function(params, mask, network, x, atol):
    expected = mlp_forward(apply_mask(params, mask), x)
    got = network.forward(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=atol)
    assert torch.equal(got.argmax(1), expected.argmax(1))


def random_x(n_in: int, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(64, n_in, generator=torch.Generator().manual_seed(0), dtype=dtype) * 2 - 1


def cascade_network():
    """4 inputs, hidden layers a (3) and c (3), 2 outputs, float64 so that folding
    is checked to 1e-12. c2 has no outgoing weight, so a2 (which feeds only c2)
    and inputs 2 and 3 (which feed only a2) go with it, one pass after another.
    a1 has no incoming weight: a constant, folded into c0 and c1; c1 then has no
    input left and is a constant folded into the outputs."""
    mask = {
        "w0": torch.tensor([[T, T, F, F], [F, F, F, F], [F, F, T, T]]),  # rows a, columns inputs
        "w1": torch.tensor([[T, T, F], [F, T, F], [F, F, T]]),  # rows c, columns a
        "w2": torch.tensor([[T, T, F], [T, F, F]]),  # rows outputs, columns c
    }
    params = {k: v.double() for k, v in init_params(Architecture(4, (3, 3), 2), seed=0, purpose="test").items()}
    params["b0"][1] = 0.5  # a1 = relu(0.5): a live constant
    params["w1"][1, 1] = 0.8
    params["b1"][1] = 0.3  # c1 = relu(0.3 + 0.8 * 0.5) > 0
    return params, mask


@pytest.mark.parametrize("bias", [0.7, -0.7], ids=["live bias", "bias cut by the relu"])
def test_a_unit_without_inputs_is_folded_into_the_next_bias(bias):
    params = {
        "w0": torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], dtype=torch.float64),
        "b0": torch.tensor([0.1, bias], dtype=torch.float64),
        "w1": torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64),
        "b1": torch.tensor([0.2, -0.3], dtype=torch.float64),
    }
    mask = {"w0": torch.tensor([[T, T, F], [F, F, F]]), "w1": torch.ones(2, 2, dtype=torch.bool)}
    network = compact(params, mask)
    constant = max(bias, 0.0)
    assert network.effective_widths == (1,) and network.kept_units == ((0,),)
    assert network.input_index.tolist() == [0, 1]
    torch.testing.assert_close(network.params["w0"], torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    torch.testing.assert_close(network.params["b1"], torch.tensor([0.2 - 2.0 * constant, -0.3 + 3.0 * constant], dtype=torch.float64))
    assert_same_function(params, mask, network, random_x(3, torch.float64), atol=1e-12)


def test_removals_cascade_through_two_hidden_layers():
    params, mask = cascade_network()
    network = compact(params, mask)
    assert network.effective_widths == (1, 1)
    assert network.kept_units == ((0,), (0,))
    assert network.input_index.tolist() == [0, 1]
    assert network.n_inputs_used == 2
    assert effective_widths(mask) == [1, 1]
    assert_same_function(params, mask, network, random_x(4, torch.float64), atol=1e-12)


def test_an_entirely_dead_layer_leaves_a_constant_network_of_zero_placeholders():
    params = {k: v.double() for k, v in init_params(Architecture(4, (3, 3), 2), seed=1, purpose="test").items()}
    mask = {k: torch.ones(v.shape, dtype=torch.bool) for k, v in params.items() if k.startswith("w")}
    mask["w1"][:] = False
    network = compact(params, mask)
    assert network.effective_widths == (0, 0) and effective_widths(mask) == [0, 0]
    assert network.n_inputs_used == 0
    assert network.input_index.tolist() == [0] and network.kept_units == ((0,), (0,))
    assert {k: tuple(v.shape) for k, v in network.params.items()} == {"w0": (1, 1), "b0": (1,), "w1": (1, 1), "b1": (1,), "w2": (2, 1), "b2": (2,)}
    assert all(torch.all(network.params[k] == 0) for k in ("w0", "b0", "w1", "b1", "w2"))
    constant = params["b2"] + params["w2"] @ params["b1"].relu()  # layer c has no input left: it outputs relu(b1)
    torch.testing.assert_close(network.params["b2"], constant, rtol=0, atol=1e-12)
    assert_same_function(params, mask, network, random_x(4, torch.float64), atol=1e-12)


def test_a_full_mask_gives_back_the_network_bit_for_bit():
    params = init_params(Architecture(12, (10, 8), 4), seed=2, purpose="test")
    mask = magnitude_mask(params, 1.0)
    network = compact(params, mask)
    assert not network.gathers_inputs
    assert network.input_index.tolist() == list(range(12))
    assert all(torch.equal(network.params[k], params[k]) for k in params)


@pytest.mark.parametrize("arch", [Architecture(20, (16,), 5), Architecture(12, (10, 8), 4)], ids=["one hidden layer", "two hidden layers"])
@pytest.mark.parametrize("fraction", [0.5, 0.2, 0.1, 0.05, 0.02])
@pytest.mark.parametrize("kind", ["layerwise", "global", "random"])
def test_compaction_keeps_the_function_of_pruned_networks(arch, fraction, kind):
    params = init_params(arch, seed=3, purpose="test")
    mask = magnitude_mask(params, fraction, "global" if kind == "global" else "layerwise")
    if kind == "random":
        mask = random_mask_like(mask, seed=4)
    params = apply_mask(params, mask)  # as trained networks are: pruned weights exactly zero
    network = compact(params, mask)
    assert_same_function(params, mask, network, random_x(arch.n_in), atol=1e-6)
    assert list(network.effective_widths) == effective_widths(mask)
    # Nothing left to remove: every kept hidden unit has a surviving weight from a
    # kept unit and one to a kept unit (inputs: to a kept unit).
    kept = [network.input_index, *(torch.tensor(units) for units in network.kept_units), torch.arange(arch.n_out)]
    if all(w > 0 for w in network.effective_widths):
        for i in range(arch.n_layers):
            live = mask[f"w{i}"][kept[i + 1]][:, kept[i]]  # (out', in')
            assert live.any(0).all()
            if i > 0:
                assert mask[f"w{i - 1}"][kept[i]][:, kept[i - 1]].any(1).all()


def test_multiply_adds_of_each_representation():
    params, mask = cascade_network()
    # full: every weight; compact: inputs 0,1 -> a0 -> c0 -> 2 outputs; sparse: the surviving weights.
    assert multiply_adds(compact(params, mask), mask) == {"full": 4 * 3 + 3 * 3 + 3 * 2, "compact": 2 * 1 + 1 * 1 + 1 * 2, "sparse": 4 + 4 + 3}
