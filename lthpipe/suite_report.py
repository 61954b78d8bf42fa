"""The cross-dataset answer of a suite (lthpipe.suites): how much of each dataset's
weights can go, beside the dataset's traits, and what that says across datasets.
Free of torch, like lthpipe.results, whose records it reads.

Removable fraction. A method "holds down to" the sparsest fraction that holds with
every denser fraction (lthpipe.results.compare.holds_down_to: each point's 95% paired
interval against the dense network within the tolerance). The removable fraction
is 1 - the weights retained there (0 when not even the densest point holds): what the
data show can go. Its uncertainty is the bracket [removable, upper): `upper` is
1 - the weights retained at the densest point that clearly fails (interval entirely
below -tolerance), so the true removable fraction lies below it; 1 when no point fails
(the fractions did not reach the breaking point). Points between the two are unclear
at this many units, or lie between the configured fractions.

Across datasets, on the members without planted inputs (planted variants have their
own section): the distribution of the removable fraction per method, how many
datasets allow removing at least 50% and 80%, and Spearman's rank correlation of the
removable fraction with each trait (ties get their mean rank; the two-sided p-value is
exact up to EXACT_N datasets, the t approximation above).

A member that fails after its data were accepted: lthpipe.suite_failures.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from pathlib import Path
from statistics import mean, median, quantiles

from scipy.special import stdtr

from lthpipe import suite_plots
from lthpipe.artifacts import read_json, write_json, write_text
from lthpipe.lottery import CURVE_ORDER, METHODS, label
from lthpipe.results.html_page import markdown_to_html

# The lottery ticket, the method the reference study's "about 80%" is about.
REFERENCE_METHOD = "rewind"
# The thresholds the summary counts datasets at; the last is the reference study's claim.
THRESHOLDS = (0.5, 0.8)
CLAIM = 0.8
# Up to this many datasets, Spearman's p-value is exact (n! orders); above, the t approximation.
EXACT_N = 8
# Dataset traits the removable fraction is set beside, in table order, with their words.
TRAITS = {
    "rows": "rows", "features": "features after encoding", "classes": "classes",
    "features_per_row": "features per row", "majority_acc": "majority-class accuracy", "width": "chosen width",
    "dense_acc": "dense test accuracy",
}


# --- one member ----------------------------------------------------------------------


def removable(points: list[dict]) -> dict:
    """A method's removable fraction and its bracket from its one-shot points (module docstring)."""
    ordered = sorted(points, key=lambda p: -p["retained"])
    holding = None
    for point in ordered:
        if point["verdict"] != "holds":
            break
        holding = point
    failing = next((p for p in ordered if p["verdict"] == "fails"), None)
    return {
        "removable": 0.0 if holding is None else 1 - holding["retained"],
        "upper": 1.0 if failing is None else 1 - failing["retained"],
        "retained": None if holding is None else holding["retained"],
        "test_acc": None if holding is None else holding["mean"],
    }


def traits(data: dict, summary: dict) -> dict:
    """What the removable fraction is set beside, from the data record and the summary.
    Rows count every split of the first fold (after rows were dropped); the majority-class
    accuracy predicts each fold's most frequent training class for its test rows, mean
    over folds; the width is the hidden layers' (joined by '-' for several)."""
    rows = data["n_train"][0] + data["n_val"][0] + data["n_test"][0]
    hidden = summary["hidden"]
    return {
        "rows": rows,
        "features": data["n_features"],
        "real_features": (data.get("planted") or {}).get("real_features", data["n_features"]),
        "classes": data["n_classes"],
        "features_per_row": data["n_features"] / rows,
        "majority_acc": mean(_majority_accuracy(fold) for fold in data["classes"]),
        "width": hidden[0] if len(hidden) == 1 else "-".join(map(str, hidden)),
        "dense_acc": summary["dense_test_acc"],
        "dense_sd": summary["dense_test_std"],
        "units": summary["n_units"],
    }


