"""The lottery methods: what is retrained at a pruned fraction, one registry.

Each method says where its mask comes from and what weights its network starts
from. The config schema's enums, the plots' labels and colours, the prune stage
(which masks to compute) and the retraining stages all read ``METHODS``; a test
checks that the schema agrees. Free of torch: a method's ``start`` works through
the ``Start`` object the training stage hands it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# Paul Tol's "muted" scheme: nine colours that stay apart under every common colour
# blindness. Each curve keeps its colour and marker in every figure.
TOL_MUTED = {
    "indigo": "#332288", "cyan": "#88CCEE", "teal": "#44AA99", "green": "#117733", "olive": "#999933",
    "sand": "#DDCC77", "rose": "#CC6677", "wine": "#882255", "purple": "#AA4499",
}
# Four of Paul Tol's "vibrant" scheme for the methods past the muted nine; each also has
# a marker of its own, so no curve relies on its colour alone.
TOL_VIBRANT = {"orange": "#EE7733", "blue": "#0077BB", "red": "#CC3311", "magenta": "#EE3377"}


class Start(Protocol):
    """One network's starting material, built by the training stage (lthpipe.stages)."""

    init: Any  # θ0 of this seed (Params)
    rewind: Any  # the rewind point's weights: θ0, or θk with late rewinding
    trained: Any  # the dense network's trained weights

    def mask(self, source: str) -> Any: ...  # a mask the prune stage (or the IMP level) computed
    def fresh(self, purpose: str) -> Any: ...  # a new random initialisation of the full architecture
    def random_like(self, mask: Any) -> Any: ...  # a random mask with the same per-layer counts
    def dense_small(self, mask: Any) -> tuple[Any, Any]: ...  # a dense net with mask's weight count
    def neurons(self, mask: Any) -> Any: ...  # whole units of the trained net kept, about mask's weight count
    def sparse_start(self, mask: Any) -> Any: ...  # a random start mask of SET/RigL with mask's weight count


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # in figures and tables
    color: str
    marker: str  # matplotlib marker, so curves differ in shape as well as colour
    mask_source: str  # the mask it needs from pruning: "magnitude", "snip", ...
    start: Callable[[Start], tuple[Any, Any]]  # (starting weights, mask)
    at_init: bool = False  # its mask is found before training, from θ0
    imp_only: bool = False  # only meaningful at a level of iterative pruning
    # At a level of iterative pruning, its mask prunes its own network of the level
    # before (a chain of its own), so it trains in the ticket's job, not the controls'.
    chained: bool = False
    regrowth: str | None = None  # its mask changes during training by this rule (lthpipe.regrowth)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("rewind", "pruned, rewound, retrained", TOL_MUTED["indigo"], "o", "magnitude",
               lambda s: (s.rewind, s.mask("magnitude")), chained=True),
        Method("reinit", "same mask, random re-init", TOL_MUTED["rose"], "s", "magnitude",
               lambda s: (s.fresh("reinit"), s.mask("magnitude"))),
        Method("random_mask", "random mask, same layer counts", TOL_MUTED["olive"], "^", "magnitude",
               lambda s: (s.rewind, s.random_like(s.mask("magnitude")))),
        Method("dense_small", "dense, same weight count", TOL_MUTED["green"], "v", "magnitude",
               lambda s: s.dense_small(s.mask("magnitude"))),
        Method("snip", "SNIP mask at init, trained", TOL_MUTED["cyan"], "D", "snip",
               lambda s: (s.init, s.mask("snip")), at_init=True),
        Method("grasp", "GraSP mask at init, trained", TOL_MUTED["purple"], "P", "grasp",
               lambda s: (s.init, s.mask("grasp")), at_init=True),
        Method("synflow", "SynFlow mask at init, trained", TOL_MUTED["teal"], "X", "synflow",
               lambda s: (s.init, s.mask("synflow")), at_init=True),
        Method("oneshot", "one-shot mask at this level's counts, rewound", TOL_MUTED["wine"], "*", "oneshot",
               lambda s: (s.rewind, s.mask("oneshot")), imp_only=True),
        # Neuron pruning (lthpipe.structured): whole hidden units, about the magnitude mask's weight count.
        Method("neurons", "neurons pruned, rewound, retrained", TOL_MUTED["sand"], "h", "magnitude",
               lambda s: (s.rewind, s.neurons(s.mask("magnitude")))),
        Method("neurons_finetune", "neurons pruned, fine-tuned", TOL_VIBRANT["orange"], "p", "magnitude",
               lambda s: (s.trained, s.neurons(s.mask("magnitude")))),
        # Iteratively: each level removes units of its own network of the level before, to
        # the level's weight count (lthpipe.structured.iterative_unit_mask), rewound.
        Method("neurons_iterative", "neurons pruned iteratively, rewound, retrained", TOL_VIBRANT["magenta"], "d",
               "units", lambda s: (s.rewind, s.mask("units")), imp_only=True, chained=True),
        # Sparse from the first step, connections dropped and regrown (lthpipe.regrowth).
        Method("set", "SET: sparse from scratch, random regrowth", TOL_VIBRANT["blue"], "<", "magnitude",
               lambda s: (s.init, s.sparse_start(s.mask("magnitude"))), regrowth="set"),
        Method("rigl", "RigL: sparse from scratch, gradient regrowth", TOL_VIBRANT["red"], ">", "magnitude",
               lambda s: (s.init, s.sparse_start(s.mask("magnitude"))), regrowth="rigl"),
    )
}

# Curves that are not retrained methods: the dense network, and magnitude pruning
# of the trained network without retraining.
CURVES: dict[str, tuple[str, str, str]] = {
    "dense": ("dense network", "#000000", ""),
    "pruned": ("magnitude pruned, no retraining", "#888888", "."),
}


# Plot and table order: pruning without retraining, then the methods.
CURVE_ORDER = ("pruned", *METHODS)


def label(name: str) -> str:
    return METHODS[name].label if name in METHODS else CURVES[name][0]


def color(name: str) -> str:
    return METHODS[name].color if name in METHODS else CURVES[name][1]


def marker(name: str) -> str:
    return METHODS[name].marker if name in METHODS else CURVES[name][2]


def at_init_sources(methods: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The at-initialisation masks the prune stage must compute for these methods."""
    return tuple(sorted({METHODS[m].mask_source for m in methods if METHODS[m].at_init}))


def at_levels() -> tuple[str, ...]:
    """The methods a level of iterative pruning can train: its masks come from the level's
    ticket (or its own chain), not from the prune stage at θ0 or from regrowth."""
    return tuple(m for m, method in METHODS.items() if not method.at_init and not method.regrowth)


def chained(methods: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The methods among these that a level of iterative pruning trains in its ticket's job."""
    return tuple(m for m in methods if METHODS[m].chained)


def regrowing(methods: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The methods among these whose masks change during training (SET, RigL)."""
    return tuple(m for m in methods if METHODS[m].regrowth)


# How a method's networks were pruned: one-shot at each fraction, or iteratively,
# level by level. The summary, the comparisons and the figures read this order.
PROCEDURES = ("oneshot", "imp")
