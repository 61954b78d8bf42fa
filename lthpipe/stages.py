"""The training stages, one function per Snakemake rule with explicit paths:
rule `x` runs `scripts/x.py`, which calls `stages.x` (the reporting rules call
`results.x`). These functions do the I/O; the science lives in data, model,
train and prune."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from lthpipe import checkpoint
from lthpipe.artifacts import write_json
from lthpipe.data import Splits, make_splits
from lthpipe.model import Architecture, Params, init_params, stack, unstack
from lthpipe.prune import (
    dense_small_network,
    dense_width,
    magnitude_mask,
    random_mask_like,
    retained_fraction,
)
from lthpipe.settings import DataSettings, TrainSettings
from lthpipe.train import History, accuracy, resolve_device, train_stack

log = logging.getLogger(__name__)

# MKL's conditional numerical reproducibility: one fixed code path (AVX2) instead of
# one chosen per CPU, which oneMKL documents as the same bits on every CPU that has
# AVX2 (checked here on one machine only), and fewer thread-count effects. It does
# not make every product independent of the thread count: measured on this AMD EPYC,
# some small products (e.g. of a 10-row last minibatch) still come out in other bits
# with another number of threads, so a job's bits depend on its thread count, which
# its record keeps (README, "Reproducibility"). MKL reads the variable at its first
# call, which no import makes; an explicit MKL_CBWR in the environment wins. Set
# here, in the hashed stage code, because it changes the bits of every result. Torch
# builds without MKL (ARM, macOS) and CUDA ignore it.
os.environ.setdefault("MKL_CBWR", "AVX2,STRICT")


def make_data(dataset: str, settings: DataSettings, out: Path) -> None:
    splits, meta = make_splits(dataset, settings)
    log.info("%s: %s", dataset, {k: v for k, v in meta.items() if k != "normalization"})
    checkpoint.save(out, splits.tensors(), {"stage": "data", "dataset": dataset, "settings": vars(settings), **meta})


def load_splits(path: Path, dataset: str) -> tuple[Splits, Architecture]:
    tensors, record = checkpoint.load(path, stage="data", dataset=dataset)
    splits = Splits(**tensors)
    return splits, Architecture(record["n_features"], (), record["n_classes"])


def _with_width(base: Architecture, width: int) -> Architecture:
    return Architecture(base.n_in, (width,), base.n_out)


def _compute(device: str) -> dict:
    """What a training job ran on; its bits depend on the device and the thread count."""
    return {"device": str(resolve_device(device)), "threads": torch.get_num_threads(), "torch": torch.__version__}


def _train_dense_stack(
    data_path: Path, dataset: str, width: int, seeds: list[int], settings: TrainSettings, order_seed: int, device: str
) -> tuple[Architecture, Params, Params, History]:
    splits, base = load_splits(data_path, dataset)
    arch = _with_width(base, width)
    init = stack([init_params(arch, seed, "init") for seed in seeds])
    trained, history = train_stack(init, splits, settings, order_seed, device=resolve_device(device))
    return arch, init, trained, history


def train_width(
    data_path: Path, dataset: str, width: int, seeds: list[int], settings: TrainSettings,
    order_seed: int, device: str, out: Path,
) -> None:
    """Train one width of the search, all seeds as one stack; metrics only. The
    networks are the ones train_dense trains, so the chosen width's numbers agree."""
    arch, _, _, history = _train_dense_stack(data_path, dataset, width, seeds, settings, order_seed, device)
    metrics = history.summary()
    log.info("width %d: val acc %s", width, metrics["val_acc"])
    write_json(out, {
        "stage": "width", "dataset": dataset, "width": width, "seeds": list(seeds), "n_weights": arch.n_weights,
        "train": vars(settings), "compute": _compute(device), "parents": [str(data_path)], "metrics": metrics,
    })


