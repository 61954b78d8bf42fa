"""Masks found before training: SNIP, GraSP and SynFlow scores of one network at θ0.

All three score the weights ``w{i}`` (out, in) of one network; biases are never
pruned but take part in every forward pass. A score says how much to keep a
weight: masks keep the highest scores through ``prune.mask_from_scores``, so each
method keeps exactly the weights magnitude pruning keeps at the same fraction and
scope (``kept_count`` per layer, or of all weights together).

SNIP and GraSP read data: the loss L is the mean cross-entropy over every example
of the given minibatches, the loss training minimises (``train.cross_entropy_with_grad``)
taken over all of them at once. SynFlow reads none.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from lthpipe.model import Params, forward, stack, weight_names
from lthpipe.prune import Mask, kept_count, mask_from_scores

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]  # (x (B, d), y (B,)) pairs

# The registry of pruning-at-initialisation methods; lottery.METHODS names them as mask sources.
AT_INIT_METHODS = ("snip", "grasp", "synflow")

# GraSP's reference implementation (alecwangcq/GraSP) divides the logits by T=200 in
# both of its passes; we keep it, so "GraSP" is the method as published and run. It
# is not a rescaling (a test shows T changes the ranking): at T=200 the softmax is
# near uniform, and Hg is dominated by the logits' own second derivatives in the
# weights (a term O(1/T)), not by the loss's curvature in the logits (O(1/T²)).
GRASP_TEMPERATURE = 200.0
SYNFLOW_ITERATIONS = 100


def _with_weight_leaves(params: Params) -> Params:
    """A detached copy of one network whose weights are autograd leaves; biases stay constant."""
    return {k: v.detach().clone().requires_grad_(k.startswith("w")) for k, v in params.items()}


def _loss(params: Params, batches: Batches, temperature: float = 1.0) -> torch.Tensor:
    """Mean cross-entropy of one network over every example of ``batches``, logits / temperature."""
    x = torch.cat([xb for xb, _ in batches])  # (B, d), all minibatches together
    y = torch.cat([yb for _, yb in batches])  # (B,)
    logits = forward(stack([params]), x)[0]  # (B, classes): a stack of one network
    return F.cross_entropy(logits / temperature, y)


def snip_scores(params: Params, batches: Batches) -> Params:
    """SNIP (Lee et al. 2019): connection sensitivity |w ⊙ ∂L/∂w| at θ0."""
    net = _with_weight_leaves(params)
    names = weight_names(net)
    grads = torch.autograd.grad(_loss(net, batches), [net[k] for k in names])
    return {k: (net[k] * g).abs().detach() for k, g in zip(names, grads)}


def grasp_scores(params: Params, batches: Batches, temperature: float = GRASP_TEMPERATURE) -> Params:
    """GraSP (Wang et al. 2020) as a keep-score: θ ⊙ Hg at θ0, g = ∂L/∂w and H the
    Hessian of L, both over the weights only (biases held at θ0), as the reference does.

    GraSP scores S(−θ) = −θ ⊙ Hg and removes the weights with the HIGHEST S: removing
    them reduces the gradient norm least (or raises it). We keep the highest scores,
    so we return −S = θ ⊙ Hg: keeping its highest is removing the highest S.
    """
    net = _with_weight_leaves(params)
    names = weight_names(net)
    weights = [net[k] for k in names]
    grads = torch.autograd.grad(_loss(net, batches, temperature), weights, create_graph=True)
    # Hessian-vector product by double backward: with g held constant (detached),
    # ∂(g · ∂L/∂w)/∂w = H g.
    g_dot_grad = sum((g.detach() * g).sum() for g in grads)
    hg = torch.autograd.grad(g_dot_grad, weights)
    return {k: (w * h).detach() for k, w, h in zip(names, weights, hg)}


def synflow_scores(params: Params, mask: Mask) -> Params:
    """SynFlow (Tanaka et al. 2020) of the masked network: |θ| ⊙ ∂R/∂|θ|, float64.

    The network is linearised by taking |θ| of every parameter, biases included as
    in the reference implementation, and fed one input of ones; R is the sum of its
    outputs. All of |θ|, the input and so every pre-activation are ≥ 0, so the ReLUs
    pass everything and R is a polynomial with nonnegative coefficients: its gradient
    is ≥ 0 and the product needs no further abs. float64 because R multiplies one
    weight per layer along every path and overflows float32 in deep or wide nets.
    Pruned weights are zero in the masked network, so they score 0.
    """
    net = {k: (v.detach().abs() * mask[k] if k in mask else v.detach().abs()).double() for k, v in params.items()}
    names = weight_names(net)
    for k in names:
        net[k].requires_grad_(True)
    ones = torch.ones(1, net["w0"].shape[1], dtype=torch.float64)  # (1, d)
    r = forward(stack([net]), ones).sum()
    grads = torch.autograd.grad(r, [net[k] for k in names])
    return {k: (net[k] * g).detach() for k, g in zip(names, grads)}


def synflow_masks(params: Params, fraction: float, scope: str = "layerwise", iterations: int = SYNFLOW_ITERATIONS) -> Iterator[Mask]:
    """SynFlow's iterative pruning: the masks of iterations k = 1..n, each keeping the
    budget of fraction^(k/n) (exponential schedule), scored on the network masked by
    the one before; the last keeps exactly the budget of ``fraction`` (x**1.0 == x).

    Masks are nested: pruned weights score −inf, below every live weight, and
    kept_count is monotone in the fraction, so each budget fits in the live weights and
    none returns, even when live and pruned weights tie at a score of zero.
    """
    if iterations < 1:
        raise ValueError(f"SynFlow needs at least one iteration, got {iterations}")
    kept_count(1, fraction)  # reject a fraction outside (0, 1] first: a negative one makes fraction ** (k/n) complex
    mask = {k: torch.ones(params[k].shape, dtype=torch.bool) for k in weight_names(params)}
    for k in range(1, iterations + 1):
        scores = synflow_scores(params, mask)
        live = {name: s.masked_fill(~mask[name], -torch.inf) for name, s in scores.items()}
        mask = mask_from_scores(live, fraction ** (k / iterations), scope)
        yield mask


def synflow_mask(params: Params, fraction: float, scope: str = "layerwise", iterations: int = SYNFLOW_ITERATIONS) -> Mask:
    """The final mask of SynFlow's iterative pruning (see ``synflow_masks``)."""
    *_, mask = synflow_masks(params, fraction, scope, iterations)
    return mask


def at_init_mask(
    method: str, params: Params, batches: Batches, fraction: float, scope: str = "layerwise",
    synflow_iterations: int = SYNFLOW_ITERATIONS,
) -> Mask:
    """The mask of one pruning-at-initialisation method for one network at θ0, keeping
    the magnitude-pruning budget of ``fraction`` in ``scope``. SynFlow ignores ``batches``."""
    if method == "snip":
        return mask_from_scores(snip_scores(params, batches), fraction, scope)
    if method == "grasp":
        return mask_from_scores(grasp_scores(params, batches), fraction, scope)
    if method == "synflow":
        return synflow_mask(params, fraction, scope, synflow_iterations)
    raise ValueError(f"unknown pruning-at-init method {method!r}; known: {', '.join(AT_INIT_METHODS)}")
