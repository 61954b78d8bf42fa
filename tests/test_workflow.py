"""The whole workflow on a tiny config: every artifact, and Snakemake's caching."""

from __future__ import annotations

import ast
import csv
import json
from collections import Counter
from pathlib import Path
from statistics import mean

import pytest

import torch

from lthpipe import checkpoint
from lthpipe.cli import main as lthpipe_main
from lthpipe.datasets import load_dataset
from lthpipe.jobs import job_usage
from lthpipe.model import forward
from workflow_helpers import (
    announced_jobs, changed, clone, planned_jobs, snakemake, snapshot, tiny_config, write_config,
)

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


def recorded_results(workdir: Path, dataset: str) -> dict[tuple[str, int, float], tuple[float, float]]:
    """(method, seed, fraction) -> (retained, test accuracy), read from the stages' records."""
    art = workdir / "artifacts" / dataset
    dense = json.loads((art / "dense/model.json").read_text())
    results = {("dense", n["seed"], 1.0): (1.0, acc) for n, acc in zip(dense["networks"], dense["metrics"]["test_acc"])}
    for tag in FRACTIONS:
        pruned = json.loads((art / f"prune/f{tag}/masks.json").read_text())
        m = pruned["metrics"]
        for n, retained, acc in zip(m["networks"], m["retained"], m["test_acc"]):
            results["pruned", n["seed"], float(tag)] = (retained, acc)
        retrained = json.loads((art / f"retrain/f{tag}/model.json").read_text())
        for n, acc in zip(retrained["networks"], retrained["metrics"]["test_acc"]):
            results[n["method"], n["seed"], float(tag)] = (n["retained"], acc)
    return results


def test_curve_table_has_every_method_seed_and_fraction(built):
    rows = list(csv.DictReader((built / "artifacts/mnist/curve.csv").open()))
    counts = Counter(row["method"] for row in rows)
    assert counts == {"dense": 2, "pruned": 6, "rewind": 6, "reinit": 6, "random_mask": 6, "dense_small": 6}
    # Each row is its network's record, to the bit: the right seed, fraction and method.
    table = {(r["method"], int(r["seed"]), float(r["fraction"])): (float(r["retained"]), float(r["test_acc"]))
             for r in rows}
    assert table == recorded_results(built, "mnist")
    pruned = {(r["fraction"], r["retained"]) for r in rows if r["method"] == "pruned"}
    assert all(abs(float(f) - float(r)) < 0.02 for f, r in pruned)  # measured from masks


def every_job(workdir: Path) -> list[dict]:
    """Every job of a built study, as a dry run that redoes everything announces it."""
    output = snakemake(workdir, "--dry-run", "--forceall").stdout
    return [job for job in announced_jobs(output) if job["rule"] != "all"]


def test_logs_exist_for_every_job(built):
    jobs = every_job(built)
    assert len(jobs) == 42
    for job in jobs:
        [log] = job["log"]
        text = (built / log).read_text()
        # Opens with the job it is, ends with what the job used.
        first = text.splitlines()[0]
        assert f"rule {job['rule']}, wildcards {job['wildcards']!r}, threads 1," in first, log
        job_usage(built / log)
    assert "epoch 3" in (built / "artifacts/mnist/logs/train_dense.log").read_text()


def columns(line: str, widths: list[int]) -> list[str]:
    """A fixed-width line of `lthpipe inspect`'s tables, cut into its cells."""
    cells, start = [], 0
    for width in widths:
        cells.append(line[start:start + width].strip())
        start += width
    return cells


def test_inspect_reads_every_checkpoint(built, capsys):
    for path in sorted((built / "artifacts").rglob("*.pt")):
        assert lthpipe_main(["inspect", str(path)]) == 0, path
    capsys.readouterr()


