# Configuration, wildcard constraints and the named functions the rules use.
import functools
import math
import time
from pathlib import Path

from lthpipe import feasibility, rule_functions
from lthpipe.artifacts import fraction_tag, level_tag, nearest_fraction, read_json
from lthpipe.config import (
    ConfigError,
    export_targets,
    inference_settings,
    numerics_mode,
    resolve,
)
from lthpipe.lottery import METHODS
from lthpipe.datasets import estimated_mb, source_files
from lthpipe.settings import to_params
from lthpipe.suites import resolve_suites

try:
    STUDIES = resolve(config, files=workflow.configfiles)
    SUITES = resolve_suites(config)
    # What no machine could run (a dataset's own memory limit); what this machine cannot
    # run is checked once the executor is known (machine_checked).
    feasibility.check(STUDIES, config.get("device", "auto"), local=False)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None


@functools.cache
def machine_checked():
    """Refuse what the machine that runs the jobs cannot run (a CUDA device, memory),
    before any job: asked by every job's resources while the DAG is built, when
    Snakemake knows whether jobs run here. Under a cluster executor each job parses
    this file again on its node (remote mode), and checks that node."""
    try:
        feasibility.check(STUDIES, config.get("device", "auto"), local=not on_cluster() or workflow.remote_exec)
    except ConfigError as err:
        raise WorkflowError(f"invalid configuration: {err}") from None
    return True


# Each rule's `code` param: the digest of the lthpipe modules its function can run,
# derived from the imports (lthpipe.provenance), so editing a module reruns exactly
# the jobs that can run it. jobs.py and worker.py (where and how a job runs) are
# imported by no rule's function: editing them reruns nothing.
code_of = rule_functions.code
EXPORTS = export_targets(config)
INFERENCE = inference_settings(config)
INFERENCE_DATASETS = config.get("inference", {}).get("datasets", [])
# A param of every torch rule, since it sets the bits of every product (lthpipe.numerics).
NUMERICS = numerics_mode(config)
# Suite members whose data is checked first: they run only when accepted, through their
# suite's summary (rules/suites.smk), never as targets of their own.
CHECKED = {m.name for s in SUITES.values() for m in s.members if m.checked}
# Members whose jobs run as group jobs under a cluster executor (suite key group_jobs).
GROUPED = {m.name for s in SUITES.values() if s.group_jobs for m in s.members if m.checked}


wildcard_constraints:
    # Only configured dataset names, so no path built from a wildcard leaves artifacts/.
    dataset="|".join(STUDIES),
    # Only configured suites; with none, a pattern that matches nothing.
    suite="|".join(SUITES) or r"(?!x)x",
    width=r"[1-9][0-9]*",
    # Exactly the tags fraction_tag gives the fractions in (0, 1]: 0.001 to 1.000.
    fraction=r"1\.000|0\.(?!000)[0-9]{3}",
    # Exactly the tags level_tag gives levels 1 to 99.
    level=r"(?!00)[0-9]{2}",
    # Rewind points of the instability analysis: integers without leading zeros.
    at=r"0|[1-9][0-9]*",
    method="|".join(METHODS),
    seed=r"[0-9]+",


def study(wildcards):
    return STUDIES[wildcards.dataset]


# Each rule's settings, as one plain dict param: Snakemake's params trigger reruns
# exactly the jobs whose settings changed.
def data_settings(wildcards):
    return study(wildcards).data.to_params()


def width_settings(wildcards):
    return to_params(study(wildcards).width_settings())


def dense_settings(wildcards):
    return to_params(study(wildcards).dense_settings(hidden_layers(wildcards)))


def prune_settings(wildcards):
    return to_params(study(wildcards).prune_settings(float(wildcards.fraction)))


def retrain_settings(wildcards):
    return to_params(study(wildcards).retrain_settings())


def level_settings(wildcards):
    """The ticket's job of a level: the ticket alone."""
    return to_params(study(wildcards).level_settings(int(wildcards.level)).ticket())


