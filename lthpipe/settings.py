"""Typed, frozen settings: what shapes each stage's output, built once from the
config (lthpipe.config) and handed to each rule as one object. Free of torch so
that parsing the workflow stays fast.

A rule carries its settings as a plain dict param (``to_params``), so Snakemake's
params trigger reruns exactly the jobs a change shapes; its script turns the dict
back into the dataclass (``from_params``) and calls one library function.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lthpipe.lottery import chained

T = TypeVar("T")

SCOPES = ("layerwise", "global")
INITS = ("uniform", "glorot_normal")


@dataclass(frozen=True)
class TrainSettings:
    """How one network trains. The budget is `iterations` minibatch steps when set,
    else `epochs` passes over the training split; evaluation (validation loss and
    accuracy) happens every `eval_every` iterations, or at every epoch's end when
    it is None, and at the last iteration. With `patience`, a network stops once
    that many evaluations in a row have not improved its early-stopping score, and
    the budget is a maximum."""

    epochs: int = 10
    lr: float = 0.001
    batch_size: int = 64
    optimizer: str = "adam"
    iterations: int | None = None
    eval_every: int | None = None
    early_stopping: str = "val_acc"
    patience: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"invalid training settings: {self}")
        if any(v is not None and v < 1 for v in (self.iterations, self.eval_every, self.patience)):
            raise ValueError(f"invalid training settings: {self}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}")
        if self.early_stopping not in ("val_acc", "val_loss"):
            raise ValueError(f"unknown early-stopping criterion {self.early_stopping!r}")

    def steps_per_epoch(self, n_train: int) -> int:
        return math.ceil(n_train / self.batch_size)

    def total_iterations(self, n_train: int) -> int:
        return self.iterations if self.iterations is not None else self.epochs * self.steps_per_epoch(n_train)

    def eval_points(self, n_train: int) -> list[int]:
        """Iterations after which the networks are evaluated, ending with the last."""
        total = self.total_iterations(n_train)
        every = self.eval_every or self.steps_per_epoch(n_train)
        points = list(range(every, total + 1, every))
        return points if points and points[-1] == total else [*points, total]


@dataclass(frozen=True)
class RewindSettings:
    """Where retraining restarts from: iteration 0 (θ0, the lottery-ticket rewind) or
    a later point of dense training ("late rewinding"), in iterations or epochs."""

    at: int = 0
    unit: str = "iteration"

    def iteration(self, train: TrainSettings, n_train: int) -> int:
        iteration = self.at * train.steps_per_epoch(n_train) if self.unit == "epoch" else self.at
        if iteration >= train.total_iterations(n_train):
            raise ValueError(
                f"rewind point {self.at} {self.unit}(s) = iteration {iteration} is not before the end of "
                f"training ({train.total_iterations(n_train)} iterations)"
            )
        return iteration


@dataclass(frozen=True)
class AtInitSettings:
    """Pruning at initialisation: SNIP and GraSP score θ0 on `batches` minibatches of
    the training split; SynFlow prunes in `synflow_iterations` rounds, data-free."""

    batches: int = 10
    synflow_iterations: int = 100


# Field metadata of an opt-in setting: left out of a rule's params while it has its
# default, so adding one leaves the params (so the records and Snakemake's rerun
# decisions) of every study that does not use it as they were.
OPT_IN = {"opt_in": True}


@dataclass(frozen=True)
class SparseTrainingSettings:
    """SET and RigL (lthpipe.regrowth): the start mask's per-layer counts
    (`distribution`: uniform or erdos_renyi), a mask update every `update_every`
    steps until `end` of the budget, each dropping and regrowing a cosine-decayed
    share of every layer's connections that starts at `drop_fraction`."""

    distribution: str = "uniform"
    update_every: int = 100
    drop_fraction: float = 0.3
    end: float = 0.75

    def __post_init__(self) -> None:
        if self.distribution not in ("uniform", "erdos_renyi"):
            raise ValueError(f"unknown density distribution {self.distribution!r}")
        if self.update_every < 1 or not 0 < self.drop_fraction <= 1 or not 0 < self.end <= 1:
            raise ValueError(f"invalid sparse-training settings: {self}")