def test_inspect_of_a_stack_shows_its_networks_sections_sparsity_and_metrics(built, capsys):
    model = built / "artifacts/mnist/retrain/f0.200/model.pt"
    tensors, record = checkpoint.load(model)
    assert lthpipe_main(["inspect", str(model)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:7] == ["stage: retrain", "dataset: mnist", "hidden: [8]", "width: 8", "fraction: 0.2",
                         "seeds: [0, 1]", "methods: ['rewind', 'reinit', 'random_mask', 'dense_small']"]
    assert [line for line in lines if line.startswith("parent: ")] == [f"parent: {p}" for p in record["parents"]]
    # Networks: one row each, in the stack's order, with its measured sparsity and metrics.
    header = lines.index(f"{'network':<28}" + "".join(f"{c:>17}" for c in (
        "retained", "effective_hidden", "best_iteration", "val_acc", "test_acc", "final_test_acc")))
    networks = record["networks"]
    rows = [columns(line, [28] + [17] * 6) for line in lines[header + 1:header + 1 + len(networks)]]
    masks = [tensors[name] for name in sorted(tensors) if name.startswith("mask.")]
    for i, (row, network) in enumerate(zip(rows, networks)):
        kept = sum(int(m[i].sum()) for m in masks) / sum(m[i].numel() for m in masks)
        assert row[0] == f"{network['method']}/seed {network['seed']}"
        assert row[1] == f"{kept:.4f}"
        assert row[3] == str(record["metrics"]["best_iteration"][i])
        assert row[4:] == [f"{record['metrics'][c][i]:.4f}" for c in ("val_acc", "test_acc", "final_test_acc")]
    assert lines[header + 1 + len(networks)] == ""  # no other network
    # Sections: every tensor, its shape and dtype, and each network's share of zeros.
    start = lines.index(f"{'tensor':<16}{'shape':<22}{'dtype':<10}zero fraction (per network)")
    shown = {}
    for line in lines[start + 1:]:
        name, shape, dtype, zeros = columns(line, [16, 22, 10, 1000])
        shown[name] = (shape, dtype, zeros)
    assert {name.split(".")[0] for name in shown} == set(record["sections"]) == {"mask", "trained"}
    assert shown == {
        name: (str(list(t.shape)), str(t.dtype).removeprefix("torch."),
               " ".join(f"{float((t[i] == 0).float().mean()):.3f}" for i in range(len(networks))))
        for name, t in tensors.items()
    }


def test_inspect_of_a_dataset_folder_tables_every_stage_in_pipeline_order(built, capsys):
    assert lthpipe_main(["inspect", str(built / "artifacts/mnist")]) == 0
    lines = capsys.readouterr().out.splitlines()
    widths = [10, 34, 6, 10, 6, 9, 9]
    assert columns(lines[0], widths) == ["stage", "path", "width", "fraction", "nets", "val acc", "test acc"]
    rows = [columns(line, widths) for line in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [
        ("data", "data/data.json"), ("width", "width/w4.json"), ("width", "width/w8.json"),
        ("selection", "width/selection.json"), ("dense", "dense/model.json"),
        *(("prune", f"prune/f{tag}/masks.json") for tag in FRACTIONS),
        *(("retrain", f"retrain/f{tag}/model.json") for tag in FRACTIONS),
        ("aggregate", "summary.json"),
    ]
    for stage, rel, width, fraction, nets, val, test in rows:
        record = json.loads((built / "artifacts/mnist" / rel).read_text())
        if stage in ("width", "dense", "retrain"):
            networks = record["networks"]
            assert (nets, val, test) == (str(len(networks)), f"{mean(record['metrics']['val_acc']):.4f}",
                                         f"{mean(record['metrics']['test_acc']):.4f}"), rel
        if stage in ("prune", "retrain"):
            assert fraction == f"{record['fraction']:.3f}", rel
    chosen = json.loads((built / "artifacts/mnist/width/selection.json").read_text())
    assert rows[3][2:] == [str(chosen["width"]), "", "", f"{chosen['val_acc']:.4f}", f"{chosen['test_acc']:.4f}"]


def test_the_configured_export_predicts_what_the_masked_network_predicts(built):
    from lthpipe.export import FILES, runners
    from lthpipe.stages.exports import retrained_network

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
    # Each row is the network it names: rewind, seed 0, its measured retained share and
    # multiply-adds (dense and masked forms: every weight; CSR: the surviving ones).
    dense = json.loads((built / "artifacts/diabetes/dense/model.json").read_text())
    for row in bench["rows"]:
        tag = f"{row['fraction']:.3f}"
        stack, record = checkpoint.load_stack(built / f"artifacts/diabetes/retrain/f{tag}/model.pt")
        i = [(n.method, n.seed, n.fold) for n in stack.networks].index(("rewind", 0, 0))
        surviving = sum(int(m[i].sum()) for m in stack.sections["mask"].values())
        assert row["retained"] == record["networks"][i]["retained"]
        adds = {"dense": dense["n_weights"], "masked": dense["n_weights"], "csr_torch": surviving,
                "csr_scipy": surviving}
        if row["form"] in adds:
            assert row["multiply_adds"] == adds[row["form"]], row
        assert row["latency_us_q1"] <= row["latency_us"] <= row["latency_us_q3"]
    assert "# Inference" in (built / "artifacts/summary.md").read_text()


def test_a_second_run_has_nothing_to_do(built):
    assert planned_jobs(built) == []
    assert "Nothing to be done" in snakemake(built, "--dry-run").stdout


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


# Every job of the tiny study that runs torch, by rule.
TORCH_JOBS = {"make_data": 3, "train_width": 6, "train_dense": 3, "prune": 9, "retrain": 9, "decision_regions": 3,
              "export_network": 1, "benchmark_inference": 1}


def numerics_line(log: Path) -> dict:
    """What a torch job's log says of its numerics mode (lthpipe.jobs.job)."""
    [line] = [line for line in log.read_text().splitlines() if " lthpipe INFO numerics {" in line]
    return ast.literal_eval(line.split(" lthpipe INFO numerics ", 1)[1])


def test_the_opt_in_cross_cpu_mode_reruns_every_torch_job_and_is_what_they_use(scratch, mnist_dir):
    config = tiny_config(mnist_dir)
    config["numerics"] = "cross_cpu"
    write_config(scratch, config)
    planned = Counter(rule for rule, _ in planned_jobs(scratch))
    assert {rule: planned[rule] for rule in TORCH_JOBS} == TORCH_JOBS
    # diabetes's torch jobs, its export and its benchmark among them, run in that mode.
    targets = ["artifacts/diabetes/curve.png", "artifacts/diabetes/decision_regions.png",
               "artifacts/diabetes/inference.json", "artifacts/diabetes/export/f0.200/rewind/seed1/compact.onnx"]
    result = snakemake(scratch, "--cores", "2", *targets)
    ran = [job for job in announced_jobs(result.stdout + result.stderr) if job["rule"] in TORCH_JOBS]
    assert Counter(job["rule"] for job in ran) == {
        "make_data": 1, "train_width": 2, "train_dense": 1, "prune": 3, "retrain": 3, "decision_regions": 1,
        "export_network": 1, "benchmark_inference": 1,
    }
    # MKL pins its AVX2 kernels where torch has MKL; ARM and macOS builds have none to pin.
    mkl_isa = "AVX2" if torch.backends.mkl.is_available() else None
    expected = {"numerics": "cross_cpu", "mkl_cbwr": "AVX2,STRICT", "mkl_isa": mkl_isa,
                "aten_isa": torch.backends.cpu.get_cpu_capability()}
    records = 0
    for job in ran:
        assert numerics_line(scratch / job["log"][0]) == expected, job["log"]
        for output in job["output"]:
            record = json.loads((scratch / output).read_text()) if output.endswith(".json") else {}
            if "compute" in record:
                records += 1
                assert {k: record["compute"][k] for k in expected} == expected, output
    assert records == 2 + 1 + 3 + 1  # width, dense, retrain and benchmark records


def test_a_datasets_threads_reach_its_jobs_up_to_the_cores_given(scratch, mnist_dir):
    """README "Threads": each job runs the rule's `threads`, so `--cores N` runs at most N."""
    config = tiny_config(mnist_dir)
    config["datasets"]["diabetes"]["threads"] = 2
    write_config(scratch, config)
    target = "artifacts/diabetes/dense/model.json"
    for cores, threads in (("2", 2), ("1", 1)):
        result = snakemake(scratch, "--cores", cores, "--force", target)
        assert [job["rule"] for job in announced_jobs(result.stderr)] == ["train_dense"]
        log = (scratch / "artifacts/diabetes/logs/train_dense.log").read_text()
        assert f"threads {threads}, pid" in log.splitlines()[0]
        assert json.loads((scratch / target).read_text())["compute"]["threads"] == threads


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
    # A width that cannot win: under the tolerance rule with no tolerance, width 1 (one
    # unit for 4 classes) would have to match the best mean (under one_se, two seeds of
    # three epochs give standard errors wide enough for any width). The rule first.
    config["datasets"]["swiss_roll"].update(width_rule="tolerance", width_tolerance=0.0)
    write_config(scratch, config)
    snakemake(scratch, "--cores", "2")
    config["datasets"]["swiss_roll"]["widths"] = [1, 2, 4]
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
