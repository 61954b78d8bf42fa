"""Pruning as pure functions: weights in, masks out, no I/O.

A mask is a dict of bool tensors keyed like the weights it applies to. Counts
are exact: a layer of n weights pruned to fraction f keeps kept_count(n, f)
weights, ties in magnitude broken by position, never by a tolerance.
"""

from __future__ import annotations

import math

import torch

from lthpipe.model import (
    Architecture,
    Params,
    derive_seed,
    init_params,
    weight_names,
    zero_params,
)
from lthpipe.settings import SCOPES

Mask = dict[str, torch.Tensor]


def kept_count(n: int, fraction: float) -> int:
    """Weights kept out of n at retained fraction f: f*n rounded half up, at least one."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.floor(fraction * n + 0.5))


def _top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of the k largest scores; equal scores go to the earlier position."""
    order = torch.argsort(scores.flatten(), descending=True, stable=True)
    keep = torch.zeros(scores.numel(), dtype=torch.bool)
    keep[order[:k]] = True
    return keep.view_as(scores)


def check_mask(mask: Mask, weights: Params) -> None:
    for name, m in mask.items():
        if m.dtype != torch.bool:
            raise ValueError(f"mask {name} must be bool, got {m.dtype}")
        if m.shape != weights[name].shape:
            raise ValueError(f"mask {name} has shape {tuple(m.shape)}, weights {tuple(weights[name].shape)}")


def mask_from_scores(scores: Params, fraction: float, scope: str = "layerwise") -> Mask:
    """Keep the highest-scoring weights: kept_count(n, fraction) of each layer's n
    (layerwise) or of all n weights together (global). ``scores`` holds one tensor per
    weight matrix (``w{i}``), shaped like it; other entries (biases) are ignored."""
    names = weight_names(scores)
    if scope == "layerwise":
        return mask_with_counts(scores, {k: kept_count(scores[k].numel(), fraction) for k in names})
    if scope == "global":
        return _global_top(scores, kept_count(sum(scores[k].numel() for k in names), fraction))
    raise ValueError(f"unknown pruning scope {scope!r}; known: {', '.join(SCOPES)}")


def mask_with_counts(scores: Params, counts: dict[str, int]) -> Mask:
    """Keep exactly counts[k] highest-scoring weights of each layer k."""
    mask = {k: _top_k(scores[k], counts[k]) for k in weight_names(scores)}
    check_mask(mask, scores)
    return mask


def magnitude_mask(weights: Params, fraction: float, scope: str = "layerwise") -> Mask:
    """Keep the largest-magnitude weights of one network (biases are never pruned)."""
    return mask_from_scores({k: weights[k].abs() for k in weight_names(weights)}, fraction, scope)


def random_mask_like(mask: Mask, seed: int) -> Mask:
    """A random mask with the same number of kept weights in every layer."""
    gen = torch.Generator().manual_seed(derive_seed(seed, "random_mask"))
    return {k: _top_k(torch.rand(m.shape, generator=gen), int(m.sum())) for k, m in sorted(mask.items())}


def retained_fraction(mask: Mask) -> float:
    return sum(int(m.sum()) for m in mask.values()) / sum(m.numel() for m in mask.values())


def level_mask(trained: Params, previous: Mask, rate: float, output_rate: float, scope: str) -> Mask:
    """One level of iterative magnitude pruning: keep the largest-magnitude weights
    among those `previous` kept. Layerwise, each layer keeps kept_count(m, 1 - rate)
    of its m surviving weights (`output_rate` for the output layer); global, all
    layers together keep kept_count(m, 1 - rate) of their m survivors. Exact counts,
    and the new mask is a subset of the previous one."""
    names = weight_names(trained)
    # Pruned weights can never come back: they score below every survivor.
    scores = {k: trained[k].abs().masked_fill(~previous[k], -math.inf) for k in names}
    if scope == "layerwise":
        rates = {k: output_rate if k == names[-1] else rate for k in names}
        return mask_with_counts(scores, {k: kept_count(int(previous[k].sum()), 1 - rates[k]) for k in names})
    if scope == "global":
        remaining = sum(int(previous[k].sum()) for k in names)
        return _global_top(scores, kept_count(remaining, 1 - rate))
    raise ValueError(f"unknown pruning scope {scope!r}; known: {', '.join(SCOPES)}")


def same_budget_mask(scores: Params, like: Mask, scope: str) -> Mask:
    """The highest-scoring weights under `like`'s budget: its count in every layer
    (layerwise) or its total count (global)."""
    if scope == "layerwise":
        return mask_with_counts(scores, {k: int(m.sum()) for k, m in like.items()})
    return _global_top(scores, sum(int(m.sum()) for m in like.values()))


def _global_top(scores: Params, count: int) -> Mask:
    names = weight_names(scores)
    keep = _top_k(torch.cat([scores[k].flatten() for k in names]), count)
    sizes = [scores[k].numel() for k in names]
    mask = {k: part.view_as(scores[k]) for k, part in zip(names, keep.split(sizes))}
    check_mask(mask, scores)
    return mask


def dense_hidden(arch: Architecture, kept_weights: int) -> tuple[int, ...]:
    """Hidden widths of a dense MLP with about kept_weights weights: every hidden
    width of `arch` scaled by one factor s, each rounded (at least 1).

    Weights as a function of s are a·s² + b·s, with a = Σ h_i·h_(i+1) over
    consecutive hidden layers and b = n_in·h_1 + h_L·n_out; one hidden layer
    (a = 0) gives the width round(kept / (n_in + n_out)) directly.
    """
    hidden = arch.hidden
    if not hidden:
        raise ValueError("the same-size dense control needs at least one hidden layer")
    if len(hidden) == 1:
        return (max(1, round(kept_weights / (arch.n_in + arch.n_out))),)
    a = sum(h1 * h2 for h1, h2 in zip(hidden, hidden[1:]))
    b = arch.n_in * hidden[0] + hidden[-1] * arch.n_out
    scale = (-b + math.sqrt(b * b + 4 * a * kept_weights)) / (2 * a)
    return tuple(max(1, round(scale * h)) for h in hidden)


def dense_small_network(arch: Architecture, small_hidden: tuple[int, ...], seed: int, scheme: str = "uniform") -> tuple[Params, Mask]:
    """A fresh dense network of smaller hidden widths, embedded in the full
    architecture so it trains in the same stack: the extra hidden units have all
    their weights masked, so they change nothing. Its init uses its own fan-ins."""
    small_arch = Architecture(arch.n_in, tuple(small_hidden), arch.n_out)
    small = init_params(small_arch, seed, "dense_small", scheme)
    params = zero_params(arch)
    mask = {k: torch.zeros(v.shape, dtype=torch.bool) for k, v in params.items() if k.startswith("w")}
    for i in range(arch.n_layers):
        out, inp = small_arch.sizes[i + 1], small_arch.sizes[i]
        params[f"w{i}"][:out, :inp] = small[f"w{i}"]
        params[f"b{i}"][:out] = small[f"b{i}"]
        mask[f"w{i}"][:out, :inp] = True
    return params, mask
