"""Overlap that sees through unit order: hidden units of two networks matched first.

Hidden units have no identity across initialisations: unit 7 of one seed may do what
unit 12 of another does. Weight matching (Ainsworth et al. 2023, "Git Re-Basin")
finds, per hidden layer l, the permutation P_l of network b's units that maximises
the summed inner products of the two networks' weights,

    Σ_l <W_l^a, P_l W_l^b P_(l-1)^T> + <b_l^a, P_l b_l^b>     (P of inputs and outputs: identity)

For one hidden layer this is one linear assignment problem, solved exactly with the
Hungarian algorithm (scipy.optimize.linear_sum_assignment). With more, each layer's
problem is solved with the others fixed, in turn, until a whole round changes
nothing (coordinate descent, as Ainsworth et al.).

Then masks are compared as the stability module compares them (Jaccard index per
weight matrix and pooled, against the exact chance level), once as they are and once
with b's mask permuted like its weights. A permutation keeps every layer's count,
so the chance level is the same for both. The matching is chosen to line up large
weights, so it lifts the overlap of magnitude masks somewhat even between networks that
share nothing: the same procedure on the untrained networks (θ0 of each seed, masks of
the same counts by magnitude) measures that lift, the baseline aligned overlap must
beat. Works on ONE network (``w{i}`` (out, in)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import fmean

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from lthpipe.model import Params, weight_names
from lthpipe.prune import Mask, magnitude_mask, retained_fraction
from lthpipe.stability import Overlap, chance_jaccard, jaccard

MAX_ROUNDS = 100


def permute(params: Params, perms: Sequence[torch.Tensor]) -> Params:
    """A network (or a mask: weights only) with hidden layer l's units put in the order
    perms[l] (h_l,): new unit j is old unit perms[l][j]. Computes the same function."""
    names = weight_names(params)
    out = dict(params)
    for layer, perm in enumerate(perms):
        out[names[layer]] = out[names[layer]][perm]  # rows: this layer's units
        out[names[layer + 1]] = out[names[layer + 1]][:, perm]  # columns: inputs from this layer
        if f"b{layer}" in out:
            out[f"b{layer}"] = out[f"b{layer}"][perm]
    return out


def _layer_similarity(a: Params, b: Params, layer: int, perms: list[torch.Tensor]) -> np.ndarray:
    """(h_l, h_l): entry (j, j') is what matching b's unit j' to a's unit j adds to the
    objective, with every other layer's matching fixed."""
    names = weight_names(a)
    # (h_l, in) with its columns in a's order, and (out, h_l) with its rows in a's order
    incoming_b = b[names[layer]] if layer == 0 else b[names[layer]][:, perms[layer - 1]]
    outgoing_b = b[names[layer + 1]] if layer + 1 == len(perms) else b[names[layer + 1]][perms[layer + 1]]
    similarity = a[names[layer]].double() @ incoming_b.double().T  # (h_l, h_l)
    similarity += a[names[layer + 1]].double().T @ outgoing_b.double()
    if f"b{layer}" in a:
        similarity += torch.outer(a[f"b{layer}"].double(), b[f"b{layer}"].double())
    return similarity.numpy()


def match_units(a: Params, b: Params) -> list[torch.Tensor]:
    """Per hidden layer, the order of b's units that best matches a's (weight matching):
    ``permute(b, match_units(a, b))`` is b with its units lined up with a's."""
    names = weight_names(a)
    perms = [torch.arange(a[names[layer]].shape[0]) for layer in range(len(names) - 1)]
    for _ in range(MAX_ROUNDS):
        changed = False
        for layer in range(len(perms)):
            _, columns = linear_sum_assignment(_layer_similarity(a, b, layer, perms), maximize=True)
            perm = torch.as_tensor(columns, dtype=torch.long)
            if not torch.equal(perm, perms[layer]):
                perms[layer] = perm
                changed = True
        if not changed:
            return perms
    raise RuntimeError(f"weight matching did not settle in {MAX_ROUNDS} rounds")


def cosine(a: Params, b: Params) -> float:
    """Cosine similarity of two networks' weights, all weight matrices as one vector."""
    names = weight_names(a)
    x = torch.cat([a[k].flatten() for k in names]).double()
    y = torch.cat([b[k].flatten() for k in names]).double()
    return float(x @ y / (x.norm() * y.norm()))


def _mean(overlaps: Sequence[Overlap]) -> dict:
    return {"overall": fmean(o.overall for o in overlaps),
            "layers": {k: fmean(o.layers[k] for o in overlaps) for k in overlaps[0].layers}}


def seed_pairs(units: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Positions (i, j), i < j, of networks on the same data split (units are (seed, fold))."""
    return [(i, j) for i in range(len(units)) for j in range(i + 1, len(units)) if units[i][1] == units[j][1]]


def aligned_overlap(units: Sequence[tuple[int, int]], trained: Sequence[Params], masks: Mapping[float, Sequence[Mask]],
                    untrained: Sequence[Params] | None = None, scope: str = "layerwise") -> dict:
    """Seed-vs-seed overlap of the masks of every fraction, unaligned and aligned by the
    trained weights, against chance; per weight matrix and pooled, mean over pairs.
    With the `untrained` networks (θ0), also the aligned overlap of their magnitude
    masks (`scope`, each fraction): what the matching lifts with nothing shared.

    ``units`` are the (seed, fold) of each network, ``trained`` their trained weights and
    ``masks[fraction]`` their masks at that fraction, in the same order."""
    pairs = seed_pairs(units)
    if not pairs:
        raise ValueError("aligned overlap needs two or more seeds on one data split")
    perms = {pair: match_units(trained[pair[0]], trained[pair[1]]) for pair in pairs}
    baseline = {}
    if untrained is not None:
        baseline = {pair: match_units(untrained[pair[0]], untrained[pair[1]]) for pair in pairs}
    fractions = []
    for fraction in sorted(masks, reverse=True):
        found = masks[fraction]
        aligned = [jaccard(found[i], permute(found[j], perms[(i, j)])) for i, j in pairs]
        unaligned = [jaccard(found[i], found[j]) for i, j in pairs]
        fractions.append({
            "fraction": fraction,
            "retained": fmean(retained_fraction(m) for m in found),
            "unaligned": _mean(unaligned),
            "aligned": _mean(aligned),
            "chance": _mean([chance_jaccard(found[i], found[j]) for i, j in pairs]),
            "pairs": [{"seeds": [units[i][0], units[j][0]], "fold": units[i][1], "unaligned": u.overall,
                       "aligned": a.overall} for (i, j), u, a in zip(pairs, unaligned, aligned)],
        })
        if untrained is not None:
            at_init = [magnitude_mask(w, fraction, scope) for w in untrained]
            fractions[-1]["untrained_aligned"] = _mean(
                [jaccard(at_init[i], permute(at_init[j], baseline[(i, j)])) for i, j in pairs])
    similarity = {
        "unaligned": fmean(cosine(trained[i], trained[j]) for i, j in pairs),
        "aligned": fmean(cosine(trained[i], permute(trained[j], perms[(i, j)])) for i, j in pairs),
    }
    return {"pairs": len(pairs), "weight_cosine": similarity, "fractions": fractions}
