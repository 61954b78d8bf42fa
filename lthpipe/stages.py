"""The training stages, one function per Snakemake rule with explicit paths:
rule `x` runs `scripts/x.py`, which passes its inputs and settings object to
`jobs.run_stage`, which runs `stages.x` (in the warm worker when there is one;
the reporting rules run `results.x` through `jobs.run_report`). These functions
do the I/O; the science lives in datasets, model, train, prune, saliency and
lottery."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lthpipe import checkpoint, compact, numerics, stability
from lthpipe.artifacts import read_json, write_json
from lthpipe.checkpoint import NetworkId, Stack
from lthpipe.datasets import Dataset, DataSettings, Splits, load_dataset, make_dataset, save_dataset
from lthpipe.errors import Refused
from lthpipe.lottery import METHODS
from lthpipe.model import Architecture, Params, derive_seed, init_params, stack, unstack
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
    DenseSettings,
    IMP_TICKET,
    InferenceSettings,
    LevelSettings,
    PruneSettings,
    RetrainSettings,
    SparseTrainingSettings,
    SpawnSettings,
    TrainingRun,
    WidthSettings,
    to_params,
)
from lthpipe.structured import neuron_mask
from lthpipe.train import RewindPoint, TrainResult, accuracy, resolve_device, train_stack

log = logging.getLogger(__name__)

def make_data(dataset: str, settings: DataSettings, out: Path) -> None:
    """Load, check, split and standardize one dataset; refuses bad data before writing."""
    data = make_dataset(dataset, settings.source, settings.split)
    log.info("%s: %s", dataset, {k: v for k, v in data.record.items() if k not in ("normalization", "feature_names")})
    save_dataset(out, data, {"stage": "data", "dataset": dataset, "settings": settings.to_params()})


def check_data(dataset: str, settings: DataSettings, out: Path) -> None:
    """A suite member's data, built as make_data builds it but not kept: the verdict,
    accepted or refused with the message, so that a refused member is reported in its
    suite's summary while the other members run (lthpipe.suites)."""
    try:
        data = make_dataset(dataset, settings.source, settings.split)
    except Refused as err:
        log.warning("refused: %s", err)
        verdict = {"accepted": False, "message": str(err)}
    else:
        verdict = {"accepted": True, "message": None, "n_features": data.record["n_features"],
                   "n_classes": data.record["n_classes"]}
    write_json(out, {"stage": "check", "dataset": dataset, **verdict, "settings": settings.to_params()})


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


def network_seed(seed: int, fold: int) -> int:
    """The seed a network of split `fold` draws from: the config seed itself on the
    first split (so one split gives what it always gave), a derived one on the
    others, so that every (split, seed) pair is an independent draw."""
    return seed if fold == 0 else derive_seed(seed, f"fold{fold}")


def _compute(device: str) -> dict:
    """What a training job ran on; its bits depend on the device and the thread count,
    and on a GPU on which GPU and which CUDA and cuDNN builds ran it."""
    resolved = resolve_device(device)
    compute = {"device": str(resolved), "threads": torch.get_num_threads(), "torch": torch.__version__,
               **numerics.describe()}
    if resolved.type == "cuda":
        # Called in the job's own process (a child of the warm worker), never before the fork.
        compute.update({
            "gpu": torch.cuda.get_device_name(resolved), "capability": list(torch.cuda.get_device_capability(resolved)),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        })
    return compute


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
        "compute": _compute(settings.run.device), "parents": [str(data_path)], "metrics": result.metrics,
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
        "compute": _compute(settings.run.device), "parents": [str(data_path)], "metrics": result.metrics,
    })


def _position(networks: list[NetworkId], network: NetworkId) -> int:
    """A network's position within its own fold's stack."""
    return [n for n in networks if n.fold == network.fold].index(network)


def _sub(params: Params, i: int) -> Params:
    return {k: v[i] for k, v in params.items()}


