"""The training stages, one function per Snakemake rule: the width search, the
dense networks, pruning, retraining of every lottery method and iterative pruning.
These functions do the I/O; the science lives in datasets, model, train, prune,
saliency, structured, regrowth and lottery."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lthpipe import checkpoint, compact, stability
from lthpipe.artifacts import write_json
from lthpipe.checkpoint import NetworkId, Stack
from lthpipe.datasets import Dataset, load_dataset
from lthpipe.lottery import METHODS, chained
from lthpipe.model import (
    Architecture,
    Params,
    derive_seed,
    init_params,
    member,
    stack,
    unstack,
)
from lthpipe.prune import (
    Mask,
    dense_hidden,
    dense_small_network,
    level_mask,
    magnitude_mask,
    random_mask_like,
    retained_fraction,
    same_budget_mask,
)
from lthpipe.regrowth import Regrowth, start_mask
from lthpipe.saliency import at_init_mask
from lthpipe.settings import (
    IMP_TICKET,
    DenseSettings,
    LevelSettings,
    PruneSettings,
    RetrainSettings,
    SparseTrainingSettings,
    TrainingRun,
    WidthSettings,
    to_params,
)
from lthpipe.structured import iterative_unit_mask, neuron_mask
from lthpipe.train import (
    RewindPoint,
    TrainResult,
    accuracy,
    describe_compute,
    resolve_device,
    train_stack,
)

log = logging.getLogger(__name__)


def network_seed(seed: int, fold: int) -> int:
    """The seed a network of split `fold` draws from: the config seed itself on the
    first split (so one split gives what it always gave), a derived one on the
    others, so that every (split, seed) pair is an independent draw."""
    return seed if fold == 0 else derive_seed(seed, f"fold{fold}")


@dataclass
class Trained:
    """Networks trained fold by fold, reassembled in the order they were given."""

    trained: Params
    metrics: dict[str, list]
    rewind: dict[int, RewindPoint]
    masks: Params | None = None  # each network's mask at its early-stopping point, when masks changed (SET, RigL)


def _regrowth(networks: list[NetworkId], sparse: SparseTrainingSettings | None, total: int) -> Regrowth | None:
    """The mask update of one stack's SET and RigL networks, or None when it has none."""
    if sparse is None:
        return None
    rules = [METHODS[n.method].regrowth for n in networks]
    if not any(rules):
        return None
    return Regrowth(rules, [network_seed(n.seed, n.fold) for n in networks], sparse, total)


def _train(
    networks: list[NetworkId], start: Params, data: Dataset, run: TrainingRun, masks: Mask | None = None,
    resume: dict[int, RewindPoint] | None = None, rewind_at: dict[int, int] | None = None,
    sparse: SparseTrainingSettings | None = None,
) -> Trained:
    """Train each fold's networks as one stack on that fold's split (networks of one
    job share the minibatch order); per-network metrics come back in the given order.
    With `sparse`, the masks of SET and RigL networks change as lthpipe.regrowth says."""
    device = resolve_device(run.device)
    results: dict[int, tuple[list[int], TrainResult]] = {}
    for fold in sorted({n.fold for n in networks}):
        keep = [i for i, n in enumerate(networks) if n.fold == fold]
        idx = torch.tensor(keep)
        split = data.folds[fold]
        results[fold] = keep, train_stack(
            {k: v.index_select(0, idx) for k, v in start.items()}, split, run.train, run.order_seed,
            None if masks is None else {k: m.index_select(0, idx) for k, m in masks.items()}, device,
            resume=(resume or {}).get(fold), rewind_at=(rewind_at or {}).get(fold),
            mask_update=_regrowth([networks[i] for i in keep], sparse, run.train.total_iterations(split.n_train)),
        )
    trained = {k: torch.empty_like(v) for k, v in start.items()}
    final_masks = None
    if any(r.best_mask is not None for _, r in results.values()):
        final_masks = {k: m.clone() for k, m in masks.items()}
    metrics: dict[str, list] = {}
    for keep, result in results.values():
        for k, v in result.best.items():
            trained[k][keep] = v
        for k, m in (result.best_mask or {}).items():
            final_masks[k][keep] = m
        for key, values in result.metrics().items():
            metrics.setdefault(key, [None] * len(networks))
            for i, value in zip(keep, values):
                metrics[key][i] = value
    rewind = {fold: r.rewind for fold, (_, r) in results.items() if r.rewind is not None}
    return Trained(trained, metrics, rewind, final_masks)


