"""Opt-in analyses of trained networks: which inputs pruning keeps (planted
features), instability to the data order (linear mode connectivity) and mask
overlap with hidden units matched across seeds."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from lthpipe import checkpoint
from lthpipe.artifacts import read_json, write_json
from lthpipe.checkpoint import NetworkId
from lthpipe.datasets import Splits, load_dataset
from lthpipe.model import Params, derive_seed, member, stack
from lthpipe.prune import (
    magnitude_mask,
    retained_fraction,
)
from lthpipe.settings import (
    SpawnSettings,
    TrainingRun,
    to_params,
)
from lthpipe.train import (
    RewindPoint,
    TrainResult,
    describe_compute,
    resolve_device,
    train_stack,
)

log = logging.getLogger(__name__)


def planted_inputs(record_path: Path, retrain_paths: list[Path], dataset: str, out: Path) -> None:
    """What every retrained network's mask did to the planted inputs (lthpipe.planted):
    per network, the shares of planted and real first-layer connections removed and
    the AUCs of "connection survives" as a detector of real inputs."""
    from lthpipe.planted import removal_shares

    planted = read_json(record_path)["planted"]
    rows = []
    for path in retrain_paths:
        found, record = checkpoint.load_stack(path, stage="retrain", dataset=dataset)
        first = found.sections["mask"]["w0"]  # (networks, hidden, inputs) bool
        kept = first.sum(1).tolist()  # (networks, inputs): connections each input keeps
        for network, about, counts in zip(found.networks, record["networks"], kept):
            rows.append({"fraction": record["fraction"], "method": network.method, "seed": network.seed,
                         "fold": network.fold, "retained": about["retained"],
                         **removal_shares(counts, first.shape[1], planted["columns"])})
    write_json(out, {"stage": "planted", "dataset": dataset, "planted": planted, "networks": rows,
                     "parents": [str(record_path), *map(str, retrain_paths)]})


def _weights_at(init: Params, split: Splits, run: TrainingRun, iteration: int) -> Params:
    """The weights a dense training run (its minibatch order, its optimizer) has after
    `iteration` steps from `init`: θ_k of every network of the stack."""
    if iteration == 0:
        return {k: v.clone() for k, v in init.items()}
    train = dataclasses.replace(run.train, iterations=iteration, eval_every=iteration, patience=None)
    return train_stack(init, split, train, run.order_seed, device=resolve_device(run.device)).final


def _spawn(start: Params, masks: Params, split: Splits, run: TrainingRun, iteration: int, copy: str,
           device: torch.device) -> TrainResult:
    """One copy of a stack trained from `start` at `iteration` to the end of the budget,
    on a minibatch order of its own (derived from the order seed and `copy`)."""
    order = torch.Generator().manual_seed(derive_seed(run.order_seed, f"instability copy {copy}"))
    return train_stack(start, split, run.train, run.order_seed, masks, device,
                       resume=RewindPoint(iteration, {}, order.get_state()))


def instability(data_path: Path, dense_path: Path, dataset: str, settings: SpawnSettings, out: Path) -> None:
    """Instability analysis at one rewind point k (lthpipe.instability; Frankle et al.
    2020): every dense network and its magnitude ticket at `settings.fraction` start
    from θ_k of the dense training and train twice, on two other minibatch orders, for
    the rest of the budget; the error barrier between the two copies' final weights on
    the test split, and each copy's test accuracy at its early-stopping point."""
    from lthpipe import instability as lmc

    data = load_dataset(data_path, dataset)
    dense, _ = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    run, device = settings.run, resolve_device(settings.run.device)
    weights = lmc.alphas(settings.points)
    about: list[dict] = []
    for fold, split in enumerate(data.folds):
        rows = [i for i, n in enumerate(dense.networks) if n.fold == fold]
        k = settings.rewind.iteration(run.train, split.n_train)
        theta_k = _weights_at({name: v[rows] for name, v in dense.sections["init"].items()}, split, run, k)
        tickets = [magnitude_mask(member(dense.sections["trained"], i), settings.fraction, settings.scope) for i in rows]
        full = [{name: torch.ones_like(m) for name, m in t.items()} for t in tickets]
        kinds = ["dense"] * len(rows) + ["ticket"] * len(rows)
        start, masks = {name: torch.cat([v, v]) for name, v in theta_k.items()}, stack(full + tickets)
        copies = [_spawn(start, masks, split, run, k, copy, device) for copy in ("a", "b")]
        for j, (kind, i) in enumerate(zip(kinds, rows + rows)):
            a, b = member(copies[0].final, j), member(copies[1].final, j)
            curve = lmc.error_curve(a, b, weights, split.x_test, split.y_test)
            about.append({
                "kind": kind, "seed": dense.networks[i].seed, "fold": fold, "iteration": k,
                "retained": retained_fraction(member(masks, j)), "barrier": lmc.barrier(curve),
                "error_curve": curve.tolist(), "test_acc": [c.test_acc[j].item() for c in copies],
                "final_test_acc": [c.final_test_acc[j].item() for c in copies],
            })
        log.info("fold %d, k = %d: barriers %s", fold, k, [round(r["barrier"], 4) for r in about if r["fold"] == fold])
    write_json(out, {
        "stage": "instability", "dataset": dataset, "at": settings.rewind.at, "unit": settings.rewind.unit,
        "fraction": settings.fraction, "alphas": weights.tolist(), "settings": to_params(settings),
        "compute": describe_compute(run.device), "parents": [str(data_path), str(dense_path)], "networks": about,
    })


def align_overlap(dense_path: Path, prune_paths: list[Path], dataset: str, out_json: Path, out_png: Path) -> None:
    """Seed-vs-seed overlap of the magnitude masks of every fraction, with the hidden
    units of each pair of seeds matched by their trained weights first (lthpipe.alignment)
    and without, against the exact chance level and against the same matching of the
    untrained networks (θ0); a table and a figure."""
    from lthpipe import alignment
    from lthpipe.plots.alignment import aligned_overlap_plot

    dense, _ = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    units = [(n.seed, n.fold) for n in dense.networks]
    trained = [member(dense.sections["trained"], i) for i in range(len(units))]
    masks, scopes = {}, set()
    for path in prune_paths:
        found, record = checkpoint.load_stack(path, stage="prune", dataset=dataset)
        masks[record["fraction"]] = [member(found.sections["mask"], found.index(NetworkId("magnitude", *u))) for u in units]
        scopes.add(record["scope"])
    untrained = [member(dense.sections["init"], i) for i in range(len(units))]
    overlap = alignment.aligned_overlap(units, trained, masks, untrained, scopes.pop())
    log.info("weight cosine between seeds: %s", overlap["weight_cosine"])
    result = {"stage": "aligned_overlap", "dataset": dataset, "hidden": list(dense.arch.hidden), **overlap,
              "parents": [str(dense_path), *map(str, prune_paths)]}
    write_json(out_json, result)
    aligned_overlap_plot(result, out_png)