def control_settings(wildcards):
    """The controls' job of a level: every configured method but the ticket."""
    return to_params(study(wildcards).level_settings(int(wildcards.level)).controls())


def spawn_settings(wildcards):
    return to_params(study(wildcards).spawn_settings(int(wildcards.at)))


def instability_records(wildcards):
    """One record per configured rewind point of the instability analysis."""
    ats = study(wildcards).settings.instability.at
    return [f"artifacts/{wildcards.dataset}/instability/at{k}.json" for k in ats]


def report_settings(wildcards):
    return to_params(study(wildcards).report_settings())


def study_about(wildcards):
    """What the report's captions say about a dataset's study."""
    s = study(wildcards).settings
    split = study(wildcards).data.split
    budget = f"{s.train.iterations} iterations" if s.train.iterations else f"{s.train.epochs} epochs"
    return {
        "seeds": len(s.seeds), "splits": split.resplits, "fractions": ", ".join(f"{f:g}" for f in s.fractions),
        "methods": ", ".join(s.methods), "pruning": s.pruning, "imp_levels": s.imp.levels,
        "train": f"{budget}, {s.train.optimizer} lr {s.train.lr:g}, batch {s.train.batch_size}, "
        f"early stopping on {s.train.early_stopping.replace('_', ' ')}",
        "tolerance": s.summary_tolerance,
    }


def training_threads(wildcards):
    return study(wildcards).settings.threads


def source_inputs(wildcards):
    """The files a dataset reads (CSV, Parquet): inputs of its data job, so editing
    one reruns that dataset's branch."""
    return source_files(study(wildcards).data.source)


# Resources follow the data: every job of a dataset asks for memory and wall time
# from the size of its data in memory (the source's estimate, times the number of
# splits), unless the dataset sets its own. A job holds python and torch (about
# 0.7-0.9 GB) and a few copies of the data; its wall time grows with the data and
# the training budget (README, "Resources").
def data_mb(wildcards):
    data = study(wildcards).data
    return data.source.loaded_mb() * data.split.resplits


def data_mem_mb(wildcards):
    machine_checked()
    data = study(wildcards).data
    return study(wildcards).resources.mem_mb or estimated_mb(data.source, data.split.resplits)


def data_runtime(wildcards):
    return study(wildcards).resources.runtime or 15


def mem_mb(wildcards):
    machine_checked()
    s = study(wildcards)
    largest_stack = max(mb for _, mb in feasibility.training_estimates(s).values())
    return s.resources.mem_mb or max(1000 + 3 * math.ceil(data_mb(wildcards)), largest_stack)


def runtime(wildcards):
    train = study(wildcards).settings.train
    # A training budget in passes over the data; iterations count in thousands.
    passes = train.epochs if train.iterations is None else train.iterations / 1000
    return study(wildcards).resources.runtime or 15 + math.ceil(data_mb(wildcards) * passes / 20)


def figure_fraction(wildcards):
    """The fraction the decision-region figure shows: the configured one nearest 0.2."""
    return fraction_tag(nearest_fraction(study(wildcards).settings.fractions, 0.2))


def width_results(wildcards):
    return [f"artifacts/{wildcards.dataset}/width/w{w}.json" for w in study(wildcards).settings.widths]


def selection_file(wildcards):
    """Waits for the width search (a checkpoint) and returns its selection file."""
    return checkpoints.select_width.get(dataset=wildcards.dataset).output.selection


def after_width_search(**paths):
    """Input function of a stage downstream of the width search (a checkpoint).

    It waits for the search but does not take the selection file as an input:
    these stages depend on the chosen width (a param of train_dense), not on the
    file's date. Snakemake re-evaluates every job whose input function waits on
    the checkpoint once the search is done, so extending the width grid without
    changing the choice reruns nothing here. A dataset with fixed hidden widths
    has no search to wait for."""

    def inputs(wildcards):
        if study(wildcards).searches_width:
            selection_file(wildcards)
        return {name: path.format(**wildcards) for name, path in paths.items()}

    return inputs


