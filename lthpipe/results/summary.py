"""The summarize stage: every dataset's summary as one page (markdown and HTML): where
each method holds, the caveats, each dataset's tables and the comparisons stated in
words, the inference benchmark's tables; and the figure of every dataset's curves."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from lthpipe.artifacts import fraction_tag, read_json, write_text
from lthpipe.lottery import CURVE_ORDER, PROCEDURES, label
from lthpipe.plots.curves import summary_plot
from lthpipe.plots.inference import FORM_STYLES
from lthpipe.results.html_page import markdown_to_html


def markdown(summaries: list[dict]) -> str:
    present = [m for m in CURVE_ORDER if any(m in s["methods"].get("oneshot", {}) for s in summaries)]
    lines = [
        "# lthpipe summary",
        "",
        "Smallest fraction of weights retained at which each method still holds: the 95% interval of its "
        "paired difference from the dense network (same seed and split) lies above -tolerance there and "
        "at every denser point; '-' means it never does. Cells: retained fraction (mean test accuracy).",
        "",
        "| dataset | width (clearly better than the next smaller?) | dense test acc | units (seeds x splits) | "
        "tolerance | " + " | ".join(label(m) for m in present) + " |",
        "|---|---|---|---|---|" + "---|" * len(present),
    ]
    for s in summaries:
        oneshot = s["methods"].get("oneshot", {})
        cells = []
        for method in present:
            info = oneshot.get(method)
            cells.append("n/a" if info is None else "-" if info["retained"] is None else f"{info['retained']:.3f} ({info['test_acc']:.3f})")
        lines.append(f"| {s['dataset']} | {_width_cell(s)} | {s['dense_test_acc']:.3f} ± {s['dense_test_std']:.3f} | "
                     f"{s['n_units']} | {s['tolerance']} | " + " | ".join(cells) + " |")
    noted = [s for s in summaries if s.get("notes")]
    if noted:
        lines += ["", "**Read these results with their caveats:**", ""]
        lines += [f"- {s['dataset']}: {note}" for s in noted for note in s["notes"]]
    for s in summaries:
        lines += _dataset_tables(s)
    return "\n".join(lines) + "\n"


def _width_cell(s: dict) -> str:
    """The dense network's width and, when searched, the premise check against the next smaller width."""
    selection = s.get("selection")
    hidden = "-".join(map(str, s["hidden"]))
    if selection is None:
        return f"{hidden} (fixed)"
    smaller = selection["next_smaller"]
    edge = ", largest searched" if selection["at_edge"] else ""
    if smaller["width"] is None:
        return f"{hidden} (smallest searched{edge})"
    return f"{hidden} ({smaller['premise']} vs {smaller['width']}: {_interval(smaller['difference'])}{edge})"


def _selection_table(selection: dict) -> list[str]:
    lines = [f"### width search ({selection['rule']} rule, tolerance {selection['tolerance']}, "
             f"{selection['n_units']} units): mean validation accuracy; difference from the best width "
             f"{selection['best_width']} [95% interval]", "",
             "| width | val acc | − best | good enough | best point in the budget's last 20% |", "|---|---|---|---|---|"]
    for w in selection["widths"]:
        chosen = " **(chosen)**" if w["width"] == selection["width"] else ""
        late = f"{w['late_share']:.0%}" + (" (under-trained)" if w["undertrained"] else "")
        lines.append(f"| {w['width']}{chosen} | {w['val_acc']:.3f} ± {w['val_sd']:.3f} | {_interval(w['vs_best'])} | "
                     f"{'yes' if w['qualifies'] else 'no'} | {late} |")
    return [*lines, ""]


# Comparisons the summary states in words, per dataset and procedure, where both methods
# ran: does the neuron-pruned network beat the narrow network of the same size trained
# from scratch?
STATED = {
    "oneshot": (("neurons", "dense_small"), ("neurons_finetune", "dense_small")),
    "imp": (("neurons_iterative", "dense_small"), ("neurons", "dense_small"), ("neurons_finetune", "dense_small")),
}


def comparison_word(diff: dict | None) -> str:
    """What a paired difference a - b says: "better" or "worse" when its 95% interval
    excludes 0, else "no difference shown" (also without an interval: one unit)."""
    if diff is None or diff["low"] is None:
        return "no difference shown"
    if diff["low"] > 0:
        return "better"
    if diff["high"] < 0:
        return "worse"
    return "no difference shown"


def stated_comparisons(s: dict) -> list[str]:
    """The STATED comparisons of one dataset's summary, in words, point by point."""
    lines = []
    for procedure, stated in STATED.items():
        rows = s["comparisons"].get(procedure, [])
        for a, b in stated:
            mine = [c for c in rows if (c["a"], c["b"]) == (a, b)]
            if not mine:
                continue
            by_word: dict[str, list[str]] = defaultdict(list)
            for c in mine:
                point = f"{c['retained']:.3f} ({_interval(c['difference'])})"
                # Fractions below one unit's weights all keep one unit: the same networks, said once.
                if point not in by_word[comparison_word(c["difference"])]:
                    by_word[comparison_word(c["difference"])].append(point)
            said = "; ".join(f"{word} at {', '.join(points)}" for word, points in by_word.items())
            how = "" if procedure == "oneshot" else " (iterative pruning, by level)"
            lines.append(f"- **{label(a)}** against **{label(b)}**{how} (a − b, retained: mean [95% interval]): "
                         f"{said}.")
    return lines