@dataclass(frozen=True)
class InstabilitySettings:
    """The instability analysis of a study (lthpipe.instability): at each rewind point
    of `at` (in `unit`s; empty: off), the dense network and its magnitude ticket at
    `fraction`, two copies each on different minibatch orders, the error barrier on
    `points` evenly spaced points of the line between the copies."""

    at: tuple[int, ...] = ()
    unit: str = "iteration"
    fraction: float = 0.2
    points: int = 11

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", tuple(sorted(set(self.at))))


@dataclass(frozen=True)
class SpawnSettings:
    """instability: one rewind point, two copies of each network from there."""

    rewind: RewindSettings
    fraction: float
    scope: str
    points: int
    run: TrainingRun


# The iterative ticket: the method whose trained network the next level prunes.
IMP_TICKET = "rewind"


@dataclass(frozen=True)
class ImpSettings:
    """Iterative magnitude pruning: `levels` rounds, each removing `rate` of the weights
    left in every hidden layer and `output_rate` of those left in the output layer
    (layerwise), or `rate` of all weights left (global), then rewinding and retraining.
    The controls (`methods` but the ticket) train at `control_levels`, or at every level."""

    levels: int = 0
    rate: float = 0.2
    output_rate: float = 0.1
    methods: tuple[str, ...] = ("rewind", "reinit", "random_mask", "oneshot")
    control_levels: tuple[int, ...] | None = None  # where the controls train; None: every level

    def __post_init__(self) -> None:
        if self.control_levels is not None:
            if any(k < 1 for k in self.control_levels):
                raise ValueError(f"imp.control_levels counts levels from 1: {self.control_levels}")
            object.__setattr__(self, "control_levels", tuple(sorted(set(self.control_levels))))

    def control_methods(self) -> tuple[str, ...]:
        """What each level trains beside the chains (the ticket, which the next level prunes)."""
        return tuple(m for m in self.methods if m not in chained(self.methods))

    def levels_with_controls(self) -> list[int]:
        """The levels of the chain whose controls train: `control_levels` up to
        `levels` (the rest wait until the chain reaches them), or every level."""
        if not self.control_methods():
            return []
        chosen = range(1, self.levels + 1) if self.control_levels is None else self.control_levels
        return [k for k in chosen if k <= self.levels]


@dataclass(frozen=True)
class StudySettings:
    """Every study setting of one dataset (config `defaults` and the dataset's own
    overrides, merged); the schema's `study` object describes each field."""

    seeds: tuple[int, ...]
    widths: tuple[int, ...]
    hidden: tuple[int, ...] | None
    fractions: tuple[float, ...]
    methods: tuple[str, ...]
    pruning: str
    train: TrainSettings
    init: str
    rewind: RewindSettings
    imp: ImpSettings
    at_init: AtInitSettings
    width_tolerance: float
    width_rule: str
    summary_tolerance: float
    threads: int
    sparse_training: SparseTrainingSettings = field(default_factory=SparseTrainingSettings)
    instability: InstabilitySettings = field(default_factory=InstabilitySettings)
    aligned_overlap: bool = False

    def __post_init__(self) -> None:
        # Canonical orders: widths ascending, fractions from dense to sparse.
        object.__setattr__(self, "widths", tuple(sorted(self.widths)))
        object.__setattr__(self, "fractions", tuple(sorted(self.fractions, reverse=True)))


@dataclass(frozen=True)
class TrainingRun:
    """What every training job shares: the optimisation, the initialisation scheme,
    the minibatch order and where it runs."""

    train: TrainSettings
    init: str = "uniform"
    order_seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class WidthSettings:
    """train_width: every seed of one width of the search, as one stack."""

    seeds: tuple[int, ...]
    run: TrainingRun


