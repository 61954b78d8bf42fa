"""The README's caching table ("Caching: what reruns when"), for the rows no other
file tests: the jobs a dry run plans and the files a real run rewrites when a seed,
a winning width, the methods, the exports or the inference benchmark change, and
when a module of the library is edited in a copy of the project. The other rows:
tests/test_workflow.py (nothing, `train`, a fraction, a width that does not win,
`numerics`) and tests/test_own_data.py (`imp.levels`, a CSV, a dataset).

Which width wins is made certain, on any machine, with `width_tolerance: 1.0`:
every width is then good enough, so the smallest searched width wins."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lthpipe.artifacts import read_json
from test_workflow import AGGREGATE, SUMMARY
from workflow_helpers import (
    REPO, changed, clone, copy_project, digests, planned_jobs, project_env, snakemake, snapshot, tiny_config,
    write_config,
)

pytestmark = pytest.mark.workflow

FRACTIONS = ("1.000", "0.200", "0.050")
# Every job of the tiny study that trains, by rule.
TRAINING_JOBS = {"train_width": 6, "train_dense": 3, "prune": 9, "retrain": 9}


def rules_of(jobs) -> Counter:
    return Counter(rule for rule, _ in jobs)


def datasets_of(jobs) -> set[str]:
    return {wildcards["dataset"] for _, wildcards in jobs if "dataset" in wildcards}


def trained_files(dataset: str) -> set[str]:
    """What a dataset's data, width, dense, prune and retrain jobs write (tiny study)."""
    widths = {"swiss_roll": (2, 4), "diabetes": (1, 2), "mnist": (4, 8)}[dataset]
    return {
        *(f"artifacts/{dataset}/data/data.{ext}" for ext in ("pt", "json")),
        *(f"artifacts/{dataset}/width/w{w}.json" for w in widths),
        *(f"artifacts/{dataset}/dense/model.{ext}" for ext in ("pt", "json")),
        *(f"artifacts/{dataset}/prune/f{f}/masks.{ext}" for f in FRACTIONS for ext in ("pt", "json")),
        *(f"artifacts/{dataset}/retrain/f{f}/model.{ext}" for f in FRACTIONS for ext in ("pt", "json")),
    }


EXPORT_FILES = {f"artifacts/diabetes/export/f0.200/rewind/seed1/{name}"
                for name in ("compact.pt", "compact.json", "compact.onnx", "csr.pt", "csr.json")}


@pytest.fixture
def scratch(built, tmp_path) -> Path:
    return clone(built, tmp_path)


def tolerant_config(mnist_dir: Path) -> dict:
    """The tiny study where swiss_roll and diabetes choose their smallest width."""
    config = tiny_config(mnist_dir)
    for name in ("swiss_roll", "diabetes"):
        config["datasets"][name]["width_tolerance"] = 1.0
    return config


@pytest.fixture(scope="module")
def tolerant(built, tmp_path_factory, mnist_dir) -> Path:
    """The built study after a run with tolerant_config: swiss_roll chose width 2 and
    diabetes width 1, whatever this machine's bits."""
    workdir = clone(built, tmp_path_factory.mktemp("tolerant"))
    write_config(workdir, tolerant_config(mnist_dir))
    snakemake(workdir, "--cores", "2")
    assert read_json(workdir / "artifacts/swiss_roll/width/selection.json")["width"] == 2
    assert read_json(workdir / "artifacts/diabetes/width/selection.json")["width"] == 1
    return workdir


# "add a width that wins / a seed": everything of that dataset from the dense network on.


def test_a_seed_reruns_every_training_job_of_its_dataset_the_width_search_too(scratch, mnist_dir):
    config = tiny_config(mnist_dir)
    config["datasets"]["swiss_roll"]["seeds"] = [0, 1, 2]
    write_config(scratch, config)
    jobs = planned_jobs(scratch)
    assert datasets_of(jobs) == {"swiss_roll"}
    # Seeds train together in one stack: the width search's jobs hold every seed too.
    assert rules_of(jobs) == {
        "train_width": 2, "select_width": 1, "train_dense": 1, "prune": 3, "retrain": 3, "decision_regions": 1,
        "aggregate": 1, "summarize": 1,
    }


