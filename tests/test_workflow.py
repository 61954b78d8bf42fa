"""The whole workflow on a tiny config: every artifact, and Snakemake's caching."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

import torch

from lthpipe.cli import main as lthpipe_main
from lthpipe.datasets import load_dataset
from lthpipe.model import forward
from workflow_helpers import changed, clone, planned_jobs, snakemake, snapshot, tiny_config, write_config

pytestmark = pytest.mark.workflow
DATASETS = ("swiss_roll", "diabetes", "mnist")
FRACTIONS = ("1.000", "0.200", "0.050")


@pytest.fixture
def scratch(built, tmp_path) -> Path:
    """A copy of the built workflow that a test may change (metadata included)."""
    return clone(built, tmp_path)


FIGURES = ("width", "curve", "early_stop", "training", "removed", "units", "stability", "decision_regions")
# What one dataset's aggregate job writes, and what summarize writes.
AGGREGATE = ("curve.csv", "summary.json", "curve.png", "early_stop.png", "training.png", "removed.png", "units.png",
             "stability.png")
SUMMARY = {"artifacts/summary.md", "artifacts/summary.html", "artifacts/summary.png"}


def test_every_artifact_is_there(built):
    art = built / "artifacts"
    for name in DATASETS:
        d = art / name
        for rel in ["data/data.pt", "data/data.json", "width/selection.json", "dense/model.pt", "dense/model.json",
                    "curve.csv", "summary.json", *(f"{figure}.png" for figure in FIGURES)]:
            assert (d / rel).is_file(), rel
        widths = {"swiss_roll": (2, 4), "diabetes": (1, 2), "mnist": (4, 8)}[name]
        assert sorted(p.name for p in (d / "width").glob("w*.json")) == sorted(f"w{w}.json" for w in widths)
        for tag in FRACTIONS:
            assert (d / f"prune/f{tag}/masks.pt").is_file() and (d / f"retrain/f{tag}/model.pt").is_file()
        for figure in FIGURES:
            assert (d / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (art / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (art / "summary.md").read_text()
    assert all(f"| {name} |" in summary for name in DATASETS)
    assert not list(art.rglob("*.tmp")), "temporary files left behind"


def test_curve_table_has_every_method_seed_and_fraction(built):
    rows = list(csv.DictReader((built / "artifacts/mnist/curve.csv").open()))
    counts = Counter(row["method"] for row in rows)
    assert counts == {"dense": 2, "pruned": 6, "rewind": 6, "reinit": 6, "random_mask": 6, "dense_small": 6}
    for row in rows:
        assert 0 < float(row["retained"]) <= 1 and 0 <= float(row["test_acc"]) <= 1
    pruned = {(r["fraction"], r["retained"]) for r in rows if r["method"] == "pruned"}
    assert all(abs(float(f) - float(r)) < 0.02 for f, r in pruned)  # measured from masks


def test_logs_exist_for_every_job(built):
    logs = built / "artifacts/mnist/logs"
    assert (logs / "make_data.log").is_file() and (logs / "retrain/f0.200.log").is_file()
    assert "epoch 3" in (logs / "train_dense.log").read_text()


def test_inspect_reads_every_checkpoint_and_folder(built, capsys):
    for path in sorted((built / "artifacts").rglob("*.pt")):
        assert lthpipe_main(["inspect", str(path)]) == 0
    assert lthpipe_main(["inspect", str(built / "artifacts/mnist")]) == 0
    table = capsys.readouterr().out
    assert "retrain" in table and "selection" in table


def test_the_configured_export_predicts_what_the_masked_network_predicts(built):
    from lthpipe.export import FILES, runners
    from lthpipe.stages import retrained_network

    folder = built / "artifacts/diabetes/export/f0.200/rewind/seed1"
    assert sorted(p.name for p in folder.iterdir()) == ["compact.json", "compact.onnx", "compact.pt", "csr.json", "csr.pt"]
    assert set(FILES.values()) <= {p.name for p in folder.iterdir()}
    params, mask, _ = retrained_network(built / "artifacts/diabetes/retrain/f0.200/model.pt", "diabetes", "rewind", 1)
    x = load_dataset(built / "artifacts/diabetes/data/data.pt", "diabetes").folds[0].x_test
    expected = forward({k: (v * mask[k] if k in mask else v).unsqueeze(0) for k, v in params.items()}, x)[0]
    for runtime, run in runners(folder, threads=1).items():
        logits = run(x)
        assert torch.equal(logits.argmax(1), expected.argmax(1)), runtime
        scale = expected.abs().amax(1, keepdim=True).clamp_min(1)
        assert ((logits - expected).abs() / scale).max() <= 1e-5, runtime


def test_lthpipe_export_exports_any_network(built, tmp_path, capsys):
    model = built / "artifacts/mnist/retrain/f0.050/model.pt"
    assert lthpipe_main(["export", str(model), "--method", "reinit", "--seed", "1", "--out", str(tmp_path / "x")]) == 0
    assert "compact.onnx" in capsys.readouterr().out
    compact = json.loads((tmp_path / "x" / "compact.json").read_text())
    assert compact["provenance"]["method"] == "reinit" and compact["provenance"]["fraction"] == 0.05
    assert lthpipe_main(["export", str(model), "--method", "snip", "--out", str(tmp_path / "y")]) == 1
    assert "holds no snip network" in capsys.readouterr().err


def test_the_inference_benchmark_times_every_form_at_every_fraction(built):
    bench = json.loads((built / "artifacts/diabetes/inference.json").read_text())
    assert Counter((r["fraction"], r["form"]) for r in bench["rows"]) == {
        (f, form): 1 for f in (1.0, 0.2, 0.05)
        for form in ("dense", "masked", "compact_torch", "compact_onnx", "csr_torch", "csr_scipy")
    }
    assert all(r["latency_us"] > 0 and r["bytes"] > 0 for r in bench["rows"])
    assert "# Inference" in (built / "artifacts/summary.md").read_text()


def test_a_second_run_has_nothing_to_do(built):
    assert planned_jobs(built) == []


def test_one_target_builds_only_what_it_needs(tmp_path, mnist_dir):
    write_config(tmp_path, tiny_config(mnist_dir))
    snakemake(tmp_path, "--cores", "2", "artifacts/diabetes/curve.png")
    datasets = {p.name for p in (tmp_path / "artifacts").iterdir() if p.is_dir()}
    assert datasets == {"diabetes"}
    assert not (tmp_path / "artifacts/summary.md").exists()


def test_changing_one_datasets_epochs_reruns_that_dataset_only(scratch, mnist_dir):
    config = tiny_config(mnist_dir)
    config["datasets"]["swiss_roll"]["train"] = {"epochs": 4}
    write_config(scratch, config)
    jobs = planned_jobs(scratch)
    assert {w.get("dataset") for rule, w in jobs if rule != "summarize"} == {"swiss_roll"}
    assert Counter(rule for rule, _ in jobs) == {
        "train_width": 2, "select_width": 1, "train_dense": 1, "prune": 3, "retrain": 3, "aggregate": 1,
        "decision_regions": 1, "summarize": 1,
    }


def test_jobs_run_in_the_machine_numerics_mode_by_default(built):
    compute = json.loads((built / "artifacts/diabetes/dense/model.json").read_text())["compute"]
    assert compute["numerics"] == "machine" and compute["mkl_cbwr"] == "AUTO,STRICT"


def test_the_opt_in_cross_cpu_mode_reruns_every_torch_job_and_is_what_they_use(scratch, mnist_dir):
    config = tiny_config(mnist_dir)
    config["numerics"] = "cross_cpu"
    write_config(scratch, config)
    torch_rules = {"make_data", "train_width", "train_dense", "prune", "retrain", "decision_regions",
                   "export_network", "benchmark_inference"}
    assert torch_rules <= {rule for rule, _ in planned_jobs(scratch)}
    snakemake(scratch, "--cores", "2", "artifacts/diabetes/dense/model.json")
    compute = json.loads((scratch / "artifacts/diabetes/dense/model.json").read_text())["compute"]
    assert compute["numerics"] == "cross_cpu" and compute["mkl_cbwr"] == "AVX2,STRICT" and compute["mkl_isa"] == "AVX2"


def test_adding_a_fraction_runs_only_that_fraction_and_the_aggregates(scratch, mnist_dir):
    config = tiny_config(mnist_dir)
    config["defaults"]["fractions"].append(0.5)
    write_config(scratch, config)
    jobs = planned_jobs(scratch)
    # The inference benchmark of diabetes covers every fraction, so it reruns too.
    assert Counter(rule for rule, _ in jobs) == {
        "prune": 3, "retrain": 3, "aggregate": 3, "benchmark_inference": 1, "summarize": 1,
    }
    assert {w["fraction"] for rule, w in jobs if rule in ("prune", "retrain")} == {"0.500"}
    before = snapshot(scratch)
    snakemake(scratch, "--cores", "2")
    assert changed(before, snapshot(scratch)) == {
        f"artifacts/{name}/{path}"
        for name in DATASETS
        for path in ("prune/f0.500/masks.pt", "prune/f0.500/masks.json", "retrain/f0.500/model.pt",
                     "retrain/f0.500/model.json", *AGGREGATE)
    } | SUMMARY | {"artifacts/diabetes/inference.json", "artifacts/diabetes/inference.png"}


def test_extending_the_width_grid_trains_only_the_new_width(scratch, mnist_dir):
    config = tiny_config(mnist_dir)
    config["datasets"]["swiss_roll"]["widths"] = [1, 2, 4]  # width 1 cannot win on 4 classes
    write_config(scratch, config)
    selection = scratch / "artifacts/swiss_roll/width/selection.json"
    chosen = json.loads(selection.read_text())["width"]
    before = snapshot(scratch)
    snakemake(scratch, "--cores", "2")
    assert json.loads(selection.read_text())["width"] == chosen
    # The dense network and everything trained from it are untouched; only the reports redo.
    assert changed(before, snapshot(scratch)) == {
        "artifacts/swiss_roll/width/w1.json", "artifacts/swiss_roll/width/selection.json",
        "artifacts/swiss_roll/width.png", *(f"artifacts/swiss_roll/{name}" for name in AGGREGATE),
    } | SUMMARY
