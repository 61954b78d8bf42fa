"""A user's own table as a whole study: one config entry, fixed hidden widths (no
width search) and iterative pruning; what reruns when the file, the levels or the
list of datasets change."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
import torch
from sklearn.datasets import load_iris

from lthpipe import checkpoint
from lthpipe.prune import kept_count
from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

STUDY = {"seeds": [0, 1], "fractions": [1.0, 0.3], "train": {"epochs": 3, "lr": 0.01, "batch_size": 16}}


def write_iris(path: Path) -> None:
    """Iris with a header and the species as strings: three classes to map."""
    iris = load_iris()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*iris.feature_names, "species"])
        for row, label in zip(iris.data, iris.target):
            writer.writerow([*row, iris.target_names[label]])


def config(*names: str) -> dict:
    entries = {
        "iris": {"source": {"kind": "csv", "path": "data/iris.csv", "target": "species"}, "hidden": [6, 4],
                 "imp": {"levels": 2, "rate": 0.5, "output_rate": 0.25}, **STUDY},
        "wine": {"source": {"kind": "sklearn", "name": "wine"}, "hidden": [5], **STUDY},
    }
    return {"device": "cpu", "datasets": {name: entries[name] for name in names}}


@pytest.fixture(scope="module")
def iris_study(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("own_data")
    write_iris(workdir / "data" / "iris.csv")
    write_config(workdir, config("iris"))
    snakemake(workdir, "--cores", "2")
    return workdir


def rules_of(jobs) -> Counter:
    return Counter(rule for rule, _ in jobs)


BRANCH = {"make_data": 1, "train_dense": 1, "prune": 2, "retrain": 2, "imp": 2, "imp_controls": 2, "aggregate": 1,
          "decision_regions": 1}


def test_a_csv_entry_runs_the_whole_study_without_a_width_search(iris_study):
    art = iris_study / "artifacts"
    assert not (art / "iris" / "width").exists()
    data = checkpoint.load(art / "iris/data/data.pt", stage="data")[1]
    assert data["n_features"] == 4 and data["n_classes"] == 3
    assert data["feature_names"] == load_iris().feature_names
    dense, record = checkpoint.load_stack(art / "iris/dense/model.pt", stage="dense")
    assert dense.arch.hidden == (6, 4) and record["hidden"] == [6, 4]
    assert "| iris |" in (art / "summary.md").read_text()


def test_iterative_levels_nest_and_keep_the_configured_share_per_layer(iris_study):
    previous = None
    for level in (1, 2):
        stack, record = checkpoint.load_stack(iris_study / f"artifacts/iris/imp/level0{level}/model.pt", stage="imp")
        tickets = [i for i, n in enumerate(stack.networks) if n.method == "rewind"]
        assert {n.level for n in stack.networks} == {level}
        assert Counter(n.method for n in stack.networks) == {"rewind": 2}  # the ticket's job trains it alone
        controls, _ = checkpoint.load_stack(iris_study / f"artifacts/iris/imp/level0{level}/controls.pt",
                                            stage="imp_controls")
        assert Counter(n.method for n in controls.networks) == {"reinit": 2, "random_mask": 2, "oneshot": 2}
        for i in tickets:
            mask = {k: m[i] for k, m in stack.sections["mask"].items()}
            before = {k: torch.ones_like(m) for k, m in mask.items()} if previous is None else previous[i]
            for k, rate in (("w0", 0.5), ("w1", 0.5), ("w2", 0.25)):  # w2 is the output layer
                assert int(mask[k].sum()) == kept_count(int(before[k].sum()), 1 - rate)
                assert not (mask[k] & ~before[k]).any()  # a subset of the previous level's mask
            assert record["networks"][i]["retained"] == pytest.approx(
                sum(int(m.sum()) for m in mask.values()) / sum(m.numel() for m in mask.values()))
        previous = {i: {k: m[i] for k, m in stack.sections["mask"].items()} for i in tickets}


def test_extending_the_levels_runs_only_the_new_level(iris_study):
    more = config("iris")
    more["datasets"]["iris"]["imp"]["levels"] = 3
    write_config(iris_study, more)
    try:
        jobs = planned_jobs(iris_study)
    finally:
        write_config(iris_study, config("iris"))
    assert rules_of(jobs) == {"imp": 1, "imp_controls": 1, "aggregate": 1, "summarize": 1}
    assert [w["level"] for rule, w in jobs if rule.startswith("imp")] == ["03", "03"]


def test_adding_a_dataset_runs_its_branch_and_the_summary_and_editing_a_csv_reruns_only_its_own(iris_study):
    write_config(iris_study, config("iris", "wine"))
    jobs = planned_jobs(iris_study)
    assert {w.get("dataset") for rule, w in jobs if rule != "summarize"} == {"wine"}
    assert rules_of(jobs) == {
        "make_data": 1, "train_dense": 1, "prune": 2, "retrain": 2, "aggregate": 1, "decision_regions": 1, "summarize": 1,
    }
    snakemake(iris_study, "--cores", "2")
    assert planned_jobs(iris_study) == []

    path = iris_study / "data" / "iris.csv"
    path.write_text(path.read_text().replace("5.1,3.5,1.4,0.2", "5.2,3.5,1.4,0.2", 1))
    jobs = planned_jobs(iris_study)
    assert {w.get("dataset") for rule, w in jobs if rule != "summarize"} == {"iris"}
    assert rules_of(jobs) == {**BRANCH, "summarize": 1}
