"""Figures drawn from trained networks (decision regions): torch for the predictions,
matplotlib for the drawing; imported by no training stage."""

from __future__ import annotations

from pathlib import Path

import torch

from lthpipe import checkpoint
from lthpipe.checkpoint import NetworkId
from lthpipe.datasets import load_dataset
from lthpipe.model import Params, member


def decision_regions(
    data_path: Path, dense_path: Path, masks_path: Path, retrain_path: Path, dataset: str, out: Path, grid: int = 200,
) -> None:
    """Decision regions of one seed's dense network, its magnitude-pruned version
    without retraining and its rewound ticket, on a 2-D slice of the input space
    (first split, first seed; the fraction is the prune stage's). With two
    features the slice is the input plane itself; with three, the plane of the two
    the dense network uses most, through the training mean (Swiss Roll: the roll's
    cross-section); with more, the plane of the training inputs' two principal
    components through their mean."""
    from lthpipe.plots.regions import decision_regions_plot

    data = load_dataset(data_path, dataset)
    split = data.folds[0]
    dense, _ = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    found, pruned_record = checkpoint.load_stack(masks_path, stage="prune", dataset=dataset)
    tickets, _ = checkpoint.load_stack(retrain_path, stage="retrain", dataset=dataset)
    first = dense.networks[0]
    trained = member(dense.sections["trained"], 0)
    mask = member(found.sections["mask"], found.index(NetworkId("magnitude", first.seed, first.fold)))
    ticket = member(tickets.sections["trained"], tickets.index(NetworkId("rewind", first.seed, first.fold)))
    origin, axes, names = _slice_plane(split.x_train, trained["w0"], data.record["feature_names"])
    coords = (split.x_test - origin) @ axes.T  # (n_test, 2): test points in the plane
    low, high = coords.min(0).values, coords.max(0).values
    margin = 0.05 * (high - low)
    xs = torch.linspace(float(low[0] - margin[0]), float(high[0] + margin[0]), grid)
    ys = torch.linspace(float(low[1] - margin[1]), float(high[1] + margin[1]), grid)
    plane = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)  # (G*G, 2)
    inputs = origin + plane @ axes  # (G*G, n_features)
    fraction = pruned_record["fraction"]
    networks = [("dense, trained", trained),
                (f"pruned to {fraction:g}, no retraining", {k: v * mask[k] if k in mask else v for k, v in trained.items()}),
                (f"pruned to {fraction:g}, rewound, retrained", ticket)]
    panels = [(title, _predict(params, inputs).reshape(grid, grid).numpy()) for title, params in networks]
    decision_regions_plot(
        panels, (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1])), names, coords.numpy(),
        split.y_test.numpy(), data.record["n_classes"], f"{dataset}: decision regions (seed {first.seed})", out,
    )


def _predict(params: Params, x: torch.Tensor) -> torch.Tensor:
    from lthpipe.model import forward

    return forward({k: v.unsqueeze(0) for k, v in params.items()}, x)[0].argmax(-1)


def _slice_plane(x_train: torch.Tensor, w0: torch.Tensor, feature_names: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The origin (n_features,), two orthonormal axes (2, n_features) and their names."""
    n_features = x_train.shape[1]
    origin = x_train.mean(0)
    if n_features == 1:
        return origin, torch.tensor([[1.0], [0.0]]), [f"{feature_names[0]} (standardized)", "(no second feature)"]
    if n_features <= 3:
        # The features whose first-layer weights are largest; the rest held at their mean.
        used = sorted(torch.argsort(w0.norm(dim=0), descending=True)[:2].tolist())
        axes = torch.eye(n_features)[used]
        names = [f"{feature_names[i]} (standardized)" for i in used]
        return origin, axes, names
    _, _, v = torch.linalg.svd(x_train - origin, full_matrices=False)
    return origin, v[:2], ["principal component 1", "principal component 2"]