def _dense_networks(seeds: tuple[int, ...], data: Dataset) -> list[NetworkId]:
    return [NetworkId("dense", seed, fold) for fold in range(len(data.folds)) for seed in seeds]


def _inits(arch: Architecture, networks: list[NetworkId], scheme: str) -> Params:
    return stack([init_params(arch, network_seed(n.seed, n.fold), "init", scheme) for n in networks])


def train_width(data_path: Path, dataset: str, width: int, settings: WidthSettings, out: Path) -> None:
    """Train one width of the search, every seed (and split) as one stack; metrics
    only. The networks are the ones train_dense trains, so the chosen width's
    numbers agree."""
    data = load_dataset(data_path, dataset)
    arch = data.architecture((width,))
    networks = _dense_networks(settings.seeds, data)
    result = _train(networks, _inits(arch, networks, settings.run.init), data, settings.run)
    log.info("width %d: val acc %s", width, result.metrics["val_acc"])
    write_json(out, {
        "stage": "width", "dataset": dataset, "width": width, "seeds": list(settings.seeds),
        "networks": [vars(n) for n in networks], "n_weights": arch.n_weights, "settings": to_params(settings),
        "compute": describe_compute(settings.run.device), "parents": [str(data_path)], "metrics": result.metrics,
    })


def train_dense(data_path: Path, dataset: str, settings: DenseSettings, out: Path) -> None:
    """Train the chosen architecture once per seed and split (one stack per split);
    keep θ0, the rewind point's weights (late rewinding) and the trained weights."""
    data = load_dataset(data_path, dataset)
    arch = data.architecture(settings.hidden)
    networks = _dense_networks(settings.seeds, data)
    init = _inits(arch, networks, settings.run.init)
    rewind_at = {f: settings.rewind.iteration(settings.run.train, split.n_train) for f, split in enumerate(data.folds)}
    late = any(rewind_at.values())
    result = _train(networks, init, data, settings.run, rewind_at=rewind_at if late else None)
    sections = {"init": init, "trained": result.trained}
    order_state = None
    if late:
        sections["rewind"] = {k: torch.cat([result.rewind[n.fold].params[k][[_position(networks, n)]]
                                            for n in networks]) for k in init}
        order_state = torch.stack([result.rewind[f].order_state for f in range(len(data.folds))])
    checkpoint.save_stack(out, Stack(arch, networks, sections, order_state), {
        "stage": "dense", "dataset": dataset, "seeds": list(settings.seeds), "width": arch.hidden[0],
        "hidden": list(arch.hidden), "n_weights": arch.n_weights, "settings": to_params(settings),
        "rewind": {"iteration": rewind_at, "requested": to_params(settings.rewind)},
        "compute": describe_compute(settings.run.device), "parents": [str(data_path)], "metrics": result.metrics,
    })


def _position(networks: list[NetworkId], network: NetworkId) -> int:
    """A network's position within its own fold's stack."""
    return [n for n in networks if n.fold == network.fold].index(network)


def prune(data_path: Path, dense_path: Path, dataset: str, settings: PruneSettings, out: Path) -> None:
    """The masks of one retained fraction: magnitude pruning of each trained network,
    and the masks the at-initialisation methods find from θ0; the pruned networks'
    accuracy without retraining, and how the masks overlap across seeds."""
    data = load_dataset(data_path, dataset)
    dense, record = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    trained, init = dense.sections["trained"], dense.sections["init"]
    magnitude = [magnitude_mask(member(trained, i), settings.fraction, settings.scope) for i in range(len(dense.networks))]
    networks = [NetworkId("magnitude", n.seed, n.fold) for n in dense.networks]
    masks = list(magnitude)
    for source in settings.at_init:
        for i, n in enumerate(dense.networks):
            batches = _scoring_batches(data, n, settings)
            masks.append(at_init_mask(source, member(init, i), batches, settings.fraction, settings.scope,
                                      settings.at_init_settings.synflow_iterations))
            networks.append(NetworkId(source, n.seed, n.fold))
    stacked = stack(magnitude)
    pruned = {k: v * stacked[k] if k in stacked else v for k, v in trained.items()}
    val_acc, test_acc = [], []
    for i, n in enumerate(dense.networks):
        one = {k: v[i : i + 1] for k, v in pruned.items()}
        split = data.folds[n.fold]
        val_acc.append(accuracy(one, split.x_val, split.y_val).item())
        test_acc.append(accuracy(one, split.x_test, split.y_test).item())
    checkpoint.save_stack(out, Stack(dense.arch, networks, {"mask": stack(masks)}), {
        "stage": "prune", "dataset": dataset, "fraction": settings.fraction, "scope": settings.scope,
        "width": record["width"], "hidden": record["hidden"], "seeds": record["seeds"], "settings": to_params(settings),
        "parents": [str(data_path), str(dense_path)],
        "metrics": {
            "networks": [vars(n) for n in dense.networks],
            "retained": [retained_fraction(m) for m in magnitude],
            "val_acc": val_acc,
            "test_acc": test_acc,
            "effective_hidden": [compact.effective_widths(m) for m in magnitude],
        },
        "masks": stability.describe_masks(
            [(n.seed, n.fold) for n in dense.networks], magnitude,
            {source: masks[(k + 1) * len(magnitude) : (k + 2) * len(magnitude)] for k, source in enumerate(settings.at_init)},
        ),
    })


