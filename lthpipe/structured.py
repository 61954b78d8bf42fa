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
"""

from __future__ import annotations

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


def unit_mask(weights: Params, widths: tuple[int, ...]) -> Mask:
    """The mask that keeps `widths[l]` units of hidden layer l, the highest-scoring ones,
    and every weight between kept units."""
    names = weight_names(weights)
    scores = unit_scores(weights)
    if len(widths) != len(scores):
        raise ValueError(f"{len(scores)} hidden layers, {len(widths)} widths given")
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
