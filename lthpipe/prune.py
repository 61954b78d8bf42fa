"""Pruning as pure functions: weights in, masks out, no I/O.

A mask is a dict of bool tensors keyed like the weights it applies to. Counts
are exact: a layer of n weights pruned to fraction f keeps kept_count(n, f)
weights, ties in magnitude broken by position, never by a tolerance.
"""

from __future__ import annotations

import math

import torch

from lthpipe.model import Architecture, Params, derive_seed, init_params, weight_names, zero_params

Mask = dict[str, torch.Tensor]
SCOPES = ("layerwise", "global")


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


def magnitude_mask(weights: Params, fraction: float, scope: str = "layerwise") -> Mask:
    """Keep the largest-magnitude weights of one network (biases are never pruned)."""
    names = weight_names(weights)
    if scope == "layerwise":
        mask = {k: _top_k(weights[k].abs(), kept_count(weights[k].numel(), fraction)) for k in names}
    elif scope == "global":
        flat = torch.cat([weights[k].abs().flatten() for k in names])
        keep = _top_k(flat, kept_count(flat.numel(), fraction))
        sizes = [weights[k].numel() for k in names]
        mask = {k: part.view_as(weights[k]) for k, part in zip(names, keep.split(sizes))}
    else:
        raise ValueError(f"unknown pruning scope {scope!r}; known: {', '.join(SCOPES)}")
    check_mask(mask, weights)
    return mask


def random_mask_like(mask: Mask, seed: int) -> Mask:
    """A random mask with the same number of kept weights in every layer."""
    gen = torch.Generator().manual_seed(derive_seed(seed, "random_mask"))
    return {k: _top_k(torch.rand(m.shape, generator=gen), int(m.sum())) for k, m in sorted(mask.items())}


def retained_fraction(mask: Mask) -> float:
    return sum(int(m.sum()) for m in mask.values()) / sum(m.numel() for m in mask.values())


def dense_width(arch: Architecture, kept_weights: int) -> int:
    """Hidden width of a one-hidden-layer MLP with about kept_weights weights."""
    if len(arch.hidden) != 1:
        raise ValueError("the same-size dense control is defined for one hidden layer")
    return max(1, round(kept_weights / (arch.n_in + arch.n_out)))


def dense_small_network(arch: Architecture, width: int, seed: int) -> tuple[Params, Mask]:
    """A fresh dense network of the given (smaller) width, embedded in the full
    width so it trains in the same stack: the extra hidden units have all their
    weights masked, so they change nothing. Its init uses its own fan-in."""
    small = init_params(Architecture(arch.n_in, (width,), arch.n_out), seed, "dense_small")
    params = zero_params(arch)
    params["w0"][:width] = small["w0"]
    params["b0"][:width] = small["b0"]
    params["w1"][:, :width] = small["w1"]
    params["b1"][:] = small["b1"]
    mask = {k: torch.zeros(v.shape, dtype=torch.bool) for k, v in params.items() if k.startswith("w")}
    mask["w0"][:width] = True
    mask["w1"][:, :width] = True
    return params, mask
