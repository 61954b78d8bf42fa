"""Figures: the width search, accuracy against fraction retained, and the summary."""

from __future__ import annotations

import io
from pathlib import Path
from statistics import mean, pstdev

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lthpipe.artifacts import write_bytes  # noqa: E402
from lthpipe.lottery import CURVE_ORDER, color, label, marker  # noqa: E402

def _save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    # Fixed metadata keeps the bytes identical between identical runs.
    fig.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def width_plot(records: list[dict], chosen: int, tolerance: float, path: Path) -> None:
    widths = [r["width"] for r in records]
    accs = [r["metrics"]["val_acc"] for r in records]
    means = [mean(a) for a in accs]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(widths, means, yerr=[pstdev(a) for a in accs], marker="o", capsize=3, label="mean ± std over seeds")
    ax.axhline(max(means) - tolerance, color="grey", ls=":", label=f"best − {tolerance}")
    ax.axvline(chosen, color="tab:red", ls="--", label=f"chosen width {chosen}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden width")
    ax.set_ylabel("validation accuracy (best epoch)")
    ax.set_title(f"{records[0]['dataset']}: width search")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def draw_curves(ax, summary: dict) -> None:
    """Test accuracy against the fraction retained: one-shot methods as solid lines,
    levels of iterative pruning dashed, each method in its own colour and marker."""
    dense, spread = summary["dense_test_acc"], summary["dense_test_std"]
    ax.axhline(dense, color=color("dense"), lw=1, label=f"{label('dense')} {summary['hidden']}")
    ax.axhspan(dense - spread, dense + spread, color=color("dense"), alpha=0.08)
    for procedure, style in (("oneshot", "-"), ("imp", "--")):
        by_method = summary["methods"].get(procedure, {})
        for method in (m for m in CURVE_ORDER if m in by_method):
            points = sorted(by_method[method]["points"], key=lambda p: p["retained"])
            x = [p["retained"] for p in points]
            name = label(method) if procedure == "oneshot" else f"iterative: {label(method)}"
            ax.plot(x, [p["mean"] for p in points], style, marker=marker(method), ms=3, color=color(method), label=name)
            ax.fill_between(x, [p["min"] for p in points], [p["max"] for p in points], color=color(method), alpha=0.12)
    ax.set_xscale("log")
    ax.set_xlabel("fraction of weights retained (measured from masks, log scale)")
    ax.set_ylabel("test accuracy at early stopping")
    ax.set_title(summary["dataset"])


def curve_plot(summary: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    draw_curves(ax, summary)
    ax.legend(fontsize=7, loc="lower right")
    fig.text(0.01, 0.01, "lines: mean over seeds; bands: min–max", fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def summary_plot(summaries: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, len(summaries), figsize=(5 * len(summaries), 4), squeeze=False)
    for ax, summary in zip(axes[0], summaries):
        draw_curves(ax, summary)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save(fig, path)
