"""The reporting stages (select_width, aggregate, summarize): from the training
stages' JSON records to the width choice, result rows, per-method summaries with
paired confidence intervals, and figures. No torch here, so these jobs start fast.

Every comparison pairs two methods over the same units, a unit being one network
seed on one data split: the dense network and the networks pruned from it share
that unit's split and initialisation, so their paired difference leaves out what
the unit contributes to both (lthpipe.stats)."""

from __future__ import annotations

import csv
import html
import io
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from statistics import mean, pstdev

from lthpipe import plots
from lthpipe import selection as selection_rules
from lthpipe.artifacts import fraction_tag, nearest_fraction, read_json, write_json, write_text
from lthpipe.lottery import CURVE_ORDER, PROCEDURES, label
from lthpipe.settings import ReportSettings, SelectionSettings
from lthpipe.stats import PairedDifference, decide, paired_difference

COLUMNS = (
    "dataset", "procedure", "method", "seed", "fold", "fraction", "level", "retained", "val_acc", "test_acc",
    "final_test_acc", "best_iteration",
)
# Each dataset's figures, drawn from its summary alone.
FIGURES = {
    "curve": plots.curve_plot,
    "early_stop": plots.early_stop_plot,
    "training": plots.training_plot,
    "removed": plots.removed_plot,
    "units": plots.units_plot,
    "stability": plots.stability_plot,
}
# What the summary compares at every point, as (a, b): "a - b" with its interval.
COMPARISONS = {
    "oneshot": [("rewind", "reinit"), ("rewind", "random_mask"), ("rewind", "dense_small"),
                ("snip", "rewind"), ("grasp", "rewind"), ("synflow", "rewind"),
                ("snip", "random_mask"), ("grasp", "random_mask"), ("synflow", "random_mask"),
                ("neurons", "dense_small"), ("neurons_finetune", "dense_small"), ("rewind", "neurons"),
                ("set", "random_mask"), ("rigl", "random_mask"), ("rigl", "set"), ("rigl", "rewind")],
    "imp": [("rewind", "oneshot"), ("rewind", "reinit"), ("rewind", "random_mask")],
}


def _rows(dataset: str, procedure: str, record: dict, networks: list[dict], fraction, level: int) -> list[dict]:
    m = record["metrics"]
    return [
        dict(zip(COLUMNS, (
            dataset, procedure, n["method"], n["seed"], n.get("fold", 0), fraction, level, n.get("retained", 1.0),
            m["val_acc"][i], m["test_acc"][i], m.get("final_test_acc", m["test_acc"])[i],
            m.get("best_iteration", [0] * len(networks))[i],
        )))
        for i, n in enumerate(networks)
    ]


def rows_from_records(dense: dict, pruned: list[dict], retrained: list[dict], levels: list[dict]) -> list[dict]:
    dataset = dense["dataset"]
    rows = _rows(dataset, "dense", dense, dense["networks"], 1.0, 0)
    for rec in pruned:
        networks = [{**n, "method": "pruned", "retained": r} for n, r in zip(rec["metrics"]["networks"], rec["metrics"]["retained"])]
        rows += _rows(dataset, "oneshot", rec, networks, rec["fraction"], 0)
    for rec in retrained:
        rows += _rows(dataset, "oneshot", rec, rec["networks"], rec["fraction"], 0)
    rows += _level_rows(dataset, levels)
    return rows


def _level_rows(dataset: str, levels: list[dict]) -> list[dict]:
    """Rows of the iterative levels, from the tickets' records (stage imp) and the
    controls' (imp_controls, at the levels that have them): one row per network,
    whichever job trained it; a network found in two records is an error."""
    rows: list[dict] = []
    seen: dict[tuple, str] = {}
    for rec in levels:
        for row in _rows(dataset, "imp", rec, rec["networks"], None, rec["level"]):
            key = (row["level"], row["method"], row["seed"], row["fold"])
            if key in seen:
                raise ValueError(f"level {key[0]}: {key[1]} of seed {key[2]} (split {key[3]}) is in two records, "
                                 f"{seen[key]} and {rec['stage']}")
            seen[key] = rec["stage"]
            rows.append(row)
    return rows


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _unit(row: dict) -> tuple[int, int]:
    return row["fold"], row["seed"]


