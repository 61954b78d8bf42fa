"""The LeNet-300-100 replication of Frankle & Carbin (2019), kept beside the code
and rebuilt from what is kept.

    python -m lthpipe.replication --collect RUN/artifacts/mnist_lenet --name NAME  # copy a run's records, rebuild
    python -m lthpipe.replication                                                   # rebuild from the kept records

``--collect`` copies a replication run's JSON records (no tensors) into
``docs/replication/records/NAME/`` (the data, the dense networks, every level's
ticket and controls) with ``costs.json``: each job's start, wall time, CPU time and
peak memory, read from the job logs. Runs add up: each run's networks are keyed by
seed, so a run of more seeds (with the same data split, checked) joins the others;
runs in another numerics mode (``numerics: cross_cpu``, read from each record) form
their own set, whose claims are set beside the main set's. The rebuild reads those
files alone and writes ``results.md`` (the per-level table, the paper's claims one by
one, the cost) and ``lenet.png`` (test accuracy and the early-stopping iteration
against the share of weights retained, the tickets against the controls, in the
default numerics mode). Free of torch.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from statistics import fmean, stdev

from lthpipe.artifacts import read_json, write_json, write_text
from lthpipe.jobs import job_usage
from lthpipe.lottery import color, label, marker
from lthpipe.stats import paired_difference

OUT = Path(__file__).resolve().parents[1] / "docs" / "replication"
TICKET = "rewind"
CONTROLS = ("reinit", "random_mask", "oneshot")
MAIN_MODE = "machine"  # the numerics mode of the table and the figure (lthpipe.numerics)
# What must agree between runs for their networks to be pooled: the data split.
SAME_DATA = ("kind", "scheme", "seed", "n_train", "n_val", "n_test", "classes", "normalization")
# A job log's first line: "2026-12-04 21:13:13,141 lthpipe INFO rule imp, ..."
LOG_START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


# ---- collecting a run's records ---------------------------------------------------


def collect(run: Path, records: Path) -> list[Path]:
    """Copy the JSON records of a replication run (its dataset folder under
    artifacts/) into `records`, keeping their relative paths, and the jobs' costs
    from their logs; returns the records copied. What the run has not finished yet
    is simply absent."""
    run = Path(run)
    wanted = [run / "data" / "data.json", run / "dense" / "model.json",
              *sorted(run.glob("imp/level*/model.json")), *sorted(run.glob("imp/level*/controls.json"))]
    copied = []
    for source in (p for p in wanted if p.exists()):
        target = records / source.relative_to(run)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.append(target)
    write_json(records / "costs.json", job_costs(run / "logs"))
    return copied


def job_costs(logs: Path) -> dict[str, dict]:
    """Each finished job's start (ISO time), wall and CPU seconds and peak memory, by
    its log's path under `logs` (e.g. "imp/level03.log")."""
    costs = {}
    for log in sorted(Path(logs).rglob("*.log")):
        try:
            wall, cpu, peak = job_usage(log)
        except ValueError:
            continue  # still running
        first = LOG_START.match(log.read_text().split("\n", 1)[0])
        start = f"{first[1].replace(' ', 'T')}.{first[2]}" if first else None
        costs[str(log.relative_to(logs))] = {"start": start, "wall_s": wall, "cpu_s": cpu, "peak_mb": peak}
    return costs


# ---- reading the committed records ------------------------------------------------


@dataclass(frozen=True)
class Network:
    method: str  # "dense", or a lottery method
    seed: int
    level: int  # 0: the dense network
    retained: float  # share of the weights kept, 0-1
    test_acc: float  # at the early-stopping point
    best_iteration: int  # the early-stopping point: minimum validation loss
    numerics: str  # the numerics mode it trained in
    run: str  # the kept run it comes from


def runs(records: Path) -> list[Path]:
    """The kept runs: each folder of `records` with a data record."""
    return sorted(p.parent.parent for p in records.glob("*/data/data.json"))