def hidden_layers(wildcards):
    """The hidden widths of the dense network: fixed in the config, or chosen by the search."""
    fixed = study(wildcards).settings.hidden
    return list(fixed) if fixed is not None else [read_json(selection_file(wildcards))["width"]]


def fraction_files(wildcards, stage, name):
    tags = [fraction_tag(f) for f in study(wildcards).settings.fractions]
    return [f"artifacts/{wildcards.dataset}/{stage}/f{tag}/{name}" for tag in tags]


def prune_records(wildcards):
    return fraction_files(wildcards, "prune", "masks.json")


def retrain_records(wildcards):
    return fraction_files(wildcards, "retrain", "model.json")


def retrain_models(wildcards):
    return fraction_files(wildcards, "retrain", "model.pt")


def prune_masks(wildcards):
    return fraction_files(wildcards, "prune", "masks.pt")


def inference_params(wildcards):
    return to_params(INFERENCE)


def previous_level(wildcards):
    """Level 1 prunes the dense network; level k the ticket of level k-1."""
    level = int(wildcards.level)
    if level == 1:
        return f"artifacts/{wildcards.dataset}/dense/model.pt"
    return f"artifacts/{wildcards.dataset}/imp/level{level_tag(level - 1)}/model.pt"


def level_records(wildcards):
    """Every level's ticket record, and the controls' record of the levels that have them."""
    imp = study(wildcards).settings.imp
    folder = f"artifacts/{wildcards.dataset}/imp"
    tickets = [f"{folder}/level{level_tag(k)}/model.json" for k in range(1, imp.levels + 1)]
    return tickets + [f"{folder}/level{level_tag(k)}/controls.json" for k in imp.levels_with_controls()]


def aggregate_inputs(wildcards):
    inputs = {
        "dense": f"artifacts/{wildcards.dataset}/dense/model.json",
        "data": f"artifacts/{wildcards.dataset}/data/data.json",
        "pruned": prune_records(wildcards),
        "retrained": retrain_records(wildcards),
        "levels": level_records(wildcards),
    }
    if study(wildcards).searches_width:
        inputs["selection"] = f"artifacts/{wildcards.dataset}/width/selection.json"
    return inputs


def report_figure(name, subcategory, figure):
    """A per-dataset figure of the HTML report, with its caption (report/<name>.rst)."""
    return report(
        f"artifacts/{{dataset}}/{name}.png",
        caption=f"../report/{name}.rst",
        category="{dataset}",
        subcategory=subcategory,
        labels={"dataset": "{dataset}", "figure": figure},
    )


def dataset_summaries(wildcards):
    """The summaries of the datasets of the config's `datasets` (suites report their own)."""
    return [f"artifacts/{name}/summary.json" for name in STUDIES if name not in CHECKED]


def dataset_outputs(name):
    """What a run makes of one dataset: its figures, curve table and summary."""
    s = STUDIES[name]
    outputs = [f"artifacts/{name}/{f}" for f in ("curve.png", "curve.csv", "summary.json")]
    if s.searches_width:
        outputs.append(f"artifacts/{name}/width.png")
    if s.settings.fractions:
        outputs.append(f"artifacts/{name}/decision_regions.png")
    return outputs


def final_outputs():
    plain = [name for name in STUDIES if name not in CHECKED]
    outputs = ["artifacts/summary.md", "artifacts/summary.png"] if plain else []
    for name in plain:
        outputs += dataset_outputs(name)
    outputs += suite_outputs()
    outputs += [f"artifacts/{name}/{f}" for name in INFERENCE_DATASETS for f in ("inference.json", "inference.png")]
    # The opt-in analyses (config/other_ways.yaml): instability, aligned overlap.
    outputs += [f"artifacts/{name}/instability.png" for name, s in STUDIES.items() if s.settings.instability.at]
    outputs += [f"artifacts/{name}/aligned_overlap.png" for name, s in STUDIES.items() if s.settings.aligned_overlap]
    outputs += [
        f"artifacts/{t.dataset}/export/f{fraction_tag(t.fraction)}/{t.method}/seed{t.seed}/compact.onnx" for t in EXPORTS
    ]
    return outputs