def _paired(a: list[dict], b: list[dict]) -> dict | None:
    """a - b over the units both have, or None when they share none."""
    b_by_unit = {_unit(r): r["test_acc"] for r in b}
    units = sorted(u for u in (_unit(r) for r in a) if u in b_by_unit)
    if not units:
        return None
    a_by_unit = {_unit(r): r["test_acc"] for r in a}
    return asdict(paired_difference([a_by_unit[u] for u in units], [b_by_unit[u] for u in units]))


def curves(rows: list[dict], tolerance: float) -> dict[str, dict[str, list[dict]]]:
    """Per procedure and method, one point per fraction (one-shot) or level
    (iterative), densest first: mean retained fraction, test accuracy over units
    (mean, sd, min, max), the mean early-stopping iteration, and the paired
    difference from the dense network with its verdict at `tolerance`."""
    dense = [r for r in rows if r["procedure"] == "dense"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row["procedure"] != "dense":
            point = row["fraction"] if row["procedure"] == "oneshot" else row["level"]
            groups[(row["procedure"], row["method"], point)].append(row)
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for (procedure, method, point), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], -_order(kv[0]))):
        accs = [r["test_acc"] for r in group]
        vs_dense = _paired(group, dense)
        out[procedure][method].append({
            "fraction": group[0]["fraction"], "level": group[0]["level"],
            "retained": mean(r["retained"] for r in group),
            "mean": mean(accs), "std": pstdev(accs), "min": min(accs), "max": max(accs), "n": len(accs),
            "best_iteration": mean(r["best_iteration"] for r in group),
            "vs_dense": vs_dense,
            "verdict": "unclear" if vs_dense is None else decide(PairedDifference(**vs_dense), tolerance),
        })
    return {p: dict(m) for p, m in out.items()}


def _order(key: tuple) -> float:
    """Densest first: larger fractions, smaller levels."""
    procedure, _, point = key
    return point if procedure == "oneshot" else -point


def holds_down_to(points: list[dict]) -> dict | None:
    """The sparsest point such that it and every denser point "hold": the interval of
    its paired difference from the dense network lies above -tolerance (so neither
    a lucky mean nor a point below a collapse counts)."""
    holding = None
    for point in sorted(points, key=lambda p: -p["retained"]):
        if point["verdict"] != "holds":
            break
        holding = point
    return holding


def comparisons(rows: list[dict]) -> dict[str, list[dict]]:
    """Every configured comparison (COMPARISONS) at every point both methods have."""
    by_point: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row["procedure"] != "dense":
            point = row["fraction"] if row["procedure"] == "oneshot" else row["level"]
            by_point[(row["procedure"], point, row["method"])].append(row)
    out: dict[str, list[dict]] = defaultdict(list)
    points = sorted({(p, pt) for p, pt, _ in by_point}, key=lambda k: (k[0], -_order((k[0], None, k[1]))))
    for procedure, point in points:
        for a, b in COMPARISONS.get(procedure, []):
            if (procedure, point, a) in by_point and (procedure, point, b) in by_point:
                group_a = by_point[(procedure, point, a)]
                out[procedure].append({
                    "a": a, "b": b, "fraction": group_a[0]["fraction"], "level": group_a[0]["level"],
                    "retained": mean(r["retained"] for r in group_a),
                    "difference": _paired(group_a, by_point[(procedure, point, b)]),
                })
    return dict(out)


# The fractions whose training curves the report shows: the configured ones nearest these.
TRAINING_CURVE_FRACTIONS = (0.5, 0.2, 0.05)


def _mean_history(histories: list[dict]) -> dict:
    """Per evaluation point, the mean over networks of epochs done, validation
    accuracy and training loss (networks of one job share the evaluation grid up
    to the splits' sizes, so points are matched by position)."""
    n = min(len(h["iteration"]) for h in histories)
    return {
        "epoch": [mean(h["iteration"][i] / h["steps_per_epoch"] for h in histories) for i in range(n)],
        "val_acc": [mean(h["val_acc"][i] for h in histories) for i in range(n)],
        "train_loss": [mean(h["train_loss"][i] for h in histories) for i in range(n)],
    }


def training_curves(dense: dict, retrained: list[dict]) -> dict:
    """How the dense network and each method's networks train, at a few fractions."""
    curves = {"dense": _mean_history(dense["metrics"]["history"]), "fractions": {}}
    available = sorted({rec["fraction"] for rec in retrained})
    chosen = sorted({nearest_fraction(available, target) for target in TRAINING_CURVE_FRACTIONS},
                    reverse=True) if available else []
    for rec in retrained:
        if rec["fraction"] in chosen:
            by_method: dict[str, list[dict]] = defaultdict(list)
            for network, history in zip(rec["networks"], rec["metrics"]["history"]):
                by_method[network["method"]].append(history)
            curves["fractions"][fraction_tag(rec['fraction'])] = {m: _mean_history(h) for m, h in by_method.items()}
    return curves