def train_dense(
    data_path: Path, dataset: str, width: int, seeds: list[int], settings: TrainSettings,
    order_seed: int, device: str, out: Path,
) -> None:
    """Train the selected width once per seed (one stack); keep θ0 and the trained weights."""
    arch, init, trained, history = _train_dense_stack(data_path, dataset, width, seeds, settings, order_seed, device)
    tensors = {**{f"init.{k}": v for k, v in init.items()}, **{f"trained.{k}": v for k, v in trained.items()}}
    checkpoint.save(out, tensors, {
        "stage": "dense", "dataset": dataset, "width": width, "seeds": list(seeds),
        "architecture": list(arch.sizes), "n_weights": arch.n_weights, "train": vars(settings),
        "compute": _compute(device), "parents": [str(data_path)], "metrics": history.summary(),
    })


def _split_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def prune(data_path: Path, dense_path: Path, dataset: str, fraction: float, scope: str, out: Path) -> None:
    """Magnitude masks of each seed's trained weights, and the pruned accuracy without retraining."""
    splits, _ = load_splits(data_path, dataset)
    tensors, dense = checkpoint.load(dense_path, stage="dense", dataset=dataset)
    trained = _split_prefix(tensors, "trained.")
    masks = [magnitude_mask(net, fraction, scope) for net in unstack(trained)]
    stacked_mask = stack(masks)
    pruned = {k: v * stacked_mask[k] if k in stacked_mask else v for k, v in trained.items()}
    checkpoint.save(out, {f"mask.{k}": m for k, m in stacked_mask.items()}, {
        "stage": "prune", "dataset": dataset, "fraction": fraction, "scope": scope, "width": dense["width"],
        "seeds": dense["seeds"], "parents": [str(data_path), str(dense_path)],
        "metrics": {
            "retained": [retained_fraction(m) for m in masks],
            "val_acc": accuracy(pruned, splits.x_val, splits.y_val).tolist(),
            "test_acc": accuracy(pruned, splits.x_test, splits.y_test).tolist(),
        },
    })


def lottery_networks(
    arch: Architecture, init: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], seed: int, method: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Starting weights and mask of one network of the retraining stage."""
    if method == "rewind":
        return init, masks
    if method == "reinit":
        return init_params(arch, seed, "reinit"), masks
    if method == "random_mask":
        return init, random_mask_like(masks, seed)
    if method == "dense_small":
        kept = sum(int(m.sum()) for m in masks.values())
        return dense_small_network(arch, dense_width(arch, kept), seed)
    raise ValueError(f"unknown method {method!r}")


def retrain(
    data_path: Path, dense_path: Path, masks_path: Path, dataset: str, methods: list[str],
    settings: TrainSettings, order_seed: int, device: str, out: Path,
) -> None:
    """Every method at one fraction, all seeds, trained as one stack with masks held fixed."""
    splits, base = load_splits(data_path, dataset)
    dense_tensors, dense = checkpoint.load(dense_path, stage="dense", dataset=dataset)
    mask_tensors, pruned = checkpoint.load(masks_path, stage="prune", dataset=dataset)
    arch = _with_width(base, dense["width"])
    inits = unstack(_split_prefix(dense_tensors, "init."))
    masks = unstack(_split_prefix(mask_tensors, "mask."))
    networks, starts, net_masks = [], [], []
    for method in methods:
        for seed, init, mask in zip(dense["seeds"], inits, masks):
            start, net_mask = lottery_networks(arch, init, mask, seed, method)
            networks.append({"method": method, "seed": seed, "retained": retained_fraction(net_mask)})
            starts.append(start)
            net_masks.append(net_mask)
    stacked_mask = stack(net_masks)
    trained, history = train_stack(stack(starts), splits, settings, order_seed, stacked_mask, resolve_device(device))
    tensors = {**{f"trained.{k}": v for k, v in trained.items()}, **{f"mask.{k}": m for k, m in stacked_mask.items()}}
    checkpoint.save(out, tensors, {
        "stage": "retrain", "dataset": dataset, "fraction": pruned["fraction"], "width": dense["width"],
        "seeds": dense["seeds"], "methods": list(methods), "networks": networks, "train": vars(settings),
        "compute": _compute(device), "parents": [str(data_path), str(dense_path), str(masks_path)],
        "metrics": history.summary(),
    })