def prune(data_path: Path, dense_path: Path, dataset: str, settings: PruneSettings, out: Path) -> None:
    """The masks of one retained fraction: magnitude pruning of each trained network,
    and the masks the at-initialisation methods find from θ0; the pruned networks'
    accuracy without retraining, and how the masks overlap across seeds."""
    data = load_dataset(data_path, dataset)
    dense, record = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    trained, init = dense.sections["trained"], dense.sections["init"]
    magnitude = [magnitude_mask(_sub(trained, i), settings.fraction, settings.scope) for i in range(len(dense.networks))]
    networks = [NetworkId("magnitude", n.seed, n.fold) for n in dense.networks]
    masks = list(magnitude)
    for source in settings.at_init:
        for i, n in enumerate(dense.networks):
            batches = _scoring_batches(data, n, settings)
            masks.append(at_init_mask(source, _sub(init, i), batches, settings.fraction, settings.scope,
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
                start = LotteryStart(dense.arch, network_seed(n.seed, n.fold), scheme, _sub(dense.sections["init"], i),
                                     _sub(rewind, i), masks_of(i, n), _sub(dense.sections["trained"], i), distribution)
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
        for n, mask in ((n, _sub(masks, i)) for i, n in enumerate(networks))
    ]
    for i, n in enumerate(networks):
        if start is not None and METHODS[n.method].regrowth:
            final, first = _sub(masks, i), _sub(start, i)
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
        return {m.method: _sub(masks, j) for j, m in enumerate(found.networks) if (m.seed, m.fold) == (n.seed, n.fold)}

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
        "settings": to_params(settings), "rewind": dense_record["rewind"], "compute": _compute(settings.run.device),
        "parents": [str(data_path), str(dense_path), str(masks_path)], "metrics": result.metrics,
    }, _describe(networks, final_masks, None if result.masks is None else net_masks))


def _level_masks(dense: Stack, previous_path: Path, dataset: str, settings: LevelSettings) -> list[Mask]:
    """Each dense network's mask at this level (in the dense stack's order): `rate`
    of what the previous level's ticket kept, pruned by its trained weights' magnitudes."""
    if settings.level == 1:
        before = dense.sections["trained"]
        previous_masks = [{k: torch.ones_like(v, dtype=torch.bool) for k, v in _sub(before, i).items() if k.startswith("w")}
                          for i in range(len(dense.networks))]
        previous_trained = unstack(before)
    else:
        prev, _ = checkpoint.load_stack(previous_path, stage="imp", dataset=dataset)
        order = _ticket_order(prev, dense)
        previous_masks = [_sub(prev.sections["mask"], i) for i in order]
        previous_trained = [_sub(prev.sections["trained"], i) for i in order]
    return [level_mask(t, m, settings.rate, settings.output_rate, settings.scope)
            for t, m in zip(previous_trained, previous_masks)]


def _ticket_order(tickets: Stack, dense: Stack) -> list[int]:
    """The position in `tickets` of each dense network's ticket."""
    ticket = {(n.seed, n.fold): i for i, n in enumerate(tickets.networks) if n.method == IMP_TICKET}
    return [ticket[(n.seed, n.fold)] for n in dense.networks]


def _train_level(
    data: Dataset, dense: Stack, dense_record: dict, level_masks: list[Mask], settings: LevelSettings,
) -> tuple[list[NetworkId], Params, Trained]:
    """The networks of `settings.methods` at one level, from its masks: the ticket
    (the level's mask, rewound), and the controls at the same sparsity."""
    dense_trained = unstack(dense.sections["trained"])

    def masks_of(i: int, n: NetworkId) -> dict[str, Mask]:
        magnitude = {k: v.abs() for k, v in dense_trained[i].items() if k.startswith("w")}
        return {"magnitude": level_masks[i], "oneshot": same_budget_mask(magnitude, level_masks[i], settings.scope)}

    networks, starts, net_masks = _lottery_stack(dense, settings.methods, settings.run.init, masks_of, settings.level)
    result = _train(networks, starts, data, settings.run, net_masks, resume=_resume_points(dense, dense_record))
    return networks, net_masks, result


