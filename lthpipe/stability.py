"""How much masks found from different initialisations agree, measured against chance.

Two measures, each with its chance level:

* Overlap of the kept weights: the Jaccard index |A ∩ B| / |A ∪ B| of two masks, per
  weight matrix and pooled over all of them (the Jaccard index of the concatenated
  masks, so big layers weigh more). Chance is the exact expectation for two
  independent uniformly random masks with the same per-layer kept counts, which is
  what ``prune.random_mask_like`` draws.
* Which inputs keep connections: per input feature, the number of kept first-layer
  weights leaving it (for MNIST, a 28x28 map of pixels). Seeds agree when these
  counts correlate: the mean Pearson correlation over all pairs of seeds. Chance is
  exactly 0: a uniformly random mask's counts are exchangeable across inputs, so
  averaging any other vector's correlation with them over the permutations of the
  inputs gives 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lthpipe.model import weight_names
from lthpipe.prune import Mask

LayerCounts = tuple[int, int, int]  # (n weights, kept by mask a, kept by mask b)


@dataclass(frozen=True)
class Overlap:
    """Jaccard index per weight matrix (``w{i}``) and pooled over all of them."""

    layers: Mapping[str, float]
    overall: float


def _ratio(intersection: int, union: int) -> float:
    if union == 0:
        raise ValueError("the Jaccard index of two empty masks is undefined")
    return intersection / union


def jaccard(a: Mask, b: Mask) -> Overlap:
    """Jaccard index of the kept weights of two masks over the same weights."""
    names = weight_names(a)
    if names != weight_names(b):
        raise ValueError(f"masks cover different weights: {names} and {weight_names(b)}")
    inter = {k: int((a[k] & b[k]).sum()) for k in names}
    union = {k: int((a[k] | b[k]).sum()) for k in names}
    layers = {k: _ratio(inter[k], union[k]) for k in names}
    return Overlap(layers, _ratio(sum(inter.values()), sum(union.values())))


def _lgamma(x: np.ndarray | float) -> np.ndarray:
    # torch's log-gamma, not scipy's: importing scipy.special costs every job a quarter second.
    return torch.lgamma(torch.as_tensor(x, dtype=torch.float64)).numpy()


def _log_comb(m: int, r: np.ndarray) -> np.ndarray:
    """log C(m, r), elementwise over r."""
    return _lgamma(m + 1) - _lgamma(r + 1) - _lgamma(m - r + 1)


def _intersection_law(n: int, k_a: int, k_b: int) -> tuple[int, np.ndarray]:
    """Hypergeometric law of |A ∩ B| for independent uniform A (k_a of n) and B (k_b of n):
    P(x) = C(k_a, x) C(n - k_a, k_b - x) / C(n, k_b), in float64 from log-gamma.

    Returns the smallest x and the probabilities from there on, trimmed to those that
    float64 represents as nonzero (the others are below 1e-308 and change no sum).
    """
    if not (0 <= k_a <= n and 0 <= k_b <= n):
        raise ValueError(f"kept counts {k_a}, {k_b} must lie in [0, {n}]")
    low = max(0, k_a + k_b - n)
    x = np.arange(low, min(k_a, k_b) + 1, dtype=np.float64)  # the support
    pmf = np.exp(_log_comb(k_a, x) + _log_comb(n - k_a, k_b - x) - _log_comb(n, np.float64(k_b)))
    nonzero = np.flatnonzero(pmf)
    # log-gamma of numbers up to ~1e6 leaves ~1e-11 of rounding, mostly in the common
    # normaliser C(n, k_b); summing to 1 removes it (then ~1e-14 from exact fractions).
    return low + int(nonzero[0]), pmf[nonzero[0] : nonzero[-1] + 1] / pmf.sum()


def expected_random_jaccard_pooled(layers: Sequence[LayerCounts]) -> float:
    """Exact E[Σ|A_l ∩ B_l| / Σ|A_l ∪ B_l|] for independent uniformly random masks that
    keep (k_a, k_b) of the n weights of each layer l, given as (n, k_a, k_b).

    With X = Σ|A_l ∩ B_l| the pooled Jaccard index is X / (K - X), K = Σ(k_a + k_b),
    so its expectation needs the law of X: the convolution of the layers' independent
    hypergeometric laws, summed over every value (no simulation).
    """
    total = sum(k_a + k_b for _, k_a, k_b in layers)
    if total == 0:  # otherwise the union K - X >= max(Σk_a, Σk_b) > 0
        raise ValueError("the Jaccard index of two empty masks is undefined")
    low, pmf = 0, np.ones(1)
    for n, k_a, k_b in layers:
        layer_low, layer_pmf = _intersection_law(n, k_a, k_b)
        low, pmf = low + layer_low, np.convolve(pmf, layer_pmf)
    x = np.arange(low, low + pmf.size, dtype=np.float64)  # the values of X
    return float(np.sum(pmf * x / (total - x)))


def expected_random_jaccard(n: int, k_a: int, k_b: int) -> float:
    """Exact expected Jaccard index of two independent uniformly random subsets of
    sizes k_a and k_b of n elements (one layer of ``expected_random_jaccard_pooled``)."""
    return expected_random_jaccard_pooled([(n, k_a, k_b)])


def chance_jaccard(a: Mask, b: Mask) -> Overlap:
    """The expected ``jaccard(a', b')`` of random masks a', b' with the per-layer kept
    counts of a and b, as ``prune.random_mask_like`` draws them."""
    counts = {k: (a[k].numel(), int(a[k].sum()), int(b[k].sum())) for k in weight_names(a)}
    layers = {k: expected_random_jaccard(*c) for k, c in counts.items()}
    return Overlap(layers, expected_random_jaccard_pooled(list(counts.values())))


def input_survival(mask: Mask) -> torch.Tensor:
    """Kept first-layer weights leaving each input feature, (n_in,) int64: w0 is (hidden, n_in)."""
    return mask["w0"].sum(0)


def survival_agreement(survivals: Sequence[torch.Tensor]) -> float:
    """Mean Pearson correlation, over all pairs of seeds, of their ``input_survival``
    counts (each (n_in,)); chance level 0. NaN when some seed's counts are constant
    (e.g. nothing pruned), for which a correlation is undefined."""
    if len(survivals) < 2:
        raise ValueError(f"agreement needs at least two seeds, got {len(survivals)}")
    corr = torch.corrcoef(torch.stack(survivals).double())  # (seeds, seeds)
    pairs = torch.triu_indices(len(survivals), len(survivals), offset=1)
    return float(corr[pairs[0], pairs[1]].mean())


def _mean_overlap(overlaps: Sequence[Overlap]) -> dict:
    names = list(overlaps[0].layers)
    return {"overall": float(np.mean([o.overall for o in overlaps])),
            "layers": {k: float(np.mean([o.layers[k] for o in overlaps])) for k in names}}


def _finite_or_none(value: float) -> float | None:
    return None if np.isnan(value) else value


def describe_masks(units: Sequence[tuple[int, int]], magnitude: Sequence[Mask],
                   at_init: Mapping[str, Sequence[Mask]]) -> dict:
    """What a prune stage's record says about its masks, for the reports.

    ``units`` are the (seed, fold) of each network, ``magnitude`` their magnitude
    masks and ``at_init`` the masks each at-initialisation method found for the same
    networks. Gives the mean overlap of the magnitude masks of different seeds on
    the same split against its chance level, the mean overlap of each at-init
    method's mask with the magnitude mask of the same network against chance, the
    mean share of each input's first-layer connections kept and how well the seeds
    agree on it, and each hidden layer's kept incoming/outgoing weights per unit.
    """
    pairs = [(i, j) for i in range(len(units)) for j in range(i + 1, len(units)) if units[i][1] == units[j][1]]
    seeds = None
    if pairs:
        seeds = {"observed": _mean_overlap([jaccard(magnitude[i], magnitude[j]) for i, j in pairs]),
                 "chance": _mean_overlap([chance_jaccard(magnitude[i], magnitude[j]) for i, j in pairs]),
                 "pairs": len(pairs)}
    methods = {
        source: {"observed": _mean_overlap([jaccard(m, g) for m, g in zip(masks, magnitude)]),
                 "chance": _mean_overlap([chance_jaccard(m, g) for m, g in zip(masks, magnitude)])}
        for source, masks in at_init.items()
    }
    survivals = [input_survival(m) for m in magnitude]
    folds = sorted({fold for _, fold in units})
    agreement = [survival_agreement([s for s, (_, f) in zip(survivals, units) if f == fold])
                 for fold in folds if sum(f == fold for _, f in units) > 1]
    n_hidden = len(weight_names(magnitude[0])) - 1
    hidden = []
    for layer in range(n_hidden):
        incoming = torch.stack([m[f"w{layer}"].sum(1) for m in magnitude]).double()  # (networks, units)
        outgoing = torch.stack([m[f"w{layer + 1}"].sum(0) for m in magnitude]).double()
        alive = ((incoming > 0) & (outgoing > 0)).sum(1).double()
        hidden.append({"incoming": incoming.mean(0).tolist(), "outgoing": outgoing.mean(0).tolist(),
                       "alive": float(alive.mean())})
    return {
        "seed_overlap": seeds,
        "at_init_overlap": methods,
        "input_survival": (torch.stack(survivals).double().mean(0) / magnitude[0]["w0"].shape[0]).tolist(),
        "input_agreement": _finite_or_none(float(np.mean(agreement))) if agreement else None,
        "hidden_units": hidden,
    }