def dataset_summary(dataset: str, rows: list[dict], selection: dict | None, data: dict, masks: list[dict],
                    tolerance: float) -> dict:
    dense = [r["test_acc"] for r in rows if r["procedure"] == "dense"]
    by_curve = curves(rows, tolerance)
    methods: dict[str, dict] = {}
    for procedure in (p for p in PROCEDURES if p in by_curve):
        by_method = by_curve[procedure]
        for method in (m for m in CURVE_ORDER if m in by_method):
            holding = holds_down_to(by_method[method])
            methods.setdefault(procedure, {})[method] = {
                "smallest_fraction": holding["fraction"] if holding else None,
                "level": holding["level"] if holding else None,
                "retained": holding["retained"] if holding else None,
                "test_acc": holding["mean"] if holding else None,
                "points": by_method[method],
            }
    return {
        "stage": "aggregate", "dataset": dataset,
        "selection": selection,
        "n_units": len(dense), "folds": data.get("folds", 1),
        "data": {k: data.get(k) for k in ("n_features", "n_classes", "feature_names", "image_shape", "labels")},
        "dense_test_acc": mean(dense), "dense_test_std": pstdev(dense),
        "tolerance": tolerance, "methods": methods, "comparisons": comparisons(rows),
        "masks": masks,
    }


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


# One-shot comparisons the summary states in words, per dataset, where both methods ran:
# does the neuron-pruned network beat the narrow network of the same size trained from scratch?
STATED = (("neurons", "dense_small"), ("neurons_finetune", "dense_small"))


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
    """The STATED comparisons of one dataset's summary, in words, fraction by fraction."""
    lines = []
    rows = s["comparisons"].get("oneshot", [])
    for a, b in STATED:
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
        lines.append(f"- **{label(a)}** against **{label(b)}** (a − b, retained: mean [95% interval]): {said}.")
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


def select_width(width_paths: list[Path], settings: SelectionSettings, out_json: Path, out_png: Path) -> None:
    """The width search's decision (lthpipe.selection) from every width's record."""
    records = sorted((read_json(p) for p in width_paths), key=lambda r: r["width"])
    units = records[0]["networks"]
    for r in records:
        if r["networks"] != units:
            raise ValueError(f"width {r['width']} trained other networks than width {records[0]['width']}: cannot pair")
    selection = selection_rules.choose({r["width"]: r["metrics"]["val_acc"] for r in records}, settings.tolerance,
                                       settings.rule)
    for row, record in zip(selection["widths"], records):
        row["test_acc"] = mean(record["metrics"]["test_acc"])
        row.update(selection_rules.undertraining(record["metrics"]))
    chosen = next(w for w in selection["widths"] if w["width"] == selection["width"])
    selection = {
        "stage": "selection", "dataset": records[0]["dataset"], **selection,
        "val_acc": chosen["val_acc"], "test_acc": chosen["test_acc"],
        "best_val_acc": max(w["val_acc"] for w in selection["widths"]),
    }
    selection["notes"] = selection_rules.notes(selection)
    selection["parents"] = [str(p) for p in width_paths]
    plots.width_plot(records, selection, out_png)
    write_json(out_json, selection)


def aggregate(
    dataset: str, data_path: Path, selection_path: Path | None, dense_path: Path, prune_paths: list[Path],
    retrain_paths: list[Path], level_paths: list[Path], settings: ReportSettings, out_csv: Path, out_json: Path,
    figures: dict[str, Path],
) -> None:
    """Curve table, per-method summary and figures of one dataset, from the stages'
    sidecars; `figures` maps each figure (FIGURES) to its file."""
    dense = read_json(dense_path)
    pruned = [read_json(p) for p in prune_paths]
    retrained = [read_json(p) for p in retrain_paths]
    rows = rows_from_records(dense, pruned, retrained, [read_json(p) for p in level_paths])
    selection = read_json(selection_path) if selection_path else None
    masks = [{"fraction": rec["fraction"], **rec["masks"]} for rec in pruned]
    summary = dataset_summary(dataset, rows, selection, read_json(data_path), masks, settings.tolerance)
    summary["hidden"] = dense["hidden"]
    summary["notes"] = (selection["notes"] if selection else []) + _training_notes(dense, retrained)
    summary["training"] = training_curves(dense, retrained)
    write_text(out_csv, to_csv(rows))
    for name, draw in FIGURES.items():
        draw(summary, figures[name])
    write_json(out_json, summary)