def test_a_width_that_wins_reruns_its_dataset_from_the_dense_network_on(tolerant, tmp_path, mnist_dir):
    workdir = clone(tolerant, tmp_path)
    config = tolerant_config(mnist_dir)
    config["datasets"]["swiss_roll"]["widths"] = [1, 2, 4]
    write_config(workdir, config)
    before = snapshot(workdir)
    snakemake(workdir, "--cores", "2")
    assert read_json(workdir / "artifacts/swiss_roll/width/selection.json")["width"] == 1
    rerun = trained_files("swiss_roll") - {f"artifacts/swiss_roll/{p}" for p in
                                           ("data/data.pt", "data/data.json", "width/w2.json", "width/w4.json")}
    assert changed(before, snapshot(workdir)) == rerun | {
        "artifacts/swiss_roll/width/w1.json", "artifacts/swiss_roll/width/selection.json",
        "artifacts/swiss_roll/width.png", "artifacts/swiss_roll/decision_regions.png",
        *(f"artifacts/swiss_roll/{name}" for name in AGGREGATE),
    } | SUMMARY


# "add a width that does not win", for a dataset whose networks are exported and benchmarked.


@pytest.fixture(scope="module")
def grid_extended(tolerant, tmp_path_factory, mnist_dir) -> dict:
    """diabetes (exported, benchmarked) searches width 3 too, which cannot win."""
    workdir = clone(tolerant, tmp_path_factory.mktemp("grid"))
    config = tolerant_config(mnist_dir)
    config["datasets"]["diabetes"]["widths"] = [1, 2, 3]
    write_config(workdir, config)
    before, bits = snapshot(workdir), digests(workdir)
    snakemake(workdir, "--cores", "2")
    assert read_json(workdir / "artifacts/diabetes/width/selection.json")["width"] == 1
    return {"changed": changed(before, snapshot(workdir)), "bits": bits, "bits_after": digests(workdir)}


def test_a_width_that_does_not_win_retrains_nothing_where_networks_are_exported(grid_extended):
    rewritten = grid_extended["changed"]
    assert {"artifacts/diabetes/width/w3.json", "artifacts/diabetes/width/selection.json"} <= rewritten
    assert not rewritten & trained_files("diabetes")
    assert not rewritten & {p for name in ("swiss_roll", "mnist") for p in trained_files(name)}
    # Whatever reran downstream wrote the same networks.
    before, after = grid_extended["bits"], grid_extended["bits_after"]
    assert {p: after[p] for p in EXPORT_FILES} == {p: before[p] for p in EXPORT_FILES}


@pytest.mark.xfail(strict=True, reason=(
    "README caching table, 'add a width that does not win': Snakemake plans export_network and "
    "benchmark_inference before the width search (a checkpoint) is re-evaluated and does not drop them "
    "after it, so both rerun (same export bytes, new timings)"))
def test_a_width_that_does_not_win_reruns_no_export_or_benchmark(grid_extended):
    assert not grid_extended["changed"] & (EXPORT_FILES | {"artifacts/diabetes/inference.json"})


# "methods", "export / inference".


def test_methods_rerun_the_retrain_jobs_and_reports_and_prune_for_an_at_init_method(scratch, mnist_dir):
    config = tiny_config(mnist_dir)
    config["datasets"]["swiss_roll"]["methods"] = ["rewind", "reinit", "random_mask"]  # dense_small dropped
    write_config(scratch, config)
    jobs = planned_jobs(scratch)
    assert datasets_of(jobs) == {"swiss_roll"}
    assert rules_of(jobs) == {"retrain": 3, "decision_regions": 1, "aggregate": 1, "summarize": 1}

    config["datasets"]["swiss_roll"]["methods"] = ["rewind", "reinit", "random_mask", "dense_small", "snip"]
    write_config(scratch, config)
    jobs = planned_jobs(scratch)
    assert datasets_of(jobs) == {"swiss_roll"}
    assert rules_of(jobs) == {"prune": 3, "retrain": 3, "decision_regions": 1, "aggregate": 1, "summarize": 1}