def _interval(diff: dict | None) -> str:
    if diff is None:
        return ""
    if diff["low"] is None:
        return f"{diff['mean']:+.3f}"
    return f"{diff['mean']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]"


def _dataset_tables(s: dict) -> list[str]:
    lines = ["", f"## {s['dataset']}", ""]
    if s.get("selection"):
        lines += _selection_table(s["selection"])
    for procedure, by_method in s["methods"].items():
        present = [m for m in CURVE_ORDER if m in by_method]
        keys = sorted({(p["fraction"], p["level"]) for m in present for p in by_method[m]["points"]},
                      key=lambda k: (-(k[0] or 0), k[1]))
        title = "one-shot pruning, by fraction retained" if procedure == "oneshot" else "iterative pruning, by level"
        lines += [f"### {title}: mean test accuracy; difference from dense [95% interval]", ""]
        lines.append(f"| {'fraction' if procedure == 'oneshot' else 'level'} | " + " | ".join(label(m) for m in present) + " |")
        lines.append("|---|" + "---|" * len(present))
        for fraction, level in keys:
            cells = []
            for method in present:
                point = next((p for p in by_method[method]["points"] if (p["fraction"], p["level"]) == (fraction, level)), None)
                cells.append("" if point is None else
                             f"{point['retained']:.3f}: {point['mean']:.3f} ({_interval(point['vs_dense'])}, {point['verdict']})")
            tag = fraction_tag(fraction) if procedure == "oneshot" else f"{level}"
            lines.append(f"| {tag} | " + " | ".join(cells) + " |")
        lines.append("")
    for procedure, rows in sorted(s["comparisons"].items(), key=lambda kv: PROCEDURES.index(kv[0])):
        pairs = list(dict.fromkeys((c["a"], c["b"]) for c in rows))
        lines += [f"### {'one-shot' if procedure == 'oneshot' else 'iterative'}: paired differences, a - b [95% interval]", ""]
        lines.append("| retained | " + " | ".join(f"{a} - {b}" for a, b in pairs) + " |")
        lines.append("|---|" + "---|" * len(pairs))
        for key in dict.fromkeys((c["fraction"], c["level"]) for c in rows):
            cells = [_interval(next((c["difference"] for c in rows if (c["fraction"], c["level"]) == key
                                     and (c["a"], c["b"]) == pair), None)) for pair in pairs]
            retained = next(c["retained"] for c in rows if (c["fraction"], c["level"]) == key)
            lines.append(f"| {retained:.3f} | " + " | ".join(cells) + " |")
        lines.append("")
    stated = stated_comparisons(s)
    if stated:
        lines += ["### neuron pruning against a narrow network trained from scratch (same widths)", "", *stated, ""]
    return lines


def inference_markdown(benchmarks: list[dict]) -> list[str]:
    """The inference benchmark's table per dataset: every form at every fraction."""
    lines = []
    for bench in benchmarks:
        s = bench["settings"]
        methods = [s["method"], *s.get("also", [])]
        # A method column when networks of several methods were timed (inference.also).
        column = len(methods) > 1
        title = ", ".join(methods)
        lines += ["", f"## {bench['dataset']}: cost of running one network ({title}, seed {s['seed']})", "",
                  "Size of the model file; multiply-adds per sample; batch-1 latency and batch-"
                  f"{s['batch']} throughput, median [quartiles] of {s['repeats']} repeats. SciPy's sparse "
                  "product uses one thread whatever the setting.", "",
                  "| retained | " + ("method | " if column else "") + "threads | form | effective hidden | size (KB) | "
                  "multiply-adds | latency (µs) | throughput (/s) |",
                  "|---|---|---|---|---|---|---|---|" + ("---|" if column else "")]

        def order(r: dict) -> tuple:
            method = methods.index(r.get("method", s["method"]))
            return -r["fraction"], r["threads"], method, list(FORM_STYLES).index(r["form"])

        for row in sorted(bench["rows"], key=order):
            method = f"{row.get('method', s['method'])} | " if column else ""
            lines.append(
                f"| {row['retained']:.3f} | {method}{row['max_threads']} | {FORM_STYLES[row['form']]['label']} | "
                f"{row.get('effective_hidden', '')} | {row['bytes'] / 1024:.1f} | {row['multiply_adds']:,} | "
                f"{row['latency_us']:.1f} [{row['latency_us_q1']:.1f}, {row['latency_us_q3']:.1f}] | "
                f"{row['throughput_per_s']:,.0f} |"
            )
    return lines


def summarize(summary_paths: list[Path], inference_paths: list[Path], out_md: Path, out_html: Path, out_png: Path) -> None:
    summaries = [read_json(p) for p in summary_paths]
    text = markdown(summaries)
    if inference_paths:
        text += "\n".join(["", "# Inference", *inference_markdown([read_json(p) for p in inference_paths])]) + "\n"
    write_text(out_md, text)
    write_text(out_html, markdown_to_html(text, "lthpipe summary"))
    summary_plot(summaries, out_png)
