# Configuration, wildcard constraints and the named functions the rules use.
import math

from lthpipe.artifacts import read_json
from lthpipe.config import ConfigError, code_version, fraction_tag, level_tag, resolve
from lthpipe.datasets import estimated_mb, source_files
from lthpipe.settings import to_params

try:
    STUDIES = resolve(config, files=workflow.configfiles)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

# Library code each kind of stage runs: editing it reruns that kind of stage.
# artifacts.py and jobs.py (how files are written and logged) are left out.
TRAINING_CODE = code_version(
    ["checkpoint", "compact", "datasets", "lottery", "model", "prune", "saliency", "settings", "stability", "stages",
     "train"]
)
REPORT_CODE = code_version(["lottery", "plots", "results", "settings", "stats"])


wildcard_constraints:
    # Only configured dataset names, so no path built from a wildcard leaves artifacts/.
    dataset="|".join(STUDIES),
    width=r"[1-9][0-9]*",
    # Exactly the tags fraction_tag gives the fractions in (0, 1]: 0.001 to 1.000.
    fraction=r"1\.000|0\.(?!000)[0-9]{3}",
    # Exactly the tags level_tag gives levels 1 to 99.
    level=r"(?!00)[0-9]{2}",


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
    return to_params(study(wildcards).level_settings(int(wildcards.level)))


def report_settings(wildcards):
    return to_params(study(wildcards).report_settings())


def training_threads(wildcards):
    return study(wildcards).settings.threads


def source_inputs(wildcards):
    """The files a dataset reads (CSV, Parquet): inputs of its data job, so editing
    one reruns that dataset's branch."""
    return source_files(study(wildcards).data.source)


# Resources follow the data: the data job's from the source's expected size, the
# others' from the size of the data file they read, unless the dataset sets its own.
# A job holds python and torch (about 0.7-0.9 GB) and a few copies of the data; its
# wall time grows with the data and the training budget (README, "Resources").
def data_mem_mb(wildcards):
    data = study(wildcards).data
    return study(wildcards).resources.mem_mb or estimated_mb(data.source, data.split.resplits)


def data_runtime(wildcards):
    return study(wildcards).resources.runtime or 15


def mem_mb(wildcards, input):
    own = study(wildcards).resources.mem_mb
    return own or 1000 + 3 * math.ceil(input.size_mb)


def runtime(wildcards, input):
    own = study(wildcards).resources.runtime
    train = study(wildcards).settings.train
    # A training budget in passes over the data; iterations count in thousands.
    passes = train.epochs if train.iterations is None else train.iterations / 1000
    return own or 15 + math.ceil(input.size_mb * passes / 20)


def data_file(wildcards):
    return f"artifacts/{wildcards.dataset}/data/data.pt"


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


def previous_level(wildcards):
    """Level 1 prunes the dense network; level k the ticket of level k-1."""
    level = int(wildcards.level)
    if level == 1:
        return f"artifacts/{wildcards.dataset}/dense/model.pt"
    return f"artifacts/{wildcards.dataset}/imp/level{level_tag(level - 1)}/model.pt"


def level_records(wildcards):
    levels = range(1, study(wildcards).settings.imp.levels + 1)
    return [f"artifacts/{wildcards.dataset}/imp/level{level_tag(k)}/model.json" for k in levels]


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


def dataset_summaries(wildcards):
    return [f"artifacts/{name}/summary.json" for name in STUDIES]


def final_outputs():
    outputs = ["artifacts/summary.md", "artifacts/summary.png"]
    for name, s in STUDIES.items():
        outputs += [f"artifacts/{name}/{f}" for f in ("curve.png", "curve.csv", "summary.json")]
        if s.searches_width:
            outputs.append(f"artifacts/{name}/width.png")
    return outputs
