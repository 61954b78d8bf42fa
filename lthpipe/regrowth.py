"""Sparse training from scratch: SET (Mocanu et al. 2018) and RigL (Evci et al. 2020).

A network starts sparse at its fraction's per-layer counts and keeps exactly that
many connections in every layer at every step. Every ``update_every`` steps before
``end`` of the budget (step t, t > 0, t < T_end = floor(end * T)), each layer

1. drops the k = floor(α_t * active + 1/2) active connections of smallest magnitude,
   with α_t = α/2 * (1 + cos(π t / T_end)), Evci et al.'s cosine decay;
2. grows k connections among those it did not keep (inactive ones and the ones just
   dropped, as in Evci et al.'s Algorithm 1): RigL those with the largest |gradient|
   of the current minibatch (the dense gradient, before masking), SET random ones
   (Evci et al.'s SET: magnitude drop, random growth, the same schedule).

A connection grown that was inactive is new: its weight and its optimizer state
start at zero. A connection dropped for good is zeroed the same way. One dropped
and grown back in the same update never left and keeps its value. Ties (equal
magnitudes or gradients) go to the earlier position.

Start masks (``start_mask``): ``uniform`` is the per-layer counts of the fraction's
magnitude mask (layerwise pruning: every layer keeps the fraction), drawn as the
random-mask control draws them, so SET and RigL start from exactly that control's
mask; ``erdos_renyi`` gives layer l a density proportional to
(n_in + n_out) / (n_in * n_out) with the same total (Mocanu et al.), layers that would
exceed density 1 dense.
"""

from __future__ import annotations

import math

import torch

from lthpipe.model import Params, derive_seed, weight_names
from lthpipe.prune import Mask, mask_with_counts, random_mask_like
from lthpipe.settings import SparseTrainingSettings

RULES = ("set", "rigl")
DISTRIBUTIONS = ("uniform", "erdos_renyi")


def erdos_renyi_counts(shapes: dict[str, tuple[int, int]], total: int) -> dict[str, int]:
    """Kept connections per layer, summing to `total` exactly: density ε (n_in + n_out) /
    (n_in n_out) per layer, ε solved for the total; a layer whose density would pass 1
    is dense and ε is solved again for the rest. Counts by largest remainder (ties to
    the earlier layer); every layer keeps at least one."""
    names = sorted(shapes, key=lambda k: int(k[1:]))
    sizes = {k: shapes[k][0] * shapes[k][1] for k in names}
    if not len(names) <= total <= sum(sizes.values()):
        raise ValueError(f"{total} connections cannot be spread over layers of {sizes} (at least one each)")
    dense: set[str] = set()
    while True:
        rest = total - sum(sizes[k] for k in dense)
        raw = {k: shapes[k][0] + shapes[k][1] for k in names if k not in dense}  # density / ε * size
        eps = rest / sum(raw.values())
        over = {k for k in raw if eps * raw[k] > sizes[k]}
        if not over:
            break
        dense |= over
    real = {k: eps * raw[k] for k in raw}
    counts = {k: math.floor(real[k]) for k in raw}
    short = rest - sum(counts.values())
    for k in sorted(raw, key=lambda k: (-(real[k] - counts[k]), names.index(k)))[:short]:
        counts[k] += 1
    counts.update({k: sizes[k] for k in dense})
    for k in names:  # a layer without connections would cut the network
        if counts[k] == 0:
            counts[k] = 1
            counts[max(names, key=lambda n: counts[n])] -= 1
    return {k: counts[k] for k in names}


def start_mask(like: Mask, seed: int, distribution: str) -> Mask:
    """The mask a sparse-from-scratch network starts with, with `like`'s total count."""
    if distribution == "uniform":
        return random_mask_like(like, seed)
    if distribution == "erdos_renyi":
        shapes = {k: tuple(m.shape) for k, m in like.items()}
        counts = erdos_renyi_counts(shapes, sum(int(m.sum()) for m in like.values()))
        gen = torch.Generator().manual_seed(derive_seed(seed, "erdos_renyi_mask"))
        return mask_with_counts({k: torch.rand(shapes[k], generator=gen) for k in weight_names(like)}, counts)
    raise ValueError(f"unknown density distribution {distribution!r}; known: {', '.join(DISTRIBUTIONS)}")


def drop_fraction(iteration: int, settings: SparseTrainingSettings, total: int) -> float:
    """α_t of step t, or 0 when no update happens at that step."""
    end = math.floor(settings.end * total)
    if iteration <= 0 or iteration >= end or iteration % settings.update_every:
        return 0.0
    return settings.drop_fraction / 2 * (1 + math.cos(math.pi * iteration / end))


def _first(scores: torch.Tensor, count: int, descending: bool) -> torch.Tensor:
    """Bool mask, shaped like scores, of the first `count` in sorted order; ties to the earlier position."""
    order = torch.argsort(scores.flatten(), descending=descending, stable=True)
    chosen = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    chosen[order[:count]] = True
    return chosen.view_as(scores)


def update_layer(mask: torch.Tensor, weight: torch.Tensor, grow_scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """One layer's new mask (bool, shaped like it): drop the floor(fraction * active + 1/2)
    active connections of smallest |weight|, grow as many of the highest `grow_scores`
    among those not kept. The count of connections stays the same."""
    active = int(mask.sum())
    count = math.floor(fraction * active + 0.5)
    if count == 0:
        return mask.clone()
    dropped = _first(weight.abs().masked_fill(~mask, math.inf), count, descending=False)
    kept = mask & ~dropped
    grown = _first(grow_scores.masked_fill(kept, -math.inf), count, descending=True)
    return kept | grown


class Regrowth:
    """The mask update of a stack's SET and RigL networks, called by
    ``train.train_stack`` at every step (``train.MaskUpdate``).

    ``rules[i]`` is network i's rule ("set", "rigl") or None for a network whose mask
    stays fixed; ``seeds[i]`` seeds SET's random growth of network i, so that a network
    grows the same connections whichever stack it trains in.
    """

    def __init__(self, rules: list[str | None], seeds: list[int], settings: SparseTrainingSettings, total: int) -> None:
        unknown = {r for r in rules if r is not None and r not in RULES}
        if unknown:
            raise ValueError(f"unknown regrowth rules {sorted(unknown)}; known: {', '.join(RULES)}")
        self.rules = rules
        self.generators = [torch.Generator().manual_seed(derive_seed(s, "set_growth")) for s in seeds]
        self.settings = settings
        self.total = total

    def grow_scores(self, i: int, grad: torch.Tensor) -> torch.Tensor:
        if self.rules[i] == "rigl":
            return grad.abs()
        return torch.rand(grad.shape, generator=self.generators[i]).to(grad.device)

    def __call__(self, iteration: int, params: Params, grads: Params, mask: Params) -> Params | None:
        """Rewrite `mask` (float 0/1, (N, out, in) per weight) in place at an update step;
        the entries (bool) whose weight and optimizer state restart at zero, or None."""
        fraction = drop_fraction(iteration, self.settings, self.total)
        if fraction == 0.0:
            return None
        restart = {k: torch.zeros(m.shape, dtype=torch.bool, device=m.device) for k, m in mask.items()}
        for i, rule in enumerate(self.rules):
            if rule is None:
                continue
            for k in weight_names(mask):
                old = mask[k][i] > 0
                new = update_layer(old, params[k][i], self.grow_scores(i, grads[k][i]), fraction)
                restart[k][i] = old ^ new  # new connections and ones dropped for good
                mask[k][i] = new.to(mask[k].dtype)
        return restart