def load_networks(records: Path) -> list[Network]:
    """Every network of the kept runs (first data split only: the paper's setting).
    Runs that split the data differently, or train the same network twice in one
    numerics mode, are refused."""
    folders = runs(records)
    if not folders:
        raise FileNotFoundError(f"no kept run in {records} (a folder per run, each with data/data.json)")
    first = read_json(folders[0] / "data" / "data.json")
    networks: list[Network] = []
    for run in folders:
        data = read_json(run / "data" / "data.json")
        differ = [k for k in SAME_DATA if data.get(k) != first.get(k)]
        if differ:
            raise ValueError(f"runs {folders[0].name} and {run.name} split the data differently: {', '.join(differ)}")
        dense = read_json(run / "dense" / "model.json")
        m = dense["metrics"]
        networks += [Network("dense", seed, 0, 1.0, acc, it, dense["compute"]["numerics"], run.name)
                     for seed, acc, it in zip(dense["seeds"], m["test_acc"], m["best_iteration"])]
        for path in sorted(run.glob("imp/level*/*.json")):
            record = read_json(path)
            m = record["metrics"]
            networks += [Network(n["method"], n["seed"], record["level"], n["retained"], m["test_acc"][i],
                                 m["best_iteration"][i], record["compute"]["numerics"], run.name)
                         for i, n in enumerate(record["networks"]) if n.get("fold", 0) == 0]
    seen: dict[tuple, str] = {}
    for n in networks:
        key = (n.numerics, n.method, n.level, n.seed)
        if key in seen:
            raise ValueError(f"{n.method} of seed {n.seed} at level {n.level} ({n.numerics}) is in runs "
                             f"{seen[key]} and {n.run}")
        seen[key] = n.run
    return networks


def by_mode(networks: list[Network]) -> dict[str, list[Network]]:
    """The networks per numerics mode, the main mode first."""
    modes = sorted({n.numerics for n in networks}, key=lambda mode: (mode != MAIN_MODE, mode))
    return {mode: [n for n in networks if n.numerics == mode] for mode in modes}


class Results:
    """The networks by (method, level), each a {seed: Network}."""

    def __init__(self, networks: list[Network]) -> None:
        self.by_point: dict[tuple[str, int], dict[int, Network]] = defaultdict(dict)
        for n in networks:
            self.by_point[(n.method, n.level)][n.seed] = n

    def get(self, method: str, level: int) -> dict[int, Network]:
        return self.by_point.get(("dense", 0) if level == 0 else (method, level), {})

    def levels(self) -> list[int]:
        return sorted({level for _, level in self.by_point})

    def methods(self) -> list[str]:
        return [m for m in (TICKET, *CONTROLS) if any(method == m for method, _ in self.by_point)]

    def retained(self, level: int) -> float | None:
        nets = self.get(TICKET, level)
        return fmean(n.retained for n in nets.values()) if nets else None

    def paired(self, a: tuple[str, int], b: tuple[str, int], value: Callable[[Network, Network], float]):
        """value(a's network, b's network) over the seeds both have, with its mean and
        95% interval; None when fewer than two seeds pair."""
        a_nets, b_nets = self.get(*a), self.get(*b)
        seeds = sorted(set(a_nets) & set(b_nets))
        if len(seeds) < 2:
            return None
        values = [value(a_nets[s], b_nets[s]) for s in seeds]
        return paired_difference(values, [0.0] * len(values))


# ---- the table, the claims, the cost ----------------------------------------------


