"""Neuron pruning: whole hidden units removed, so what is left is a smaller dense network.

Pure functions on ONE network (``w{i}`` (out, in), ``b{i}`` (out,)), weights in,
mask out. A unit's score is the L2 norm of its incoming and outgoing weights
together; each hidden layer keeps its highest-scoring units (ties go to the earlier
unit). How many units each layer keeps follows the weight budget of the fraction:
the widths of ``prune.dense_hidden``, the same as the same-size dense control
(``dense_small``), so the two differ only in where their weights come from. For one
hidden layer that is the width whose weight count is the nearest to the budget.

The mask keeps every weight between kept units (inputs and outputs are always
kept) and nothing else, so ``compact.compact`` turns it into a dense network of
exactly those widths.

Iteratively (``iterative_unit_mask``, a level of iterative pruning): the units a
previous level kept are scored on the network trained under that level's mask,
and the next level keeps the highest-scoring of them; a removed unit never comes back.
"""

from __future__ import annotations

import math

import torch

from lthpipe.model import Architecture, Params, weight_names
from lthpipe.prune import Mask, check_mask, dense_hidden


def unit_scores(weights: Params) -> list[torch.Tensor]:
    """Per hidden layer l, each unit's score (h_l,): the L2 norm of its incoming row of
    ``w{l}`` (h_l, in) and its outgoing column of ``w{l+1}`` (out, h_l), taken together."""
    names = weight_names(weights)
    scores = []
    for layer in range(len(names) - 1):
        incoming = weights[names[layer]].pow(2).sum(1)  # (h_l,)
        outgoing = weights[names[layer + 1]].pow(2).sum(0)  # (h_l,)
        scores.append((incoming + outgoing).sqrt())
    return scores


def top_units(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Bool (h,) of the `count` highest scores; equal scores go to the earlier unit."""
    if not 1 <= count <= scores.numel():
        raise ValueError(f"a layer of {scores.numel()} units cannot keep {count}")
    order = torch.argsort(scores, descending=True, stable=True)
    keep = torch.zeros(scores.numel(), dtype=torch.bool)
    keep[order[:count]] = True
    return keep


def unit_mask(weights: Params, widths: tuple[int, ...], alive: list[torch.Tensor] | None = None) -> Mask:
    """The mask that keeps `widths[l]` units of hidden layer l, the highest-scoring ones
    (among the `alive[l]` units when given), and every weight between kept units."""
    names = weight_names(weights)
    scores = unit_scores(weights)
    if len(widths) != len(scores):
        raise ValueError(f"{len(scores)} hidden layers, {len(widths)} widths given")
    if alive is not None:
        scores = [s.masked_fill(~a, -math.inf) for s, a in zip(scores, alive)]
        too_many = [(w, int(a.sum())) for w, a in zip(widths, alive) if w > int(a.sum())]
        if too_many:
            raise ValueError(f"widths {widths} keep more units than survive: {too_many}")
    kept = [torch.ones(weights[names[0]].shape[1], dtype=torch.bool)]  # the inputs
    kept += [top_units(s, w) for s, w in zip(scores, widths)]
    kept.append(torch.ones(weights[names[-1]].shape[0], dtype=torch.bool))  # the outputs
    mask = {name: kept[i + 1][:, None] & kept[i][None, :] for i, name in enumerate(names)}  # (out, in)
    check_mask(mask, weights)
    return mask


def neuron_mask(weights: Params, arch: Architecture, kept_weights: int) -> Mask:
    """Neuron pruning of one trained network to about `kept_weights` weights: the widths
    of the same-size dense control, each layer's highest-scoring units."""
    return unit_mask(weights, dense_hidden(arch, kept_weights))


def alive_units(mask: Mask) -> list[torch.Tensor]:
    """Per hidden layer, bool (h_l,): the units `mask` keeps with an input and an output."""
    names = weight_names(mask)
    return [mask[names[layer]].any(1) & mask[names[layer + 1]].any(0) for layer in range(len(names) - 1)]


def iterative_unit_mask(trained: Params, previous: Mask, arch: Architecture, kept_weights: int) -> Mask:
    """One level of iterative neuron pruning: of the units `previous` kept, the highest-scoring
    on `trained` (the network trained under `previous`), to about `kept_weights` weights: the
    same-size dense control's widths, never more units than survive in a layer."""
    alive = alive_units(previous)
    widths = tuple(min(w, int(a.sum())) for w, a in zip(dense_hidden(arch, kept_weights), alive))
    masked = {k: v * previous[k] if k in previous else v for k, v in trained.items()}
    return unit_mask(masked, widths, alive)