def _training_notes(dense: dict, retrained: list[dict]) -> list[str]:
    """Under-training of the dense networks and of each retrained method (lthpipe.selection)."""
    notes = []
    if selection_rules.undertraining(dense["metrics"])["undertrained"]:
        notes.append("under-trained dense networks: most reached their best validation point in the last "
                     f"{selection_rules.LATE_SHARE:.0%} of the budget; raise `train.epochs` or set `train.patience`")
    late: dict[str, int] = defaultdict(int)
    for rec in retrained:
        by_method = defaultdict(list)
        for network, best, budget in zip(rec["networks"], rec["metrics"]["best_iteration"], rec["metrics"]["budget"]):
            by_method[network["method"]].append((best, budget))
        for method, pairs in by_method.items():
            late[method] += selection_rules.late_share(*zip(*pairs)) > selection_rules.LATE_UNITS
    counts = [f"{label(m)} at {k} of {len(retrained)}" for m, k in late.items() if k]
    if counts:
        notes.append("under-trained retraining (most networks still improving in the budget's last "
                     f"{selection_rules.LATE_SHARE:.0%}), fractions: " + "; ".join(counts))
    return notes


INSTABILITY_KINDS = ("dense", "ticket")  # the networks the instability stage spawns copies of


def instability_points(records: list[dict]) -> list[dict]:
    """Per rewind point and kind of network, the error barriers between the two copies
    (mean, sd, every network's) and the copies' test accuracy at early stopping (mean
    over networks and copies), with the mean error along the line."""
    points = []
    for rec in sorted(records, key=lambda r: r["at"]):
        for kind in INSTABILITY_KINDS:
            mine = [n for n in rec["networks"] if n["kind"] == kind]
            barriers = [n["barrier"] for n in mine]
            accs = [acc for n in mine for acc in n["test_acc"]]
            points.append({
                "at": rec["at"], "iteration": mean(n["iteration"] for n in mine), "kind": kind,
                "retained": mean(n["retained"] for n in mine), "barrier": mean(barriers),
                "barrier_sd": pstdev(barriers), "barriers": barriers, "test_acc": mean(accs),
                "test_acc_sd": pstdev(accs), "curve": [mean(c) for c in zip(*(n["error_curve"] for n in mine))],
            })
    return points


def summarize_instability(dataset: str, dense_path: Path, record_paths: list[Path], out_json: Path, out_png: Path) -> None:
    """The instability analysis of one dataset, every rewind point: a summary and a figure
    of the error barrier against the rewind point beside the copies' accuracy there."""
    dense = read_json(dense_path)
    records = [read_json(p) for p in record_paths]
    summary = {
        "stage": "instability_summary", "dataset": dataset, "hidden": dense["hidden"], "unit": records[0]["unit"],
        "fraction": records[0]["fraction"], "alphas": records[0]["alphas"],
        "dense_test_acc": mean(dense["metrics"]["test_acc"]), "points": instability_points(records),
        "parents": [str(dense_path), *map(str, record_paths)],
    }
    write_json(out_json, summary)
    plots.instability_plot(summary, out_png)


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
            return -r["fraction"], r["threads"], method, list(plots.FORM_STYLES).index(r["form"])

        for row in sorted(bench["rows"], key=order):
            method = f"{row.get('method', s['method'])} | " if column else ""
            lines.append(
                f"| {row['retained']:.3f} | {method}{row['max_threads']} | {plots.FORM_STYLES[row['form']]['label']} | "
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
    plots.summary_plot(summaries, out_png)


def markdown_to_html(text: str, title: str) -> str:
    """The summary's markdown (headings, paragraphs and pipe tables, as `markdown`
    writes them) as a standalone HTML page, for the report."""
    body, table = [], []

    def flush_table() -> None:
        if table:
            head, *rows = [[html.escape(c.strip()) for c in line.strip("|").split("|")] for line in table if "---" not in line]
            body.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
                        + "</tbody></table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:1em 0;font-size:90%}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
