"""Planted irrelevant inputs: columns appended to a table's real features that carry
nothing about its label, to test the reference study's explanation of wasted weights
(inputs unrelated to the label leave their dense connections useless, so pruning
should remove the planted inputs' connections first; README, "Planted irrelevant
features").

With d real features (after one-hot encoding) and factor k, k x d columns follow them:
- noise: independent standard Gaussian cells;
- permuted: k copies of the d real columns, copy c with its rows in the order of a
  seeded permutation, so each column keeps its values (its distribution, and within a
  copy the joint distribution of the columns) but not their relation to the label.
Both are drawn from generators seeded by derive_seed(seed, purpose), from the row
count and the real features alone: no label is read, and the cells of a row are fixed
before the rows are split, the same in every fold, split scheme and split seed.
Standardization then treats them as any feature.
"""

from __future__ import annotations

import torch

from lthpipe.datasets.base import PlantedSettings
from lthpipe.model import derive_seed


def plant(x: torch.Tensor, names: list[str], settings: PlantedSettings) -> tuple[torch.Tensor, list[str], dict]:
    """x (n, d) with k x d planted columns appended, (n, d (1 + k)); their names; and
    the record of what they are: the settings, the real feature count, the planted
    columns' indices and (permuted) the real column each copies."""
    n, d = x.shape
    k = settings.factor
    if settings.kind == "noise":
        gen = torch.Generator().manual_seed(derive_seed(settings.seed, "planted/noise"))
        extra = torch.randn(n, k * d, generator=gen, dtype=x.dtype)  # (n, k d)
        extra_names = [f"planted_noise{i}" for i in range(k * d)]
        copies_of = None
    else:
        orders = [row_order(n, settings.seed, c) for c in range(k)]
        extra = torch.cat([x[order] for order in orders], 1)  # (n, k d)
        extra_names = [f"planted{c}:{name}" for c in range(k) for name in names]
        copies_of = [j for _ in range(k) for j in range(d)]
    record = {
        "factor": k, "kind": settings.kind, "seed": settings.seed, "real_features": d,
        "columns": list(range(d, d + k * d)),
        **({"copies_of": copies_of} if copies_of is not None else {}),
    }
    return torch.cat([x, extra], 1), [*names, *extra_names], record


def row_order(n: int, seed: int, copy: int) -> torch.Tensor:
    """(n,) the permutation of the rows that permuted copy `copy` takes its cells from."""
    gen = torch.Generator().manual_seed(derive_seed(seed, f"planted/permuted{copy}"))
    return torch.randperm(n, generator=gen)
