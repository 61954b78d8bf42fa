"""Figures (lthpipe.plots): each writes a PNG of its figure's size, the same bytes
every time, copes with what a run may lack, and draws every method in the
registry's colour, marker and words.

The summaries in tests/data are the tiny test run's (floats cut to 4 digits):
mnist (image, at-init methods), diabetes (tabular, at-init and iterative),
swiss_roll (3 features, 3 folds, no at-init) and lenet_imp_only (iterative only,
two hidden layers, no masks or training histories)."""

import copy
import json
from pathlib import Path

import matplotlib.image
import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

from lthpipe.lottery import METHODS, PROCEDURES, color, label, marker
from lthpipe.plots import common, curves, inference, masks, regions
from lthpipe.plots.width import width_figure, width_plot

DATA = Path(__file__).parent / "data"
DATASETS = ("mnist", "diabetes", "swiss_roll", "lenet_imp_only")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The figures drawn from one summary: name -> (builder, writer).
SUMMARY_FIGURES = {
    name: (getattr(module, f"{name}_figure"), getattr(module, f"{name}_plot"))
    for name, module in (("curve", curves), ("removed", masks), ("units", masks), ("training", curves),
                         ("stability", masks), ("early_stop", curves))
}


def summary(name: str) -> dict:
    return json.loads((DATA / f"summary_{name}.json").read_text())