def _scoring_batches(data: Dataset, network: NetworkId, settings: PruneSettings) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The minibatches SNIP and GraSP score θ0 on: the first few of a seeded order of
    the network's training split."""
    split = data.folds[network.fold]
    gen = torch.Generator().manual_seed(derive_seed(network_seed(network.seed, network.fold), "at_init_batches"))
    order = torch.randperm(split.n_train, generator=gen)
    size = settings.batch_size
    return [
        (split.x_train[idx], split.y_train[idx])
        for idx in (order[b * size : (b + 1) * size] for b in range(settings.at_init_settings.batches))
        if idx.numel()
    ]


@dataclass
class LotteryStart:
    """What a lottery method (lthpipe.lottery) starts one network from."""

    arch: Architecture
    seed: int  # the network's own seed: network_seed(config seed, fold)
    scheme: str
    init: Params
    rewind: Params
    masks: dict[str, Mask]
    trained: Params | None = None  # the dense network's trained weights
    distribution: str = "uniform"  # SET's and RigL's start masks (lthpipe.regrowth)

    def mask(self, source: str) -> Mask:
        return self.masks[source]

    def fresh(self, purpose: str) -> Params:
        return init_params(self.arch, self.seed, purpose, self.scheme)

    def random_like(self, mask: Mask) -> Mask:
        return random_mask_like(mask, self.seed)

    def dense_small(self, mask: Mask) -> tuple[Params, Mask]:
        kept = sum(int(m.sum()) for m in mask.values())
        return dense_small_network(self.arch, dense_hidden(self.arch, kept), self.seed, self.scheme)

    def neurons(self, mask: Mask) -> Mask:
        if self.trained is None:
            raise ValueError("neuron pruning needs the dense network's trained weights")
        return neuron_mask(self.trained, self.arch, sum(int(m.sum()) for m in mask.values()))

    def sparse_start(self, mask: Mask) -> Mask:
        return start_mask(mask, self.seed, self.distribution)


def _lottery_stack(
    dense: Stack, methods: tuple[str, ...], scheme: str, masks_of: Callable[[int, NetworkId], dict[str, Mask]], level: int = 0,
    distribution: str = "uniform",
) -> tuple[list[NetworkId], Params, Params]:
    """Networks, starting weights and masks of every method for every dense network
    (split by split, method by method, seed by seed)."""
    rewind = dense.sections.get("rewind", dense.sections["init"])
    networks, starts, net_masks = [], [], []
    for fold in sorted({n.fold for n in dense.networks}):
        for method in methods:
            for i, n in enumerate(dense.networks):
                if n.fold != fold:
                    continue
                start = LotteryStart(dense.arch, network_seed(n.seed, n.fold), scheme, member(dense.sections["init"], i),
                                     member(rewind, i), masks_of(i, n), member(dense.sections["trained"], i), distribution)
                weights, mask = METHODS[method].start(start)
                networks.append(NetworkId(method, n.seed, n.fold, level))
                starts.append(weights)
                net_masks.append(mask)
    return networks, stack(starts), stack(net_masks)


def _resume_points(dense: Stack, record: dict) -> dict[int, RewindPoint] | None:
    """Late rewinding: each split's retraining starts where its dense training was."""
    if dense.order_state is None:
        return None
    iterations = {int(f): it for f, it in record["rewind"]["iteration"].items()}
    return {f: RewindPoint(iterations[f], {}, dense.order_state[f]) for f in iterations}