@dataclass(frozen=True)
class DenseSettings:
    """train_dense: the chosen architecture, every seed and fold, keeping θ0, the
    rewind point's weights and the trained weights."""

    seeds: tuple[int, ...]
    hidden: tuple[int, ...]
    run: TrainingRun
    rewind: RewindSettings = field(default_factory=RewindSettings)


@dataclass(frozen=True)
class PruneSettings:
    """prune: the masks of one retained fraction (magnitude pruning of the trained
    networks, and the at-initialisation methods the retraining needs)."""

    fraction: float
    scope: str = "layerwise"
    at_init: tuple[str, ...] = ()
    at_init_settings: AtInitSettings = field(default_factory=AtInitSettings)
    batch_size: int = 64


@dataclass(frozen=True)
class RetrainSettings:
    """retrain: every lottery method at one fraction, trained with its mask fixed (SET
    and RigL change theirs as `sparse` says; set only when they train)."""

    methods: tuple[str, ...]
    run: TrainingRun
    sparse: SparseTrainingSettings | None = field(default=None, metadata=OPT_IN)


@dataclass(frozen=True)
class LevelSettings:
    """imp and imp_controls: one level of iterative magnitude pruning, the networks
    of `methods`. What the later levels are (how many there are, which have
    controls) is not a setting of this one, so adding levels reruns none of the
    existing ones; the ticket's job trains the ticket alone (`ticket()`), so adding
    or dropping controls reruns no ticket either."""

    level: int
    rate: float
    output_rate: float
    methods: tuple[str, ...]
    scope: str
    run: TrainingRun

    def ticket(self) -> LevelSettings:
        """The ticket's job, the critical path: the ticket and any other chained method
        (lthpipe.lottery), whose next level prunes its network of this one."""
        return dataclasses.replace(self, methods=(IMP_TICKET, *(m for m in chained(self.methods) if m != IMP_TICKET)))

    def controls(self) -> LevelSettings:
        """The controls' job, beside the next levels: every method that is not chained."""
        return dataclasses.replace(self, methods=tuple(m for m in self.methods if m not in chained(self.methods)))


@dataclass(frozen=True)
class ExportTarget:
    """export_network: one retrained network of a one-shot fraction (first data split)."""

    dataset: str
    fraction: float
    method: str = "rewind"
    seed: int = 0


@dataclass(frozen=True)
class InferenceSettings:
    """benchmark_inference: which network of each fraction, and how it is timed."""

    method: str = "rewind"
    seed: int = 0
    threads: tuple[int, ...] = (1,)
    repeats: int = 31
    batch: int = 1024
    # Methods whose network of each fraction is timed beside `method`'s (neuron pruning's
    # plain smaller dense networks beside the unstructured ticket).
    also: tuple[str, ...] = field(default=(), metadata=OPT_IN)


@dataclass(frozen=True)
class SelectionSettings:
    """select_width: how the search decides which width is the smallest good one
    (lthpipe.selection)."""

    rule: str = "one_se"
    tolerance: float = 0.01


@dataclass(frozen=True)
class ReportSettings:
    """aggregate: how the summary decides what holds."""

    tolerance: float


def to_params(settings: Any) -> dict[str, Any]:
    """A dataclass as a plain, JSON-able dict: what a rule carries as its params.
    Opt-in fields (OPT_IN) at their default are left out; from_params restores them."""
    return _plain(settings)


def _is_default(f: dataclasses.Field, value: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        return value == f.default
    return f.default_factory is not dataclasses.MISSING and value == f.default_factory()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.metadata.get("opt_in") and _is_default(f, getattr(value, f.name)))}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def from_params(cls: type[T], params: dict[str, Any]) -> T:
    """The dataclass `cls` from the dict `to_params` made (nested dataclasses and tuples rebuilt)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in params:
            values[f.name] = _typed(hints[f.name], params[f.name])
    return cls(**values)


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_params(hint, value)
    if typing.get_origin(hint) is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    return value