def check_png(path: Path, fig: Figure) -> None:
    """A PNG that decodes to the figure's size in pixels."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    width, height = fig.get_size_inches() * common.DPI
    assert matplotlib.image.imread(path).shape[:2] == (round(height), round(width))


def lines(fig: Figure) -> list[Line2D]:
    return [line for ax in fig.axes for line in ax.get_lines()]


def legend_texts(fig: Figure) -> set[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return {text.get_text() for legend in legends for text in legend.get_texts()}


def notes(fig: Figure) -> list[str]:
    """The texts of panels that say why they are empty (switched off, with a note)."""
    return [text.get_text() for ax in fig.axes if not ax.axison for text in ax.texts]


def check_method_line(fig: Figure, method: str, words: str, style: str) -> None:
    """Every line named `words` has the method's colour, marker and the procedure's
    line style, and the legend names it."""
    drawn = [line for line in lines(fig) if line.get_label() == words]
    assert drawn, f"no line for {words!r}"
    for line in drawn:
        assert to_rgba(line.get_color()) == to_rgba(color(method))
        assert line.get_marker() == marker(method)
        assert line.get_linestyle() == style
    assert words in legend_texts(fig)


def methods_drawn(s: dict, methods) -> list[tuple[str, str, str]]:
    """(method, words, line style) of every curve of the summary among `methods`."""
    words = {"oneshot": "{}", "imp": "iterative: {}"}
    return [(m, words[p].format(label(m)), common.LINE_STYLES[p])
            for p in PROCEDURES for m in s["methods"].get(p, {}) if m in methods]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("figure", SUMMARY_FIGURES)
def test_each_summary_figure_writes_a_png_of_its_size(tmp_path, figure, dataset):
    build, write = SUMMARY_FIGURES[figure]
    path = tmp_path / f"{figure}.png"
    write(summary(dataset), path)
    check_png(path, build(summary(dataset)))


@pytest.mark.parametrize("figure", SUMMARY_FIGURES)
def test_the_same_summary_gives_the_same_bytes(tmp_path, figure):
    _, write = SUMMARY_FIGURES[figure]
    write(summary("diabetes"), tmp_path / "a.png")
    write(summary("diabetes"), tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize("dataset", DATASETS)
def test_accuracy_and_early_stopping_curves_keep_the_registry_looks(dataset):
    s = summary(dataset)
    for method, words, style in methods_drawn(s, ("pruned", *METHODS)):
        check_method_line(curves.curve_figure(s), method, words, style)
    early = curves.early_stop_figure(s)
    for method, words, style in methods_drawn(s, METHODS):
        check_method_line(early, method, words, style)
    # Pruning without retraining never trains, so it has no early-stopping point.
    assert label("pruned") not in {line.get_label() for line in lines(early)}


def test_the_fraction_axis_reads_as_plain_numbers_with_pruning_to_the_right():
    ax = curves.curve_figure(summary("mnist")).axes[0]
    assert ax.xaxis_inverted()
    assert ax.get_xscale() == "log"
    fig = ax.figure
    fig.canvas.draw()
    assert {t.get_text() for t in ax.get_xticklabels()} >= {"1", "0.5", "0.2", "0.1", "0.05"}


def test_summary_plot_names_every_method_once(tmp_path):
    summaries = [summary(d) for d in ("mnist", "diabetes", "swiss_roll")]
    fig = curves.summary_figure(summaries)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(texts) == len(set(texts))
    assert {label(m) for s in summaries for m in s["methods"]["oneshot"]} <= set(texts)
    curves.summary_plot(summaries, tmp_path / "summary.png")
    check_png(tmp_path / "summary.png", fig)


def test_width_plot(tmp_path):
    from lthpipe.selection import choose

    records = [{"dataset": "mnist", "width": w, "metrics": {"val_acc": [a, a + 0.01, a + 0.004]}}
               for w, a in ((8, 0.8), (16, 0.9), (32, 0.95))]
    selection = choose({r["width"]: r["metrics"]["val_acc"] for r in records}, 0.01, "one_se")
    selection["widths"][0]["undertrained"] = True
    width_plot(records, selection, tmp_path / "width.png")
    fig = width_figure(records, selection)
    check_png(tmp_path / "width.png", fig)
    ax = fig.axes[0]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "chosen width 32" in texts and any("under-trained" in t for t in texts)
    assert {"good enough", "below its threshold", "threshold: best − tolerance − SE"} <= set(texts)
    # Each width's threshold: the best mean minus the tolerance and its standard error.
    (thresholds,) = [line for line in ax.get_lines() if line.get_label().startswith("threshold")]
    expected = [selection["widths"][-1]["val_acc"] - 0.01 - w["vs_best"]["se"] for w in selection["widths"]]
    assert list(thresholds.get_ydata()) == pytest.approx(expected)
    # Chosen at the grid's edge: the figure says to widen the search.
    assert "widen the search" in ax.get_title()


def test_removed_shows_an_image_dataset_as_images_on_one_colour_scale():
    s = summary("mnist")
    fig = masks.removed_figure(s)
    images = [im for ax in fig.axes for im in ax.get_images()]
    pruned = [m for m in s["masks"] if m["fraction"] < 1]
    assert len(images) == len(pruned)
    for image in images:
        assert image.get_array().shape == (28, 28)
        assert image.get_clim() == (0, 1)
        assert image.get_cmap().name == "viridis"
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)


def test_removed_shows_a_tabular_dataset_as_bars_named_by_feature():
    s = summary("diabetes")
    fig = masks.removed_figure(s)
    bar_axes = [ax for ax in fig.axes if ax.containers]
    assert len(bar_axes) == len([m for m in s["masks"] if m["fraction"] < 1])
    fig.canvas.draw()
    assert [t.get_text() for t in bar_axes[0].get_yticklabels()] == s["data"]["feature_names"]
    # Bars in the order of the masks' input_survival.
    heights = [bar.get_width() for bar in bar_axes[0].containers[0]]
    assert heights == next(m for m in masks._masks(s) if m["fraction"] < 1)["input_survival"]


def test_removed_picks_a_few_fractions_of_many_and_names_many_features():
    s = summary("diabetes")
    template = s["masks"][1]
    s["masks"] = [{**template, "fraction": f} for f in (1.0, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02)]
    names = [f"feature {i}" for i in range(30)]
    s["data"]["feature_names"] = names
    for mask in s["masks"]:
        mask["input_survival"] = list(np.linspace(0, 1, 30))
    fig = masks.removed_figure(s)
    bar_axes = [ax for ax in fig.axes if ax.containers]
    assert len(bar_axes) == 4
    assert [t.get_text() for t in bar_axes[0].get_yticklabels()] == names


def test_units_plot_has_a_column_per_hidden_layer(tmp_path):
    s = summary("swiss_roll")
    for mask in s["masks"]:
        first = mask["hidden_units"][0]
        mask["hidden_units"] = [first, {"incoming": first["incoming"][:3], "outgoing": [1.0, 1.0, 1.0], "alive": 2.0}]
    fig = masks.units_figure(s)
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert ylabels.count("units alive") == 2
    # The second layer's units take their inputs from the first layer's 4 units.
    assert "kept incoming weights per unit (of 3)" in ylabels
    assert "kept incoming weights per unit (of 4)" in ylabels
    masks.units_plot(s, tmp_path / "units.png")
    check_png(tmp_path / "units.png", fig)


@pytest.mark.parametrize("dataset", ("mnist", "diabetes", "swiss_roll"))
def test_training_curves_keep_the_registry_looks(dataset):
    s = summary(dataset)
    fig = curves.training_figure(s)
    present = {m for by_method in s["training"]["fractions"].values() for m in by_method}
    for method in present:
        check_method_line(fig, method, label(method), "-")
    dense = [line for line in lines(fig) if line.get_label() == label("dense")]
    # Dense in every panel: accuracy and loss at each fraction.
    assert len(dense) == 2 * len(s["training"]["fractions"])


def test_training_plot_without_pruned_histories_shows_the_dense_network(tmp_path):
    s = summary("swiss_roll")
    s["training"]["fractions"] = {}
    fig = curves.training_figure(s)
    assert {line.get_label() for line in lines(fig)} == {label("dense")}
    curves.training_plot(s, tmp_path / "training.png")
    check_png(tmp_path / "training.png", fig)


def test_stability_draws_at_init_methods_in_their_colours():
    s = summary("mnist")
    fig = masks.stability_figure(s)
    for method in s["masks"][0]["at_init_overlap"]:
        check_method_line(fig, method, label(method), "-")
    assert not notes(fig)


def test_stability_without_at_init_methods_says_so():
    fig = masks.stability_figure(summary("swiss_roll"))
    assert notes(fig) == ["no at-initialisation methods\nin this run"]


def test_stability_with_one_seed_says_so(tmp_path):
    s = summary("swiss_roll")
    for mask in s["masks"]:
        mask["seed_overlap"] = None
        mask["input_agreement"] = None
    fig = masks.stability_figure(s)
    assert len(notes(fig)) == 3
    masks.stability_plot(s, tmp_path / "stability.png")
    check_png(tmp_path / "stability.png", fig)


@pytest.mark.parametrize("figure", ("removed", "units", "training", "stability"))
def test_figures_of_masks_and_histories_say_when_the_run_has_none(figure):
    build, _ = SUMMARY_FIGURES[figure]
    fig = build(summary("lenet_imp_only"))
    assert len(notes(fig)) == 1
    assert "mnist_lenet" in fig.get_suptitle()


def regions_inputs(n_classes: int) -> tuple:
    grid = np.add.outer(np.arange(20), np.arange(20)) % n_classes  # (G, G)
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1, (30, 2))  # (n, 2)
    labels = np.arange(30) % n_classes
    return ([("dense", grid), ("pruned", grid.T)], (0.0, 1.0, 0.0, 1.0), ["x (standardized)", "y (standardized)"],
            points, labels, n_classes, "toy: decision regions")


def test_decision_regions_use_the_same_class_colours_in_every_panel(tmp_path):
    args = regions_inputs(3)
    fig = regions.decision_regions_figure(*args)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in panels] == ["dense", "pruned"]
    for ax in panels:
        image: AxesImage = ax.get_images()[0]
        expected = [to_rgba(c) for c in regions.CLASS_COLORS[:3]]
        assert [tuple(image.cmap(image.norm(k))[:3]) for k in range(3)] == [c[:3] for c in expected]
        points = ax.collections
        assert [tuple(p.get_facecolor()[0]) for p in points] == expected
        assert [len(p.get_offsets()) for p in points] == [10, 10, 10]
    regions.decision_regions_plot(*args, tmp_path / "a.png")
    regions.decision_regions_plot(*args, tmp_path / "b.png")
    check_png(tmp_path / "a.png", fig)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_decision_regions_of_more_classes_than_safe_colours_use_an_ordered_colormap():
    """Abalone's 21 ring counts: every class its own colour, in label order along viridis."""
    n = len(regions.CLASS_COLORS) + 11
    fig = regions.decision_regions_figure(*regions_inputs(n))
    ax = next(ax for ax in fig.axes if ax.get_images())
    colours = [tuple(p.get_facecolor()[0]) for p in ax.collections]
    assert len(set(colours)) == n
    assert colours[0] == matplotlib.colormaps["viridis"](0.0) and colours[-1] == matplotlib.colormaps["viridis"](1.0)