def test_export_and_inference_settings_rerun_only_their_own_jobs(scratch, mnist_dir):
    config = tiny_config(mnist_dir)
    config["export"].append({"dataset": "mnist", "fraction": 0.05, "method": "reinit", "seed": 0})
    write_config(scratch, config)
    assert planned_jobs(scratch) == [
        ("export_network", {"dataset": "mnist", "fraction": "0.050", "method": "reinit", "seed": "0"}),
    ]

    config = tiny_config(mnist_dir)
    config["inference"]["repeats"] = 5
    write_config(scratch, config)
    jobs = planned_jobs(scratch)
    assert rules_of(jobs) == {"benchmark_inference": 1, "summarize": 1}
    assert datasets_of(jobs) == {"diabetes"}


# "library code": each rule carries a hash of the lthpipe modules it runs.


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the workflow and lthpipe, whose modules the tests edit."""
    return copy_project(tmp_path_factory.mktemp("code") / "project")


@pytest.fixture(scope="module")
def study_for_code(built, tmp_path_factory) -> Path:
    return clone(built, tmp_path_factory.mktemp("code_study"))


@contextlib.contextmanager
def edited(project: Path, *modules: str) -> Iterator[None]:
    """lthpipe/<module>.py of the copy with a comment line appended, as a harmless edit."""
    paths = [project / "lthpipe" / f"{module}.py" for module in modules]
    originals = [path.read_bytes() for path in paths]
    for path, original in zip(paths, originals):
        path.write_bytes(original + b"\n# edited by tests/test_caching.py\n")
    try:
        yield
    finally:
        for path, original in zip(paths, originals):
            path.write_bytes(original)


def test_the_unedited_copy_plans_nothing(project, study_for_code):
    assert planned_jobs(study_for_code, project=project) == []


def test_editing_export_py_reruns_only_the_exports_and_the_benchmark(project, study_for_code):
    with edited(project, "export"):
        jobs = planned_jobs(study_for_code, project=project)
    assert rules_of(jobs) == {"export_network": 1, "benchmark_inference": 1, "summarize": 1}


def test_editing_train_py_reruns_every_training_job(project, study_for_code):
    with edited(project, "train"):
        planned = rules_of(planned_jobs(study_for_code, project=project))
    assert {rule: planned[rule] for rule in TRAINING_JOBS} == TRAINING_JOBS


def code_params(project: Path, *rules: str) -> dict[str, str]:
    """Each rule's `code` param as the copy's modules stand."""
    script = f"from lthpipe.rule_functions import code; print(*(code(r) for r in {rules!r}))"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env=project_env(project), cwd=project)
    return dict(zip(rules, run.stdout.split()))


def test_editing_prune_py_reruns_every_training_job_and_the_exports_by_their_own_code(project, study_for_code):
    """The exports use pruning's masks (lthpipe.prune): their own code param changes, so
    they rerun for the edit itself, not only because the networks they export do."""
    rules = ("export_network", "benchmark_inference", "prune", "select_width", "aggregate", "summarize")
    before = code_params(project, *rules)
    with edited(project, "prune"):
        planned = rules_of(planned_jobs(study_for_code, project=project))
        after = code_params(project, *rules)
    assert {rule: planned[rule] for rule in TRAINING_JOBS} == TRAINING_JOBS and planned["export_network"] == 1
    assert {rule for rule in rules if before[rule] != after[rule]} == {"export_network", "benchmark_inference", "prune"}


def test_editing_jobs_or_worker_reruns_nothing(project, study_for_code):
    """Where and how a job runs is no rule function's import (lthpipe.provenance)."""
    with edited(project, "jobs", "worker"):
        assert planned_jobs(study_for_code, project=project) == []
        # Not vacuous: Snakemake does read this copy's modules.
        with edited(project, "export"):
            assert planned_jobs(study_for_code, project=project) != []


@pytest.fixture(scope="module")
def plots_edited(project, built, tmp_path_factory) -> dict:
    """The built study run again after lthpipe/plots/common.py, which every figure
    module imports, was edited."""
    workdir = clone(built, tmp_path_factory.mktemp("plots_edited"))
    before = snapshot(workdir)
    with edited(project, "plots/common"):
        snakemake(workdir, "--cores", "2", project=project)
    return {"changed": changed(before, snapshot(workdir))}


def test_editing_the_shared_figure_code_redraws_every_figure_and_retrains_nothing(plots_edited):
    rewritten = plots_edited["changed"]
    figures = {f"artifacts/{name}/{figure}.png" for name in ("swiss_roll", "diabetes", "mnist")
               for figure in ("width", "decision_regions", "curve", "early_stop", "training", "removed", "units",
                              "stability")}
    assert figures | {"artifacts/diabetes/inference.png", "artifacts/summary.png"} <= rewritten
    assert not rewritten & {p for name in ("swiss_roll", "diabetes", "mnist") for p in trained_files(name)}