def _describe(networks: list[NetworkId], masks: Params, start: Params | None = None) -> list[dict]:
    """Each network of a stack with the fraction of weights its mask keeps and its
    hidden widths once units without inputs or outputs are removed (lthpipe.compact);
    with the `start` masks of networks whose masks changed (SET, RigL), the share of
    their kept weights that were not kept at the start."""
    about = [
        {**vars(n), "retained": retained_fraction(mask), "effective_hidden": compact.effective_widths(mask)}
        for n, mask in ((n, member(masks, i)) for i, n in enumerate(networks))
    ]
    for i, n in enumerate(networks):
        if start is not None and METHODS[n.method].regrowth:
            final, first = member(masks, i), member(start, i)
            about[i]["regrown"] = sum(int((final[k] & ~first[k]).sum()) for k in final) / sum(int(m.sum()) for m in final.values())
    return about


def retrain(
    data_path: Path, dense_path: Path, masks_path: Path, dataset: str, settings: RetrainSettings, out: Path,
) -> None:
    """Every lottery method at one fraction, every seed and split, trained with its mask fixed."""
    data = load_dataset(data_path, dataset)
    dense, dense_record = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    found, pruned = checkpoint.load_stack(masks_path, stage="prune", dataset=dataset)
    masks = found.sections["mask"]

    def masks_of(i: int, n: NetworkId) -> dict[str, Mask]:
        return {m.method: member(masks, j) for j, m in enumerate(found.networks) if (m.seed, m.fold) == (n.seed, n.fold)}

    distribution = settings.sparse.distribution if settings.sparse else "uniform"
    networks, starts, net_masks = _lottery_stack(dense, settings.methods, settings.run.init, masks_of,
                                                 distribution=distribution)
    result = _train(networks, starts, data, settings.run, net_masks, resume=_resume_points(dense, dense_record),
                    sparse=settings.sparse)
    # SET's and RigL's masks at their early-stopping points; the others' never change.
    final_masks = net_masks if result.masks is None else result.masks
    checkpoint.save_stack(out, Stack(dense.arch, networks, {"trained": result.trained, "mask": final_masks}), {
        "stage": "retrain", "dataset": dataset, "fraction": pruned["fraction"], "width": dense_record["width"],
        "hidden": dense_record["hidden"], "seeds": dense_record["seeds"], "methods": list(settings.methods),
        "settings": to_params(settings), "rewind": dense_record["rewind"], "compute": describe_compute(settings.run.device),
        "parents": [str(data_path), str(dense_path), str(masks_path)], "metrics": result.metrics,
    }, _describe(networks, final_masks, None if result.masks is None else net_masks))


def _previous_level(dense: Stack, previous: Stack | None, method: str) -> tuple[list[Params], list[Mask]]:
    """Each dense network's `method` network of the level before (`previous`), trained,
    and its mask (in the dense stack's order); before level 1 (None), the dense
    networks, nothing pruned."""
    if previous is None:
        before = dense.sections["trained"]
        masks = [{k: torch.ones_like(v, dtype=torch.bool) for k, v in member(before, i).items() if k.startswith("w")}
                 for i in range(len(dense.networks))]
        return unstack(before), masks
    order = _chain_order(previous, dense, method)
    return [member(previous.sections["trained"], i) for i in order], [member(previous.sections["mask"], i) for i in order]


def _level_masks(dense: Stack, previous_path: Path, dataset: str, settings: LevelSettings) -> dict[str, list[Mask]]:
    """Each dense network's masks at this level (in the dense stack's order), by source:
    "magnitude", `rate` of what the previous level's ticket kept, pruned by its trained
    weights' magnitudes; for iterative neuron pruning, "units": the units its own network
    of the level before kept, pruned to the magnitude mask's weight count."""
    previous = None if settings.level == 1 else checkpoint.load_stack(previous_path, stage="imp", dataset=dataset)[0]
    trained, kept = _previous_level(dense, previous, IMP_TICKET)
    masks = {"magnitude": [level_mask(t, m, settings.rate, settings.output_rate, settings.scope)
                           for t, m in zip(trained, kept)]}
    for method in (m for m in settings.methods if METHODS[m].mask_source == "units"):
        trained, kept = _previous_level(dense, previous, method)
        masks["units"] = [iterative_unit_mask(t, m, dense.arch, sum(int(k.sum()) for k in budget.values()))
                          for t, m, budget in zip(trained, kept, masks["magnitude"])]
    return masks


