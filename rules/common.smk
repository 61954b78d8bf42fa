# Configuration, wildcard constraints and the named functions the rules use.
from lthpipe.artifacts import read_json
from lthpipe.config import ConfigError, code_version, fraction_tag, resolve
from lthpipe.settings import DATASETS

try:
    STUDIES = resolve(config)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

# Library code each kind of stage runs: editing it reruns that kind of stage.
# artifacts.py and jobs.py (how files are written and logged) are left out.
TRAINING_CODE = code_version(["checkpoint", "data", "model", "prune", "settings", "stages", "train"])
REPORT_CODE = code_version(["plots", "results", "settings"])

# Per-job memory (MB) and wall time (min), by dataset; MNIST holds 60k images.
JOB_RESOURCES = {"mnist": (3000, 60)}
SMALL_JOB_RESOURCES = (1000, 15)


wildcard_constraints:
    # Only known dataset names, so no path built from a wildcard leaves artifacts/.
    dataset="|".join(DATASETS),
    width=r"[1-9][0-9]*",
    # Exactly the tags fraction_tag gives the fractions in (0, 1]: 0.001 to 1.000.
    fraction=r"1\.000|0\.(?!000)[0-9]{3}",


def study(wildcards):
    return STUDIES[wildcards.dataset]


def data_settings(wildcards):
    return study(wildcards).data_params()


def train_settings(wildcards):
    return study(wildcards).train_params()


def seeds(wildcards):
    return list(study(wildcards).seeds)


def order_seed(wildcards):
    return study(wildcards).order_seed


def device(wildcards):
    return study(wildcards).device


def methods(wildcards):
    return list(study(wildcards).methods)


def pruning_scope(wildcards):
    return study(wildcards).pruning


def width_tolerance(wildcards):
    return study(wildcards).width_tolerance


def summary_tolerance(wildcards):
    return study(wildcards).summary_tolerance


def training_threads(wildcards):
    return study(wildcards).threads


def mem_mb(wildcards):
    return JOB_RESOURCES.get(wildcards.dataset, SMALL_JOB_RESOURCES)[0]


def runtime(wildcards):
    return JOB_RESOURCES.get(wildcards.dataset, SMALL_JOB_RESOURCES)[1]


def width_results(wildcards):
    return [f"artifacts/{wildcards.dataset}/width/w{w}.json" for w in study(wildcards).widths]


def selection_file(wildcards):
    """Waits for the width search (a checkpoint) and returns its selection file."""
    return checkpoints.select_width.get(dataset=wildcards.dataset).output.selection


def after_width_search(**paths):
    """Input function of a stage downstream of the width search (a checkpoint).

    It waits for the search but does not take the selection file as an input:
    these stages depend on the chosen width (a param of train_dense), not on the
    file's date. Snakemake re-evaluates every job whose input function waits on
    the checkpoint once the search is done, so extending the width grid without
    changing the choice reruns nothing here."""

    def inputs(wildcards):
        selection_file(wildcards)
        return {name: path.format(**wildcards) for name, path in paths.items()}

    return inputs


def selected_width(wildcards):
    return read_json(selection_file(wildcards))["width"]


def fraction_value(wildcards):
    return float(wildcards.fraction)


def fraction_files(wildcards, stage, name):
    tags = [fraction_tag(f) for f in study(wildcards).fractions]
    return [f"artifacts/{wildcards.dataset}/{stage}/f{tag}/{name}" for tag in tags]


def prune_records(wildcards):
    return fraction_files(wildcards, "prune", "masks.json")


def retrain_records(wildcards):
    return fraction_files(wildcards, "retrain", "model.json")


def dataset_summaries(wildcards):
    return [f"artifacts/{name}/summary.json" for name in STUDIES]


def final_outputs():
    per_dataset = ["curve.png", "curve.csv", "summary.json", "width.png"]
    return [f"artifacts/{name}/{f}" for name in STUDIES for f in per_dataset] + [
        "artifacts/summary.md",
        "artifacts/summary.png",
    ]
