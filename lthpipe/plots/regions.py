"""Decision regions: each network's predicted class over a plane of the input space
(stage decision_regions, which computes the grids with torch)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from lthpipe.lottery import TOL_MUTED
from lthpipe.plots.common import _figure, _legend_below, _save

# Paul Tol's "muted" in his recommended order (neighbours contrast most), then his pale grey.
CLASS_COLORS = tuple(TOL_MUTED[c] for c in ("rose", "indigo", "sand", "green", "cyan", "wine", "teal", "olive",
                                             "purple")) + ("#DDDDDD",)
CLASS_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "p")


def decision_regions_figure(
    panels: list[tuple[str, np.ndarray]], extent: tuple[float, float, float, float], axis_labels: Sequence[str],
    points: np.ndarray, labels: np.ndarray, n_classes: int, title: str,
) -> Figure:
    """Each network's predicted class over a grid (G, G) of the plane, rows along
    the second axis, with the test points (n, 2) in their true class on top."""
    # Beyond the colour-blind-safe palette (abalone's 21 ring counts), an ordered
    # colormap: neighbouring classes get neighbouring colours, which suits ordinal labels.
    colors = (CLASS_COLORS[:n_classes] if n_classes <= len(CLASS_COLORS)
              else [matplotlib.colormaps["viridis"](k / (n_classes - 1)) for k in range(n_classes)])
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
    fig = _figure(3.8 * len(panels), 4.6)
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (name, grid) in zip(axes, panels):
        ax.imshow(grid, extent=extent, origin="lower", aspect="auto", cmap=cmap, norm=norm, alpha=0.4,
                  interpolation="nearest")
        for k in range(n_classes):
            chosen = labels == k
            ax.scatter(points[chosen, 0], points[chosen, 1], s=12, color=colors[k],
                       marker=CLASS_MARKERS[k % len(CLASS_MARKERS)],
                       edgecolors="black", linewidths=0.4, label=f"class {k}")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(axis_labels[0])
    axes[0].set_ylabel(axis_labels[1])
    fig.suptitle(f"{title}\n(background: predicted class; points: test set in their true class)", fontsize=10)
    _legend_below(fig, axes[:1], ncols=min(n_classes, 10))
    return fig


def decision_regions_plot(
    panels: list[tuple[str, np.ndarray]], extent: tuple[float, float, float, float], axis_labels: Sequence[str],
    points: np.ndarray, labels: np.ndarray, n_classes: int, title: str, path: Path,
) -> None:
    _save(decision_regions_figure(panels, extent, axis_labels, points, labels, n_classes, title), path)