def _chain_order(level: Stack, dense: Stack, method: str) -> list[int]:
    """The position in `level` of each dense network's `method` network."""
    position = {(n.seed, n.fold): i for i, n in enumerate(level.networks) if n.method == method}
    return [position[(n.seed, n.fold)] for n in dense.networks]


def _train_level(
    data: Dataset, dense: Stack, dense_record: dict, level_masks: dict[str, list[Mask]], settings: LevelSettings,
) -> tuple[list[NetworkId], Params, Trained]:
    """The networks of `settings.methods` at one level, from its masks: the ticket
    (the level's mask, rewound), and the controls at the same sparsity."""
    dense_trained = unstack(dense.sections["trained"])

    def masks_of(i: int, n: NetworkId) -> dict[str, Mask]:
        magnitude = {k: v.abs() for k, v in dense_trained[i].items() if k.startswith("w")}
        ticket = level_masks["magnitude"][i]
        return {**{source: masks[i] for source, masks in level_masks.items()},
                "oneshot": same_budget_mask(magnitude, ticket, settings.scope)}

    networks, starts, net_masks = _lottery_stack(dense, settings.methods, settings.run.init, masks_of, settings.level)
    result = _train(networks, starts, data, settings.run, net_masks, resume=_resume_points(dense, dense_record))
    return networks, net_masks, result


def _save_level(
    out: Path, stage: str, dataset: str, dense: Stack, dense_record: dict, level_masks: dict[str, list[Mask]],
    settings: LevelSettings, networks: list[NetworkId], net_masks: Params, result: Trained, parents: list[Path],
) -> None:
    checkpoint.save_stack(out, Stack(dense.arch, networks, {"trained": result.trained, "mask": net_masks}), {
        "stage": stage, "dataset": dataset, "level": settings.level, "width": dense_record["width"],
        "hidden": dense_record["hidden"], "seeds": dense_record["seeds"], "methods": list(settings.methods),
        "retained": [retained_fraction(m) for m in level_masks["magnitude"]], "settings": to_params(settings),
        "rewind": dense_record["rewind"], "compute": describe_compute(settings.run.device),
        "parents": [str(p) for p in parents], "metrics": result.metrics,
    }, _describe(networks, net_masks))


def imp(data_path: Path, dense_path: Path, previous_path: Path, dataset: str, settings: LevelSettings, out: Path) -> None:
    """One level of iterative magnitude pruning: prune `rate` of what the previous
    level's ticket kept (its trained weights' magnitudes), rewind, retrain. The
    workflow trains the ticket alone here (the next level waits for it) and the
    controls in imp_controls; `settings.methods` may hold controls too, trained in
    the same stack with the same numbers (tests/test_imp.py)."""
    if IMP_TICKET not in settings.methods:
        raise ValueError(f"level {settings.level}: the chain continues from the {IMP_TICKET} ticket; "
                         f"methods {settings.methods} leave it out")
    data = load_dataset(data_path, dataset)
    dense, dense_record = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    level_masks = _level_masks(dense, previous_path, dataset, settings)
    networks, net_masks, result = _train_level(data, dense, dense_record, level_masks, settings)
    _save_level(out, "imp", dataset, dense, dense_record, level_masks, settings, networks, net_masks, result,
                [data_path, dense_path, previous_path])


def imp_controls(
    data_path: Path, dense_path: Path, ticket_path: Path, dataset: str, settings: LevelSettings, out: Path,
) -> None:
    """The controls of one level (re-initialised, random mask, one-shot mask, ...),
    with the masks the level's ticket (`ticket_path`, the imp stage's output) was
    trained with; nothing in the chain waits for them."""
    if not settings.methods or chained(settings.methods):
        raise ValueError(f"level {settings.level}: the controls' job trains controls only, not {settings.methods}")
    data = load_dataset(data_path, dataset)
    dense, dense_record = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    tickets, ticket_record = checkpoint.load_stack(ticket_path, stage="imp", dataset=dataset)
    if ticket_record["level"] != settings.level:
        raise ValueError(f"{ticket_path} is level {ticket_record['level']}, not {settings.level}")
    level_masks = {"magnitude": [member(tickets.sections["mask"], i) for i in _chain_order(tickets, dense, IMP_TICKET)]}
    networks, net_masks, result = _train_level(data, dense, dense_record, level_masks, settings)
    _save_level(out, "imp_controls", dataset, dense, dense_record, level_masks, settings, networks, net_masks, result,
                [data_path, dense_path, ticket_path])