def _mean_sd(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    if not values:
        return ""
    mean = fmean(values) * scale
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {stdev(values) * scale:.{digits}f}"


def level_table(results: Results) -> list[str]:
    methods = results.methods()
    controls = [m for m in methods if m != TICKET]
    head = (["level", "retained"] + [f"test acc: {_short(m)}" for m in methods]
            + [f"early stop: {_short(m)}" for m in methods])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for level in results.levels():
        row_methods = [TICKET] + controls
        retained = results.retained(level)
        cells = [f"{level}" + (" (dense)" if level == 0 else ""), f"{100 * retained:.1f}%" if retained else ""]
        cells += [_mean_sd([n.test_acc for n in results.get(m, level).values()], 100) if level or m == TICKET else ""
                  for m in row_methods]
        cells += [_mean_sd([n.best_iteration for n in results.get(m, level).values()], digits=0)
                  if level or m == TICKET else "" for m in row_methods]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _short(method: str) -> str:
    return {"rewind": "ticket", "reinit": "reinit", "random_mask": "random mask", "oneshot": "one-shot mask"}[method]


@dataclass(frozen=True)
class Claim:
    """One quantitative statement of the paper, and how our networks test it.

    `expect` is what the statement needs of our 95% interval: "above" or "below"
    `null` (no effect), "equal" (covering the paper's `value`), or "not_below" (not
    below `null`: the interval reaches it). For "above" and "below", a `value`
    also asks for the paper's size: covered by the interval, or, with `at_least`,
    reached by it."""

    statement: str
    paper: str
    unit: str  # how ours is written: "pct", "points" (accuracy points), "ratio", "share"
    compute: Callable[[Results], object]  # an object with mean, low and high, or None
    expect: str
    value: float | None = None
    null: float = 0.0
    at_least: bool = False

    def ours(self, results: Results) -> tuple[str, str]:
        diff = self.compute(results)
        if diff is None:
            return "not run yet", "—"
        return _interval(diff, self.unit), self.verdict(diff.low, diff.high)

    def verdict(self, low: float, high: float) -> str:
        if self.expect == "equal":
            return "reproduced" if low <= self.value <= high else "not reproduced"
        if self.expect == "not_below":
            return "reproduced" if high >= self.null else "not reproduced (below)"
        beyond = low > self.null if self.expect == "above" else high < self.null
        opposite = high < self.null if self.expect == "above" else low > self.null
        if not beyond:
            return "opposite" if opposite else "not reproduced (the interval includes no effect)"
        if self.value is None:
            return "reproduced"
        size = high >= self.value if self.at_least else low <= self.value <= high
        return "reproduced" if size else "direction reproduced, size differs"


def _interval(diff, unit: str) -> str:
    scale, fmt = {"pct": (100, "{:.2f}%"), "points": (100, "{:+.2f}"), "ratio": (1, "{:.2f}×"),
                  "share": (100, "{:.0f}%")}[unit]
    mean, low, high = (fmt.format(v * scale) for v in (diff.mean, diff.low, diff.high))
    return f"{mean} [{low}, {high}]"


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


def _ratio(results: Results, a: tuple[str, int], b: tuple[str, int]) -> Interval | None:
    """b's early-stopping iteration over a's, per seed: the geometric mean and its
    95% interval (a t-interval of the log ratios)."""
    diff = results.paired(a, b, lambda x, y: math.log(y.best_iteration / x.best_iteration))
    return None if diff is None else Interval(math.exp(diff.mean), math.exp(diff.low), math.exp(diff.high))


def _sooner(results: Results, level: int) -> Interval | None:
    """How much sooner the ticket of `level` stops than the dense network: 1 - its
    iteration over the dense network's (per seed, then the mean and interval)."""
    diff = results.paired((TICKET, level), ("dense", 0), lambda t, d: 1 - t.best_iteration / d.best_iteration)
    return None if diff is None else Interval(diff.mean, diff.low, diff.high)


def _accuracy_gap(a: tuple[str, int], b: tuple[str, int]) -> Callable[[Results], object]:
    return lambda results: results.paired(a, b, lambda x, y: x.test_acc - y.test_acc)


def _dense_accuracy(results: Results):
    nets = results.get("dense", 0)
    if len(nets) < 2:
        return None
    values = [n.test_acc for n in nets.values()]
    return paired_difference(values, [0.0] * len(values))


# Levels of config/paper_lenet.yaml (20% of the hidden layers' weights, 10% of the
# output layer's, per level): what share of the weights each keeps.
LEVEL_OF = {80.0: 1, 51.3: 3, 21.1: 7, 13.5: 9, 7.0: 12, 3.6: 15, 2.9: 16, 1.9: 18}

CLAIMS = (
    Claim("Dense test accuracy (Figure 3)", "≈ 98%", "pct", _dense_accuracy, "equal", 0.98),
    Claim("At 21.1%, tickets reach minimum validation loss 38% sooner than the dense network", "38% sooner",
          "share", lambda r: _sooner(r, LEVEL_OF[21.1]), "above", 0.38),
    Claim("At 13.5%, tickets are more than 0.3 points more accurate than the dense network", "> +0.3 points",
          "points", _accuracy_gap((TICKET, LEVEL_OF[13.5]), ("dense", 0)), "above", 0.003, at_least=True),
    Claim("At 3.6%, tickets are back to the dense network's accuracy", "± 0 points", "points",
          _accuracy_gap((TICKET, LEVEL_OF[3.6]), ("dense", 0)), "equal", 0.0),
    Claim("At 2.9%, tickets are still not below the dense network", "≥ 0 points", "points",
          _accuracy_gap((TICKET, LEVEL_OF[2.9]), ("dense", 0)), "not_below"),
    *(Claim(f"At {share}%, re-initialised tickets are below the dense network (from 21.1% on)", "< 0 points",
            "points", _accuracy_gap(("reinit", LEVEL_OF[share]), ("dense", 0)), "below")
      for share in (21.1, 7.0, 3.6, 1.9)),
    Claim("At 21.1%, the ticket reaches minimum validation loss 2.51× sooner than its re-initialisation",
          "2.51×", "ratio", lambda r: _ratio(r, (TICKET, LEVEL_OF[21.1]), ("reinit", LEVEL_OF[21.1])), "above",
          2.51, null=1.0),
    Claim("At 21.1%, the ticket is about 0.5 points more accurate than its re-initialisation", "≈ +0.5 points",
          "points", _accuracy_gap((TICKET, LEVEL_OF[21.1]), ("reinit", LEVEL_OF[21.1])), "above", 0.005),
)


def claims_table(modes: dict[str, Results]) -> list[str]:
    """The claims, with our interval and verdict in each numerics mode (a column pair each)."""
    head = ["claim (Frankle & Carbin 2019, LeNet-300-100)", "paper"]
    for mode, results in modes.items():
        head += [f"ours, {mode} ({len(results.get('dense', 0))} seeds): mean [95% interval]", f"verdict, {mode}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for claim in CLAIMS:
        cells = [claim.statement, claim.paper]
        for results in modes.values():
            cells += claim.ours(results)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def cost_lines(costs: dict[str, dict]) -> list[str]:
    """Each kind of job's wall and CPU time, and the whole run's wall time from the
    first job's start to the last one's end."""
    if not costs:
        return ["No job logs were collected."]
    groups: dict[str, list[dict]] = defaultdict(list)
    for name, cost in costs.items():
        groups[name.split("/")[0].removesuffix(".log")].append(cost)
    lines = ["| job | count | wall time per job (s) | CPU time per job (s) | peak memory (MB) |", "|---|---|---|---|---|"]
    for kind, jobs in sorted(groups.items()):
        walls, cpus = [c["wall_s"] for c in jobs], [c["cpu_s"] for c in jobs]
        lines.append(f"| {kind} | {len(jobs)} | {_range(walls)} | {_range(cpus)} | {max(c['peak_mb'] for c in jobs)} |")
    timed = [c for c in costs.values() if c["start"]]
    if timed:
        start = min(datetime.fromisoformat(c["start"]) for c in timed)
        end = max(datetime.fromisoformat(c["start"]).timestamp() + c["wall_s"] for c in timed)
        lines += ["", f"First job started {start.isoformat(sep=' ', timespec='seconds')}; the last finished job ended "
                  f"{(end - start.timestamp()) / 60:.1f} minutes later."]
    return lines


def _range(values: list[float]) -> str:
    return f"{min(values):.0f}" if len(values) == 1 else f"{fmean(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def markdown(modes: dict[str, Results], costs: dict[str, dict[str, dict]]) -> str:
    """The page: the main mode's per-level table, the other modes' beside it, the claims
    in every mode, and each run's cost."""
    results = modes[MAIN_MODE]
    n_seeds = len(results.get("dense", 0))
    others = []
    for mode, other in modes.items():
        if mode != MAIN_MODE:
            others += [f"### The same in numerics mode {mode} ({len(other.get('dense', 0))} seeds)", "",
                       *level_table(other), ""]
    lines = [
        "# LeNet-300-100 replication: results",
        "",
        "Rebuilt by `python -m lthpipe.replication` from `records/` alone (do not edit by hand).",
        "",
        f"## Per level ({n_seeds} seeds)",
        "",
        "Test accuracy (%) at the early-stopping point (minimum validation loss) and that point (iteration), "
        "mean ± standard deviation over seeds. The controls train at the paper's plotted levels only.",
        "",
        *level_table(results),
        "",
        *others,
        "## Against the paper, claim by claim",
        "",
        "Ours: the mean over seeds and a 95% Student-t interval (paired with the dense network or the ticket of "
        "the same seed where the claim compares two). Reproduced: the interval excludes no effect in the "
        "paper's direction and covers the paper's number; direction only: it excludes no effect but not the "
        "paper's size; for 'equal' claims, the interval covers the paper's number.",
        "",
        *claims_table(modes),
        "",
        "## Cost",
        "",
    ]
    for run, run_costs in costs.items():
        lines += [f"### Run {run}", "", *cost_lines(run_costs), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ---- the figure -------------------------------------------------------------------


def figure(results: Results):
    from lthpipe.plots.common import _figure, _legend_below, _log_ticks

    fig = _figure(10, 4.2)
    acc_ax, stop_ax = fig.subplots(1, 2)
    dense = results.get("dense", 0)
    for ax, value, scale in ((acc_ax, "test_acc", 100), (stop_ax, "best_iteration", 1)):
        if dense:
            dense_mean = fmean(getattr(n, value) for n in dense.values()) * scale
            ax.axhline(dense_mean, color=color("dense"), linestyle=":", linewidth=1.2, label=label("dense"))
        for method in results.methods():
            points = [(lvl, results.get(method, lvl)) for lvl in results.levels() if lvl and results.get(method, lvl)]
            if method == TICKET and dense:
                points.insert(0, (0, dense))
            xs = [100 * fmean(n.retained for n in nets.values()) for _, nets in points]
            ys = [[getattr(n, value) * scale for n in nets.values()] for _, nets in points]
            ax.errorbar(xs, [fmean(y) for y in ys], yerr=[stdev(y) if len(y) > 1 else 0 for y in ys],
                        color=color(method), marker=marker(method), linestyle="-" if method == TICKET else "none",
                        capsize=3, markersize=5, label=label(method))
        ax.set_xscale("log")
        ax.xaxis.set_inverted(True)
        ax.set_xlabel("weights retained (%, log scale)")
        _log_ticks(ax.xaxis)
        ax.grid(True, which="major", alpha=0.3)
    acc_ax.set_ylabel("test accuracy at early stop (%)")
    stop_ax.set_ylabel("early-stopping iteration (min. validation loss)")
    acc_ax.set_title("accuracy (mean ± sd over seeds)", fontsize=10)
    stop_ax.set_title("how soon it learns (mean ± sd over seeds)", fontsize=10)
    fig.suptitle("LeNet-300-100 on MNIST: iterative pruning, tickets against controls", fontsize=11)
    _legend_below(fig, [acc_ax, stop_ax], ncols=4)
    return fig


# ---- the command ------------------------------------------------------------------


def rebuild(out: Path) -> None:
    """results.md and lenet.png in `out` from `out/records` alone."""
    from lthpipe.plots.common import _save

    records = out / "records"
    modes = {mode: Results(networks) for mode, networks in by_mode(load_networks(records)).items()}
    costs = {run.name: read_json(run / "costs.json") if (run / "costs.json").exists() else {} for run in runs(records)}
    write_text(out / "results.md", markdown(modes, costs))
    _save(figure(modes[MAIN_MODE]), out / "lenet.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lthpipe.replication", description=__doc__.split("\n\n")[0])
    parser.add_argument("--collect", type=Path, metavar="RUN",
                        help="a replication run's dataset folder (artifacts/mnist_lenet) to copy the records from")
    parser.add_argument("--name", help="the kept run's name (its folder under records/), with --collect")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the records and results live (default {OUT})")
    args = parser.parse_args(argv)
    if args.collect:
        if not args.name:
            parser.error("--collect needs --name: the kept run's folder under records/")
        copied = collect(args.collect, args.out / "records" / args.name)
        print(f"copied {len(copied)} records from {args.collect} to {args.out / 'records' / args.name}")
    rebuild(args.out)
    print(f"wrote {args.out / 'results.md'} and {args.out / 'lenet.png'}")


if __name__ == "__main__":
    main()
