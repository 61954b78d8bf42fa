"""Instability analysis (Frankle et al. 2020, "Linear mode connectivity and the lottery
ticket hypothesis"): is training from a point θ_k stable to the order of the data?

Two copies of a network start from the same weights θ_k and train on different
minibatch orders to θ_A and θ_B. The error barrier along the straight line between
them is max over α of err(θ_α) minus the mean of err(θ_A) and err(θ_B), with
θ_α = lerp(θ_A, θ_B, α) on a grid of α from 0 to 1. A barrier near 0 means the two
ends lie in one linearly connected basin: training from θ_k is stable.

``torch.lerp`` computes θ_A + α (θ_B − θ_A) below α = 1/2 and θ_B − (1 − α)(θ_B − θ_A)
from there on, so α = 0 gives θ_A and α = 1 gives θ_B bit for bit, and two identical
ends give themselves at every α: the barrier of two identical runs is exactly 0.
Pure functions over stacks (lthpipe.model), no I/O.
"""

from __future__ import annotations

import torch

from lthpipe.model import Params
from lthpipe.train import evaluate


def alphas(points: int) -> torch.Tensor:
    """`points` evenly spaced interpolation weights from 0 to 1, both ends included."""
    if points < 2:
        raise ValueError(f"an interpolation needs at least its two ends, got {points} points")
    return torch.linspace(0.0, 1.0, points)


def interpolate(a: Params, b: Params, weights: torch.Tensor) -> Params:
    """The stack (P, ...) of networks lerp(a, b, α) for each α of `weights` (P,), for ONE
    network a and b (unstacked, same keys and shapes)."""
    out: Params = {}
    for k in a:
        shape = (-1, *([1] * a[k].dim()))
        out[k] = torch.lerp(a[k].unsqueeze(0), b[k].unsqueeze(0), weights.view(shape).to(a[k].dtype))
    return out


def error_curve(a: Params, b: Params, weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Classification error (P,) of every interpolated network on (x, y)."""
    accuracy, _ = evaluate(interpolate(a, b, weights), x, y)
    return 1 - accuracy


def barrier(curve: torch.Tensor) -> float:
    """The error barrier of an error curve whose first and last points are the two ends:
    its largest error minus the mean of the ends' errors."""
    return float(curve.max() - (curve[0] + curve[-1]) / 2)