# When this run started: a member's job log written since then is this run's.
RUN_STARTED = time.time()


def summarize_failed_suites():
    """After a failed run, each suite with a failed member gets its summary anyway: the
    members that finished, and each failed one with its error (lthpipe.suite_failures)."""
    if not SUITES:
        return
    from lthpipe.suite_failures import after_failure

    for name, suite in SUITES.items():
        failed = after_failure(suite.to_params(), RUN_STARTED)
        if failed:
            print(f"lthpipe: suite {name}: {', '.join(failed)} failed; artifacts/suites/{name}/summary.md "
                  "lists them beside the members that finished")


def results_message():
    """Where a finished run's results are, for the end of Snakemake's output."""
    lines = ["", "lthpipe: results"]
    for path in ("artifacts/summary.md", "artifacts/summary.png"):
        if Path(path).exists():
            lines.append(f"  {path}")
    for name in STUDIES:
        if Path(f"artifacts/{name}/curve.png").exists():
            lines.append(f"  artifacts/{name}/curve.png (and the other figures in artifacts/{name}/)")
    lines.append("  the whole study on one page: snakemake --report report.html")
    return "\n".join(lines)


# --- suites (lthpipe.suites, rules/suites.smk) -------------------------------------------



def on_cluster():
    """Whether jobs go to a cluster executor, or run as a cluster job (remote mode), which
    must see the groups its submitter saw. Asked when the DAG is built: while the
    Snakefile is parsed, Snakemake has not set the executor yet."""
    return not workflow.local_exec or workflow.remote_exec


def search_group(wildcards):
    """Under a cluster executor, a grouped suite member's jobs before its width choice
    (data, width search) run as one cluster job; its check as another. Local runs and
    plain datasets run one job each: a local group would only constrain the scheduler."""
    return "suite_search" if wildcards.dataset in GROUPED and on_cluster() else None


def training_group(wildcards):
    """Under a cluster executor, a grouped suite member's jobs after its width choice
    (dense, prune, retrain, figures) run as one cluster job; select_width and aggregate
    between them are local rules."""
    return "suite_training" if wildcards.dataset in GROUPED and on_cluster() else None


def suite_member_of(wildcards):
    return SUITES[wildcards.suite].member(wildcards.dataset)


def member_params(wildcards):
    return suite_member_of(wildcards).to_params()


def member_inputs(wildcards):
    """A member's check (waiting for it), then, when accepted, everything a plain
    dataset's run makes of it and its records; a refused member's check alone."""
    name = wildcards.dataset
    member = suite_member_of(wildcards)
    inputs = {}
    if member.checked:
        inputs["check"] = checkpoints.check_data.get(dataset=name).output.check
        if not read_json(inputs["check"])["accepted"]:
            return inputs
        # A width search done by an earlier run (one that failed or was stopped later):
        # wait for it here too. Once the check is done, Snakemake re-evaluates this job
        # but not the jobs it then adds, so a prune job waiting on that search would run
        # with its inputs still unknown. A search this run does is awaited as usual.
        if study(wildcards).searches_width and Path(rules.select_width.output.selection.format(dataset=name)).exists():
            inputs["selection"] = selection_file(wildcards)
    inputs["data"] = f"artifacts/{name}/data/data.json"
    inputs["summary"] = f"artifacts/{name}/summary.json"
    inputs["outputs"] = dataset_outputs(name)
    if member.planted:
        inputs["planted"] = f"artifacts/{name}/planted.json"
    return inputs


def suite_member_records(wildcards):
    return [f"artifacts/suites/{wildcards.suite}/members/{m.name}.json" for m in SUITES[wildcards.suite].members]


def suite_params(wildcards):
    return SUITES[wildcards.suite].to_params()


def suite_outputs():
    outputs = []
    for name, s in SUITES.items():
        outputs += [f"artifacts/suites/{name}/summary.{ext}" for ext in ("md", "html", "png", "json")]
        if s.planted:
            outputs.append(f"artifacts/suites/{name}/planted.png")
    return outputs