def _majority_accuracy(classes: dict[str, dict[str, int]]) -> float:
    """Test accuracy of predicting the most frequent training class (the lower index on ties)."""
    majority = min(classes.values(), key=lambda c: (-c["train"], c["index"]))
    return majority["test"] / sum(c["test"] for c in classes.values())


def planted_means(record: dict) -> list[dict]:
    """The planted_inputs record's networks, averaged per (fraction, method)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in record["networks"]:
        groups[(row["fraction"], row["method"])].append(row)
    keys = ("retained", "planted_removed", "real_removed", "connection_auc", "input_auc")
    return [{"fraction": fraction, "method": method, "n": len(rows), **{k: mean(r[k] for r in rows) for k in keys}}
            for (fraction, method), rows in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1]))]


def member_about(suite: str, member: dict) -> dict:
    """What every member's record says of the member itself, whatever became of it."""
    return {"stage": "suite_member", "suite": suite, "dataset": member["name"], "origin": member["origin"],
            "checked": member["checked"], "base": member["base"], "planted": member["planted"]}


def member_record(suite: str, member: dict, check: dict | None, data: dict | None, summary: dict | None,
                  planted: dict | None) -> dict:
    """One member's line of its suite's summary: refused with the check's message, or
    its traits and each one-shot method's removable fraction."""
    record = member_about(suite, member)
    if check is not None and not check["accepted"]:
        return {**record, "status": "refused", "message": check["message"]}
    oneshot = summary["methods"].get("oneshot", {})
    return {
        **record, "status": "accepted", "message": None, "tolerance": summary["tolerance"],
        "traits": traits(data, summary),
        "methods": {m: removable(oneshot[m]["points"]) for m in CURVE_ORDER if m in oneshot},
        "planted_inputs": planted_means(planted) if planted is not None else None,
    }


def suite_member(suite: str, member: dict, check_path: Path | None, data_path: Path | None,
                 summary_path: Path | None, planted_path: Path | None, out: Path) -> None:
    """The suite_member rule: one member's record (member_record) from its files."""
    def read(path: Path | None) -> dict | None:
        return read_json(path) if path else None

    write_json(out, member_record(suite, member, read(check_path), read(data_path), read(summary_path),
                                  read(planted_path)))


# --- across members ------------------------------------------------------------------

STATUS_WORDS = {"refused": "refused", "failed": "failed", "not_run": "not run"}


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start:end + 1]:
            result[i] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(x: list[float], y: list[float]) -> dict:
    """Spearman's rho (Pearson's correlation of the ranks), n and its two-sided p-value:
    exact up to EXACT_N pairs (the share of the n! orders of y's ranks whose |rho| is
    at least the observed), the t approximation with n - 2 degrees of freedom above.
    rho and p are None with fewer than 3 pairs or a constant variable."""
    n = len(x)
    if n != len(y):
        raise ValueError(f"paired values of unequal length: {n} and {len(y)}")
    rx, ry = ranks(x), ranks(y)
    if n < 3 or len(set(rx)) == 1 or len(set(ry)) == 1:
        return {"rho": None, "n": n, "p": None}
    rho = _pearson(rx, ry)
    if n <= EXACT_N:
        as_extreme = sum(abs(_pearson(rx, list(order))) >= abs(rho) - 1e-12 for order in itertools.permutations(ry))
        return {"rho": rho, "n": n, "p": as_extreme / math.factorial(n)}
    t = rho * math.sqrt((n - 2) / max(1 - rho**2, 1e-300))
    return {"rho": rho, "n": n, "p": float(2 * stdtr(n - 2, -abs(t)))}


def _pearson(a: list[float], b: list[float]) -> float:
    ma, mb = mean(a), mean(b)
    cov = sum((u - ma) * (v - mb) for u, v in zip(a, b))
    return cov / math.sqrt(sum((u - ma) ** 2 for u in a) * sum((v - mb) ** 2 for v in b))


