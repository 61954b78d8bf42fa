"""Exact compaction of one pruned network: a smaller dense MLP with the same function.

A masked network is as large and as slow as the dense one. Pruning often leaves
hidden units that no surviving weight leads out of (they change nothing) or into
(they output the constant relu(b)); both can go. A unit is kept only while it
has a surviving weight from a kept unit and one to a kept unit, and input
features only while they feed a kept unit; removing one unit can strand
another, so the rule is applied until nothing changes. The constants of the
removed units that still feed kept ones are folded into the kept units' biases.

Works on ONE network: ``w{i}`` (out, in), ``b{i}`` (out,), ReLU after every
layer but the last (the model module's stacks hold N of these).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lthpipe.model import Architecture, Params, weight_names
from lthpipe.prune import Mask, check_mask


@dataclass(frozen=True)
class CompactNetwork:
    """A small dense MLP computing exactly what a masked network computes.

    ``params`` are dense: ``w{i}`` (out_i, in_i) over the kept units only. The
    network takes the full input vector and reads the columns ``input_index``.
    ``kept_units[l]`` are the original indices of hidden layer l's units, row for
    row of the compact weights. A hidden layer with no unit left keeps one
    placeholder (unit 0, all its weights and its bias zero) so that every shape
    stays non-empty; then every layer is empty (the network is constant) and the
    input keeps one placeholder column too. ``effective_widths`` counts only real
    units, so a placeholder layer has effective width 0.
    """

    arch: Architecture
    params: Params
    input_index: torch.Tensor  # (n_used,) int64, indices into the full input vector
    kept_units: tuple[tuple[int, ...], ...]
    effective_widths: tuple[int, ...]
    n_inputs_used: int

    @property
    def gathers_inputs(self) -> bool:
        """False when every input is used, in order: the gather (a copy of the
        batch, a quarter of the time of a 784-64-10 network) is then skipped."""
        return self.input_index.numel() < self.arch.n_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_out) for a batch of full input vectors x (B, n_in)."""
        return mlp_forward(self.params, x.index_select(1, self.input_index) if self.gathers_inputs else x)


def apply_mask(params: Params, mask: Mask) -> Params:
    """The masked network: pruned weights set to exactly zero, biases untouched."""
    check_mask(mask, params)
    return {k: v * mask[k] if k in mask else v for k, v in params.items()}


def architecture_of(params: Params) -> Architecture:
    """The layer sizes of one network, read off its weights."""
    weights = [params[k] for k in weight_names(params)]  # (out_i, in_i)
    return Architecture(weights[0].shape[1], tuple(w.shape[0] for w in weights[:-1]), weights[-1].shape[0])


def mlp_forward(params: Params, x: torch.Tensor) -> torch.Tensor:
    """Logits (B, out) of one dense network for x (B, in)."""
    names = weight_names(params)
    h = x
    for i, name in enumerate(names):
        h = torch.addmm(params[f"b{i}"], h, params[name].t())  # (B, out_i)
        if i < len(names) - 1:
            h = h.relu_()
    return h


def _kept_units(mask: Mask) -> list[torch.Tensor]:
    """Bool vector of kept units for every layer of units: inputs, each hidden
    layer, outputs (always all kept). The largest sets in which every kept hidden
    unit has a surviving weight from a kept unit and one to a kept unit, and every
    kept input one to a kept unit. Depends on the mask alone, not on the values."""
    masks = [mask[k] for k in weight_names(mask)]  # (out_i, in_i)
    kept = [torch.ones(m.shape[1], dtype=torch.bool) for m in masks] + [torch.ones(masks[-1].shape[0], dtype=torch.bool)]
    changed = True
    while changed:
        changed = False
        for k in range(len(masks)):  # every layer of units but the outputs
            keep = kept[k] & masks[k][kept[k + 1]].any(0)  # something leaves it
            if k > 0:
                keep &= masks[k - 1][:, kept[k - 1]].any(1)  # something enters it
            if not torch.equal(keep, kept[k]):
                kept[k] = keep
                changed = True
    return kept


def effective_widths(mask: Mask) -> list[int]:
    """Hidden widths after compaction, without building the network: cheap enough
    to record for every network of a study. Needs the mask only."""
    return [int(k.sum()) for k in _kept_units(mask)[1:-1]]


def _folded_biases(weights: list[torch.Tensor], biases: list[torch.Tensor], kept: list[torch.Tensor]) -> list[torch.Tensor]:
    """Every layer's biases with the constant output of the removed units folded in.

    A removed unit that still feeds a kept one has no path from a kept unit or an
    input, so its output is a constant; the others feed no kept unit, so whatever
    value they get is harmless. Running the network on a zero input with the
    kept units silenced therefore gives each kept unit a pre-activation equal to
    its bias plus the removed units' constant contribution: its new bias.
    Computed in float64 so the folded bias is rounded once.
    """
    h = torch.zeros(weights[0].shape[1], dtype=torch.float64)  # (in,)
    folded = []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = torch.addmv(b.double(), w.double(), h)  # (out_i,)
        folded.append(z.to(b.dtype))
        h = z.relu() * ~kept[i + 1]
    return folded


def _rows(kept: torch.Tensor) -> torch.Tensor:
    """Indices of the kept units, or unit 0 as a placeholder for an empty layer."""
    index = kept.nonzero().flatten()
    return index if index.numel() else torch.zeros(1, dtype=torch.long)


def compact(params: Params, mask: Mask) -> CompactNetwork:
    """The smallest dense network, by removing units, with the masked network's function."""
    names = weight_names(params)
    kept = _kept_units(mask)
    masked = apply_mask(params, mask)
    weights = [masked[k] for k in names]  # (out_i, in_i), pruned weights exactly zero
    biases = _folded_biases(weights, [params[f"b{i}"] for i in range(len(names))], kept)
    rows = [_rows(k) for k in kept]
    small: Params = {}
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        # A placeholder is not kept: zeroing it by `kept` makes its weights and bias 0.
        live_out, live_in = kept[i + 1][rows[i + 1]], kept[i][rows[i]]
        small[f"w{i}"] = w[rows[i + 1]][:, rows[i]] * (live_out[:, None] & live_in[None, :])  # (out', in')
        small[f"b{i}"] = b[rows[i + 1]] * live_out  # (out',)
    return CompactNetwork(
        arch=architecture_of(params),
        params=small,
        input_index=rows[0],
        kept_units=tuple(tuple(r.tolist()) for r in rows[1:-1]),
        effective_widths=tuple(int(k.sum()) for k in kept[1:-1]),
        n_inputs_used=int(kept[0].sum()),
    )


def multiply_adds(network: CompactNetwork, mask: Mask) -> dict[str, int]:
    """Multiply-adds per sample of each representation of one pruned network
    (weights only: biases and ReLUs are additions and comparisons):
    ``full`` the dense or masked network (every weight, zero or not),
    ``compact`` the compact network (every weight it holds, placeholders too),
    ``sparse`` a sparse product over the surviving weights."""
    return {
        "full": network.arch.n_weights,
        "compact": sum(network.params[k].numel() for k in weight_names(network.params)),
        "sparse": sum(int(m.sum()) for m in mask.values()),
    }