def benchmark_rows(threads: tuple[int, ...]) -> list[dict]:
    from lthpipe.inference import FORMS

    return [
        {"fraction": f, "retained": f, "form": form, "bytes": int(1e5 * f) + 100 * i, "latency_us": 10.0 + i,
         "latency_us_q1": 9.0 + i, "latency_us_q3": 12.0 + i, "throughput_per_s": 1e4, "threads": t}
        for f in (1.0, 0.2, 0.05) for i, form in enumerate(FORMS) for t in threads
    ]


def test_every_benchmarked_form_has_words_and_a_look():
    from lthpipe.inference import FORMS

    assert set(inference.FORM_STYLES) == set(FORMS)


@pytest.mark.parametrize("threads", ((1,), (1, 2)))
def test_inference_plot_draws_size_and_latency_per_thread_count(tmp_path, threads):
    rows = benchmark_rows(threads)
    fig = inference.inference_figure(rows)
    assert len(fig.axes) == 1 + len(threads)
    assert {inference.FORM_STYLES[form]["label"] for form in inference.FORM_STYLES} <= legend_texts(fig)
    inference.inference_plot(rows, tmp_path / "a.png")
    inference.inference_plot(copy.deepcopy(rows), tmp_path / "b.png")
    check_png(tmp_path / "a.png", fig)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
