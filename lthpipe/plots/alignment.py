"""The aligned overlap's figure (align_overlap): seeds' masks compared with their
hidden units as they are and matched first (lthpipe.alignment)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from lthpipe.lottery import TOL_MUTED, color
from lthpipe.plots.common import CHANCE_STYLE, _figure, _fraction_axis, _legend_below, _save, _title

ALIGNED_LOOKS = {  # overlap -> words and look
    "unaligned": {"label": "seed vs seed, units as they are", "color": color("rewind"), "marker": "o", "ls": "-"},
    "aligned": {"label": "seed vs seed, units matched by weights", "color": TOL_MUTED["teal"], "marker": "s", "ls": "--"},
}


def aligned_overlap_figure(record: dict) -> Figure:
    """Per weight matrix and pooled: the Jaccard overlap of different seeds' magnitude
    masks with their hidden units as they are and matched first, against chance."""
    fractions = record["fractions"]
    layers = list(fractions[0]["unaligned"]["layers"])
    fig = _figure(3.9 * (len(layers) + 1), 4.8)
    axes = fig.subplots(1, len(layers) + 1, sharey=True)
    x = [f["retained"] for f in fractions]
    for ax, layer in zip(axes, [*layers, None]):
        def value(f: dict, which: str) -> float:
            return f[which]["overall"] if layer is None else f[which]["layers"][layer]

        for which, look in ALIGNED_LOOKS.items():
            ax.plot(x, [value(f, which) for f in fractions], color=look["color"], marker=look["marker"],
                    ls=look["ls"], label=look["label"])
        if all("untrained_aligned" in f for f in fractions):
            ax.plot(x, [value(f, "untrained_aligned") for f in fractions], color="#888888", marker="x", ls="-.",
                    label="untrained networks (θ0), units matched: the matching's own lift")
        ax.plot(x, [value(f, "chance") for f in fractions], label="chance: random masks, same layer counts",
                **CHANCE_STYLE)
        ax.set_ylim(0, 1.05)
        ax.set_title("all weights, pooled" if layer is None else f"weight matrix {layer}", fontsize=10)
        _fraction_axis(ax)
    axes[0].set_ylabel("Jaccard overlap of kept weights (mean over pairs)")
    cosine = record["weight_cosine"]
    fig.suptitle(_title(record, f"do seeds keep the same weights once hidden units are matched? ({record['pairs']} "
                                f"pairs; weight cosine {cosine['unaligned']:.2f} unmatched, {cosine['aligned']:.2f} matched)"),
                 fontsize=10)
    _legend_below(fig, axes[:1], ncols=2)
    return fig


def aligned_overlap_plot(record: dict, path: Path) -> None:
    _save(aligned_overlap_figure(record), path)
