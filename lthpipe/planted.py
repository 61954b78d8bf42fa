"""How pruning treats planted irrelevant inputs (datasets/planted.py): from the
first-layer mask of each network, the share of the planted inputs' connections it
removed against the real inputs', and how well "this connection survives" tells a
real input's connection from a planted one's (ROC AUC).

A mask's first layer is (hidden, inputs); its column j holds input j's connections.
Everything here works on the number of connections each input keeps, so it is exact
in integers and free of torch (the planted_inputs stage counts them from the masks).

ROC AUC of a score as a detector of real inputs: the probability that a real item
scores higher than a planted one, ties counting one half (Mann-Whitney). At the level
of connections the score is 1 (kept) or 0 (removed); at the level of inputs it is the
number of connections an input keeps. 0.5 is no better than chance, 1 is a score that
ranks every real item above every planted one.
"""

from __future__ import annotations

from collections.abc import Sequence


def removal_shares(kept: Sequence[int], hidden: int, planted: Sequence[int]) -> dict[str, float]:
    """kept[j]: connections input j keeps of its `hidden`; planted: the planted inputs'
    indices. The shares of planted and of real connections removed, and both AUCs."""
    planted_set = set(planted)
    if not planted_set or len(planted_set) == len(kept):
        raise ValueError(f"need planted and real inputs; {len(planted_set)} of {len(kept)} inputs are planted")
    if any(not 0 <= k <= hidden for k in kept):
        raise ValueError(f"an input keeps between 0 and {hidden} connections: {list(kept)}")
    real = [k for j, k in enumerate(kept) if j not in planted_set]  # (d_real,)
    fake = [k for j, k in enumerate(kept) if j in planted_set]  # (d_planted,)
    return {
        "planted_removed": 1 - sum(fake) / (hidden * len(fake)),
        "real_removed": 1 - sum(real) / (hidden * len(real)),
        "connection_auc": _binary_auc(sum(real), hidden * len(real), sum(fake), hidden * len(fake)),
        "input_auc": auc(real, fake),
    }


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(a positive scores higher than a negative) + P(a tie) / 2, over all pairs."""
    if not positives or not negatives:
        raise ValueError("the AUC needs positives and negatives")
    ordered = sorted(negatives)
    wins = 0.0
    for score in positives:
        below = _count_below(ordered, score)
        ties = _count_below(ordered, score, inclusive=True) - below
        wins += below + ties / 2
    return wins / (len(positives) * len(negatives))


def _count_below(ordered: list[float], score: float, inclusive: bool = False) -> int:
    import bisect

    return (bisect.bisect_right if inclusive else bisect.bisect_left)(ordered, score)


def _binary_auc(kept_pos: int, n_pos: int, kept_neg: int, n_neg: int) -> float:
    """auc() of 0/1 scores from their counts: a kept positive beats a removed negative,
    and kept-kept and removed-removed pairs are ties."""
    wins = kept_pos * (n_neg - kept_neg)
    ties = kept_pos * kept_neg + (n_pos - kept_pos) * (n_neg - kept_neg)
    return (wins + ties / 2) / (n_pos * n_neg)