def _save_level(
    out: Path, stage: str, dataset: str, dense: Stack, dense_record: dict, level_masks: list[Mask],
    settings: LevelSettings, networks: list[NetworkId], net_masks: Params, result: Trained, parents: list[Path],
) -> None:
    checkpoint.save_stack(out, Stack(dense.arch, networks, {"trained": result.trained, "mask": net_masks}), {
        "stage": stage, "dataset": dataset, "level": settings.level, "width": dense_record["width"],
        "hidden": dense_record["hidden"], "seeds": dense_record["seeds"], "methods": list(settings.methods),
        "retained": [retained_fraction(m) for m in level_masks], "settings": to_params(settings),
        "rewind": dense_record["rewind"], "compute": _compute(settings.run.device),
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
    if not settings.methods or IMP_TICKET in settings.methods:
        raise ValueError(f"level {settings.level}: the controls' job trains controls only, not {settings.methods}")
    data = load_dataset(data_path, dataset)
    dense, dense_record = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    tickets, ticket_record = checkpoint.load_stack(ticket_path, stage="imp", dataset=dataset)
    if ticket_record["level"] != settings.level:
        raise ValueError(f"{ticket_path} is level {ticket_record['level']}, not {settings.level}")
    level_masks = [_sub(tickets.sections["mask"], i) for i in _ticket_order(tickets, dense)]
    networks, net_masks, result = _train_level(data, dense, dense_record, level_masks, settings)
    _save_level(out, "imp_controls", dataset, dense, dense_record, level_masks, settings, networks, net_masks, result,
                [data_path, dense_path, ticket_path])


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
    from lthpipe import plots

    data = load_dataset(data_path, dataset)
    split = data.folds[0]
    dense, _ = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    found, pruned_record = checkpoint.load_stack(masks_path, stage="prune", dataset=dataset)
    tickets, _ = checkpoint.load_stack(retrain_path, stage="retrain", dataset=dataset)
    first = dense.networks[0]
    trained = _sub(dense.sections["trained"], 0)
    mask = _sub(found.sections["mask"], found.index(NetworkId("magnitude", first.seed, first.fold)))
    ticket = _sub(tickets.sections["trained"], tickets.index(NetworkId("rewind", first.seed, first.fold)))
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
    plots.decision_regions_plot(
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


def retrained_network(path: Path, dataset: str, method: str, seed: int) -> tuple[Params, Mask, dict]:
    """One network of a retrain stack (first data split): its trained weights, mask and record."""
    tickets, record = checkpoint.load_stack(path, stage="retrain", dataset=dataset)
    try:
        i = tickets.index(NetworkId(method, seed, 0))
    except ValueError:
        have = ", ".join(sorted({f"{n.method}/seed {n.seed}" for n in tickets.networks if n.fold == 0}))
        raise ValueError(f"{path} holds no {method} network of seed {seed} (it holds {have})") from None
    mask = {k: m[i] for k, m in tickets.sections["mask"].items()}
    return _sub(tickets.sections["trained"], i), mask, record


def export_network(data_path: Path, retrain_path: Path, dataset: str, method: str, seed: int, out: Path) -> None:
    """Export one retrained network in every form (lthpipe.export) into the folder
    `out`, each checked on the whole test set to predict what the masked network predicts."""
    from lthpipe import export

    split = load_dataset(data_path, dataset).folds[0]
    params, mask, record = retrained_network(retrain_path, dataset, method, seed)
    provenance = {"dataset": dataset, "fraction": record["fraction"], "method": method, "seed": seed, "fold": 0,
                  "source": str(retrain_path)}
    paths = export.export(params, mask, Path(out), split.x_test, provenance)
    log.info("exported %s", {form: str(path) for form, path in paths.items()})


def benchmark_inference(
    data_path: Path, dense_path: Path, retrain_paths: list[Path], dataset: str, settings: InferenceSettings,
    out_json: Path, out_png: Path,
) -> None:
    """Size, multiply-adds, latency and throughput of one network per fraction in every
    form, at each pinned thread count (lthpipe.inference), for `settings.method` and each
    method of `settings.also` (neuron pruning's smaller dense networks beside the
    unstructured ticket at the same weight count); a table and a figure."""
    import math
    import tempfile

    from lthpipe import inference, plots

    split = load_dataset(data_path, dataset).folds[0]
    # Throughput needs `batch` rows: small test sets are repeated (predictions are checked on them too).
    x = split.x_test.repeat(math.ceil(settings.batch / split.x_test.shape[0]), 1)
    dense, _ = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    unpruned = _sub(dense.sections["trained"], dense.index(NetworkId("dense", settings.seed, 0)))
    rows = []
    for path in retrain_paths:
        for method in (settings.method, *settings.also):
            params, mask, record = retrained_network(path, dataset, method, settings.seed)
            for threads in settings.threads:
                timing = inference.BenchmarkSettings(threads=threads, batch=settings.batch, repeats=settings.repeats)
                with tempfile.TemporaryDirectory(dir=Path(out_json).parent) as folder:
                    provenance = {"dataset": dataset, "fraction": record["fraction"], "method": method,
                                  "seed": settings.seed}
                    widths = compact.effective_widths(mask)
                    for row in inference.benchmark(unpruned, params, mask, x, Path(folder), timing, provenance):
                        rows.append({"fraction": record["fraction"], "method": method, "effective_hidden": widths,
                                     **row})
                log.info("fraction %s, %s, %d thread(s): %s", record["fraction"], method, threads,
                         {r["form"]: round(r["latency_us"], 1) for r in rows[-len(inference.FORMS):]})
    write_json(out_json, {"stage": "inference", "dataset": dataset, "settings": to_params(settings),
                          "compute": _compute("cpu"), "rows": rows})
    plots.inference_plot(rows, out_png)


def _weights_at(init: Params, split: Splits, run: TrainingRun, iteration: int) -> Params:
    """The weights a dense training run (its minibatch order, its optimizer) has after
    `iteration` steps from `init`: θ_k of every network of the stack."""
    if iteration == 0:
        return {k: v.clone() for k, v in init.items()}
    train = dataclasses.replace(run.train, iterations=iteration, eval_every=iteration, patience=None)
    return train_stack(init, split, train, run.order_seed, device=resolve_device(run.device)).final


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
        tickets = [magnitude_mask(_sub(dense.sections["trained"], i), settings.fraction, settings.scope) for i in rows]
        everything = [{name: torch.ones_like(m) for name, m in t.items()} for t in tickets]
        kinds = ["dense"] * len(rows) + ["ticket"] * len(rows)
        start, masks = {name: torch.cat([v, v]) for name, v in theta_k.items()}, stack(everything + tickets)
        copies = []
        for copy in ("a", "b"):
            order = torch.Generator().manual_seed(derive_seed(run.order_seed, f"instability copy {copy}"))
            copies.append(train_stack(start, split, run.train, run.order_seed, masks, device,
                                      resume=RewindPoint(k, {}, order.get_state())))
        for j, (kind, i) in enumerate(zip(kinds, rows + rows)):
            a, b = _sub(copies[0].final, j), _sub(copies[1].final, j)
            curve = lmc.error_curve(a, b, weights, split.x_test, split.y_test)
            about.append({
                "kind": kind, "seed": dense.networks[i].seed, "fold": fold, "iteration": k,
                "retained": retained_fraction(_sub(masks, j)), "barrier": lmc.barrier(curve),
                "error_curve": curve.tolist(), "test_acc": [c.test_acc[j].item() for c in copies],
                "final_test_acc": [c.final_test_acc[j].item() for c in copies],
            })
        log.info("fold %d, k = %d: barriers %s", fold, k, [round(r["barrier"], 4) for r in about if r["fold"] == fold])
    write_json(out, {
        "stage": "instability", "dataset": dataset, "at": settings.rewind.at, "unit": settings.rewind.unit,
        "fraction": settings.fraction, "alphas": weights.tolist(), "settings": to_params(settings),
        "compute": _compute(run.device), "parents": [str(data_path), str(dense_path)], "networks": about,
    })


def align_overlap(dense_path: Path, prune_paths: list[Path], dataset: str, out_json: Path, out_png: Path) -> None:
    """Seed-vs-seed overlap of the magnitude masks of every fraction, with the hidden
    units of each pair of seeds matched by their trained weights first (lthpipe.alignment)
    and without, against the exact chance level and against the same matching of the
    untrained networks (θ0); a table and a figure."""
    from lthpipe import alignment, plots

    dense, _ = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    units = [(n.seed, n.fold) for n in dense.networks]
    trained = [_sub(dense.sections["trained"], i) for i in range(len(units))]
    masks, scopes = {}, set()
    for path in prune_paths:
        found, record = checkpoint.load_stack(path, stage="prune", dataset=dataset)
        masks[record["fraction"]] = [_sub(found.sections["mask"], found.index(NetworkId("magnitude", *u))) for u in units]
        scopes.add(record["scope"])
    untrained = [_sub(dense.sections["init"], i) for i in range(len(units))]
    overlap = alignment.aligned_overlap(units, trained, masks, untrained, scopes.pop())
    log.info("weight cosine between seeds: %s", overlap["weight_cosine"])
    result = {"stage": "aligned_overlap", "dataset": dataset, "hidden": list(dense.arch.hidden), **overlap,
              "parents": [str(dense_path), *map(str, prune_paths)]}
    write_json(out_json, result)
    plots.aligned_overlap_plot(result, out_png)