def distribution(values: list[float], upper: list[float]) -> dict:
    """The removable fractions of one method across datasets (`upper`: their brackets' tops)."""
    n = len(values)
    if n >= 2:
        quartiles = quantiles(values, n=4, method="inclusive")
    else:
        quartiles = [values[0] if values else None] * 3
    return {
        "n": n, "min": min(values, default=None), "q1": quartiles[0], "median": median(values) if n else None,
        "q3": quartiles[2], "max": max(values, default=None), "mean": mean(values) if n else None,
        "at_least": {f"{t:g}": sum(v >= t - 1e-12 for v in values) for t in THRESHOLDS},
        # The bracket's top at or below the threshold: a denser point clearly fails.
        "ruled_out": {f"{t:g}": sum(u <= t + 1e-12 for u in upper) for t in THRESHOLDS},
    }


def suite_answer(suite: dict, records: list[dict]) -> dict:
    """The cross-dataset numbers of a suite from its members' records."""
    accepted = [r for r in records if r["status"] == "accepted"]
    plain = [r for r in accepted if not r["planted"]]
    methods = [m for m in CURVE_ORDER if any(m in r["methods"] for r in plain)]
    by_method = {}
    for method in methods:
        rows = [r for r in plain if method in r["methods"]]
        lows = [r["methods"][method]["removable"] for r in rows]
        by_method[method] = {
            "distribution": distribution(lows, [r["methods"][method]["upper"] for r in rows]),
            "correlation": {t: spearman(lows, [float(r["traits"][t]) for r in rows]) for t in TRAITS
                            if all(isinstance(r["traits"][t], (int, float)) for r in rows)},
        }
    reference = REFERENCE_METHOD if REFERENCE_METHOD in methods else (methods[0] if methods else None)
    answer = {
        "stage": "suite_summary", "suite": suite["suite"], "reference_method": reference, "methods": by_method,
        "datasets": [r["dataset"] for r in plain],
        "members": records,
        # Members without numbers: refused by their data, failed, or not reached by a failed run.
        "refused": [{"dataset": r["dataset"], "origin": r["origin"], "message": r["message"], "status": r["status"]}
                    for r in records if r["status"] != "accepted"],
        "excluded": [{"member": key, "reason": reason} for key, reason in suite["excluded"]],
        "planted": planted_answer(accepted, reference) if any(r["planted"] for r in accepted) else None,
    }
    answer["headline"] = headline(answer)
    return answer


def headline(answer: dict) -> str:
    """One sentence: whether the reference study's "about 80%" holds across the suite, with its evidence."""
    method = answer["reference_method"]
    if method is None:
        return "No member of this suite finished, so the suite says nothing about the reference study's \"about 80%\"."
    d = answer["methods"][method]["distribution"]
    n, k = d["n"], d["at_least"][f"{CLAIM:g}"]
    ruled_out = d["ruled_out"][f"{CLAIM:g}"]
    if k == n:
        verdict = "holds across this suite"
    elif 2 * k >= n:
        verdict = "holds for most datasets of this suite, not all"
    elif k:
        verdict = "holds for a minority of this suite's datasets only"
    else:
        verdict = "holds for none of this suite's datasets"
    undecided = n - k - ruled_out
    return (
        f"The reference study's \"about 80% of the weights can go\" {verdict}: with the lottery ticket "
        f"({label(method)}), {k} of {n} datasets {_verb(k, 'keeps', 'keep')} the dense accuracy (95% paired "
        f"interval within the tolerance) at every fraction down to {1 - CLAIM:.0%} retained, {ruled_out} "
        f"clearly {_verb(ruled_out, 'loses', 'lose')} it at {1 - CLAIM:.0%} or more retained, and {undecided} "
        f"{_verb(undecided, 'is', 'are')} undecided; the median removable fraction is {d['median']:.0%} (range "
        f"{d['min']:.0%} to {d['max']:.0%})."
    )