@pytest.mark.xfail(strict=True, reason=(
    "README caching table, 'library code': editing plots/common.py reruns select_width (a checkpoint); Snakemake "
    "plans export_network from the retrain jobs that wait on it and does not drop it when they do not run"))
def test_editing_the_shared_figure_code_reruns_no_export(plots_edited):
    assert not plots_edited["changed"] & EXPORT_FILES


# Which modules each rule's code hash covers: derived from the imports of the function
# the rule runs (lthpipe.rule_functions, lthpipe.provenance), never kept by hand.


def workflow_rules() -> dict[str, tuple[str, str]]:
    """rule -> (its script, its rule block)."""
    rules = {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        for match in re.finditer(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^\S|\Z)", path.read_text(),
                                 re.MULTILINE | re.DOTALL):
            script = re.search(r'^\s+script:\s*\n\s+"\.\./scripts/(\w+)\.py"', match[2], re.MULTILINE)
            if script:
                rules[match[1]] = (script[1], match[2])
    return rules


def test_every_rule_runs_its_function_of_the_table_and_carries_that_functions_hash():
    from lthpipe.rule_functions import FUNCTIONS, STAGES

    rules = workflow_rules()
    assert set(rules) == set(FUNCTIONS)
    for rule, (script, block) in rules.items():
        assert f'code=code_of("{rule}"),' in block, f"rule {rule} does not carry its own function's code hash"
        text = (REPO / "scripts" / f"{script}.py").read_text()
        assert ("run_stage(" in text) == (rule in STAGES) and ("run_report(" in text) == (rule not in STAGES)


TRAINING_RULES = ("train_width", "train_dense", "prune", "retrain", "imp", "imp_controls")


@pytest.mark.parametrize("rule", TRAINING_RULES)
def test_a_training_rules_code_covers_the_training_code_and_no_output_code(rule):
    from lthpipe.provenance import modules_behind
    from lthpipe.rule_functions import FUNCTIONS

    behind = set(modules_behind(FUNCTIONS[rule]))
    assert {"lthpipe.train", "lthpipe.prune", "lthpipe.model", "lthpipe.stages.training"} <= behind
    # A package stands for all its modules: each of them runs its __init__ first.
    assert not behind & {"lthpipe.export", "lthpipe.inference", "lthpipe.plots", "lthpipe.results",
                         "lthpipe.stages.exports", "lthpipe.stages.benchmark", "lthpipe.stages.figures", "lthpipe.jobs",
                         "lthpipe.worker"}


def test_the_exports_code_covers_pruning_and_compaction_and_the_data_jobs_no_training():
    from lthpipe.provenance import modules_behind
    from lthpipe.rule_functions import FUNCTIONS

    assert {"lthpipe.export", "lthpipe.compact", "lthpipe.prune"} <= set(modules_behind(FUNCTIONS["export_network"]))
    assert "lthpipe.train" not in modules_behind(FUNCTIONS["make_data"])
    assert {"lthpipe.results.aggregate", "lthpipe.results.compare", "lthpipe.plots.common", "lthpipe.stats"} <= set(
        modules_behind(FUNCTIONS["aggregate"]))


# The figure modules (lthpipe.plots) each rule draws with, beside the shared lthpipe.plots.common.
FIGURE_MODULES = {
    "select_width": {"width"},
    "aggregate": {"curves", "masks"},
    "summarize": {"curves", "inference"},
    "summarize_instability": {"instability"},
    "decision_regions": {"regions"},
    "benchmark_inference": {"inference"},
    "align_overlap": {"alignment"},
}


def test_a_figure_rules_code_covers_its_own_figures_and_no_others():
    """A rule's code hash changes with the figure modules it draws with, and with no other."""
    from lthpipe.provenance import modules_behind
    from lthpipe.rule_functions import FUNCTIONS

    for rule, figures in FIGURE_MODULES.items():
        drawn = {m for m in modules_behind(FUNCTIONS[rule]) if m.startswith("lthpipe.plots.")}
        assert drawn == {f"lthpipe.plots.{m}" for m in {"common", *figures}}, rule