def _verb(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def planted_answer(accepted: list[dict], method: str | None) -> dict:
    """Planted variants beside their base member: the removable fraction by factor, and
    how each method's masks treat planted inputs, per fraction (means over the bases)."""
    by_base = {r["dataset"]: r for r in accepted if not r["planted"]}
    variants = [r for r in accepted if r["planted"] and r["base"] in by_base]
    kinds = sorted({r["planted"]["kind"] for r in variants})
    removable_rows = []
    for base in sorted({r["base"] for r in variants}):
        for kind in kinds:
            row = {"base": base, "kind": kind, "factors": {0: _removable(by_base[base], method)}}
            for r in variants:
                if r["base"] == base and r["planted"]["kind"] == kind:
                    row["factors"][r["planted"]["factor"]] = _removable(r, method)
            removable_rows.append(row)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in variants:
        for point in r["planted_inputs"] or []:
            groups[(r["planted"]["kind"], r["planted"]["factor"], point["method"], point["fraction"])].append(point)
    keys = ("retained", "planted_removed", "real_removed", "connection_auc", "input_auc")
    inputs = [{"kind": kind, "factor": factor, "method": m, "fraction": fraction, "bases": len(points),
               **{k: mean(p[k] for p in points) for k in keys}}
              for (kind, factor, m, fraction), points in sorted(groups.items(), key=lambda kv: (
                  kv[0][0], kv[0][1], _method_order(kv[0][2]), -kv[0][3]))]
    shown = planted_methods(sorted({row["method"] for row in inputs}), method)
    return {"method": method, "removable": removable_rows, "inputs": inputs, "shown": shown}


def planted_methods(methods: list[str], reference: str | None) -> list[str]:
    """The methods whose masks the planted section shows: the ticket's magnitude mask,
    the random mask with its layer counts (the control), and masks found at init. The
    others share one of these masks (reinit) or prune whole units (dense_small); the
    summary's JSON keeps them all."""
    shown = {reference, "random_mask"} | {m for m in methods if m in METHODS and METHODS[m].at_init}
    return [m for m in CURVE_ORDER if m in shown and m in methods]


def _removable(record: dict, method: str | None) -> dict | None:
    return record["methods"].get(method)


def _method_order(method: str) -> int:
    return CURVE_ORDER.index(method) if method in CURVE_ORDER else len(CURVE_ORDER)


# --- writing ---------------------------------------------------------------------------


def _bracket(info: dict | None) -> str:
    if info is None:
        return "n/a"
    return f"[{info['removable']:.2f}, {info['upper']:.2f})"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def suite_markdown(answer: dict) -> str:
    """The suite's summary page."""
    method = answer["reference_method"]
    lines = [f"# Suite {answer['suite']}: how much of each network can go", "", answer["headline"], ""]
    plain = [r for r in answer["members"] if r["status"] == "accepted" and not r["planted"]]
    methods = list(answer["methods"])
    lines += [
        "## Per dataset", "",
        "Removable fraction per method as [removable, upper): the weights the data show can go (every "
        "fraction down to there holds: its 95% paired interval against the dense network lies within the "
        "tolerance), and the share at which a denser point already clearly fails (1.00: none fails). "
        "Width: the dense network's hidden width; dense accuracy: mean ± sd over units.", "",
        "| dataset | rows | features | classes | features per row | majority acc | width | dense acc | "
        + " | ".join(label(m) for m in methods) + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(methods),
    ]
    for r in plain:
        t = r["traits"]
        lines.append(
            f"| {r['dataset']} | {t['rows']} | {t['features']} | {t['classes']} | {t['features_per_row']:.3f} | "
            f"{t['majority_acc']:.3f} | {t['width']} | {t['dense_acc']:.3f} ± {t['dense_sd']:.3f} | "
            + " | ".join(_bracket(r["methods"].get(m)) for m in methods) + " |"
        )
    lines += ["", "## Across datasets", "",
              "Removable fraction across the datasets above (quartiles: inclusive method); how many datasets "
              "allow at least 50% and 80% of the weights to go, and in how many that is ruled out (a point "
              "removing at most 50% (80%) already clearly fails).", "",
              "| method | n | min | q1 | median | q3 | max | ≥ 50% | ≥ 80% | 50% ruled out | 80% ruled out |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        d = answer["methods"][m]["distribution"]
        lines.append(f"| {label(m)} | {d['n']} | {_share(d['min'])} | {_share(d['q1'])} | {_share(d['median'])} | "
                     f"{_share(d['q3'])} | {_share(d['max'])} | {d['at_least']['0.5']} | {d['at_least']['0.8']} | "
                     f"{d['ruled_out']['0.5']} | {d['ruled_out']['0.8']} |")
    if method is not None:
        correlation = answer["methods"][method]["correlation"]
        lines += ["", f"### The removable fraction against the traits ({label(method)})", "",
                  f"Spearman's rank correlation over the datasets above; p: two-sided (exact up to {EXACT_N} "
                  "datasets, the t approximation above).", "",
                  "| trait | rho | n | p |", "|---|---|---|---|"]
        for trait, c in correlation.items():
            rho = "-" if c["rho"] is None else f"{c['rho']:+.2f}"
            p = "-" if c["p"] is None else f"{c['p']:.3f}"
            lines.append(f"| {TRAITS[trait]} | {rho} | {c['n']} | {p} |")
    if answer["refused"] or answer["excluded"]:
        lines += ["", "## Members that did not run", ""]
        lines += [f"- {r['dataset']} ({r['origin']}): {STATUS_WORDS[r['status']]}: {r['message']}"
                  for r in answer["refused"]]
        lines += [f"- {e['member']}: excluded by the config: {e['reason']}" for e in answer["excluded"]]
    if answer["planted"]:
        lines += _planted_markdown(answer["planted"])
    return "\n".join(lines) + "\n"


def _planted_markdown(planted: dict) -> list[str]:
    method = planted["method"]
    factors = sorted({f for row in planted["removable"] for f in row["factors"]})
    lines = ["", "## Planted irrelevant inputs", "",
             f"Removable fraction of {label(method)} as planted inputs are added (k × the real features; "
             "[removable, upper) as above).", "",
             "| dataset | planted | " + " | ".join(f"k = {f}" for f in factors) + " |",
             "|---|---|" + "---|" * len(factors)]
    for row in planted["removable"]:
        cells = [_bracket(row["factors"].get(f)) if f in row["factors"] else "" for f in factors]
        lines.append(f"| {row['base']} | {row['kind']} | " + " | ".join(cells) + " |")
    lines += ["", "What the masks removed of the first layer's connections, planted against real inputs, and the ROC "
              "AUC of \"connection survives\" (and of an input's number of surviving connections) as a detector of "
              "real inputs; means over the datasets and their networks. The connection AUC is 0.5 + (planted removed "
              "- real removed) / 2 by construction (a 0/1 score). Shown: "
              + ", ".join(label(m) for m in planted["shown"]) + "; summary.json has every method.", "",
              "| planted | k | method | fraction | retained | planted removed | real removed | connection AUC | "
              "input AUC |", "|---|---|---|---|---|---|---|---|---|"]
    for row in (r for r in planted["inputs"] if r["method"] in planted["shown"]):
        lines.append(f"| {row['kind']} | {row['factor']} | {row['method']} | {row['fraction']:.3f} | "
                     f"{row['retained']:.3f} | {row['planted_removed']:.3f} | {row['real_removed']:.3f} | "
                     f"{row['connection_auc']:.3f} | {row['input_auc']:.3f} |")
    return lines


def suite_summary(suite: dict, member_paths: list[Path], out_md: Path, out_html: Path, out_png: Path,
                  out_json: Path) -> None:
    """The suite_summary rule: the suite's numbers (JSON), its page (markdown, HTML) and figure."""
    write_summary(suite_answer(suite, [read_json(p) for p in member_paths]), out_md, out_html, out_png, out_json)


def write_summary(answer: dict, out_md: Path, out_html: Path, out_png: Path, out_json: Path) -> None:
    text = suite_markdown(answer)
    write_text(out_md, text)
    write_text(out_html, markdown_to_html(text, f"lthpipe suite {answer['suite']}"))
    suite_plots.suite_plot(answer, out_png)
    write_json(out_json, answer)


def suite_planted(suite: dict, member_paths: list[Path], out_png: Path) -> None:
    """The suite_planted rule: the planted-inputs figure."""
    suite_plots.planted_plot(suite_answer(suite, [read_json(p) for p in member_paths]), out_png)
