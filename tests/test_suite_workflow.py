"""A tiny suite end to end: a folder of two tables, one of which the data refuse, with a
planted variant of the other. The refused member is reported with its message while the
rest of the suite completes in the same run; the suite's numbers are its members'; the
report has the suite's section; a second run has nothing to do. A member whose job
fails after its data were accepted is in the summary of the same run, with its error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lthpipe.suite_report import removable
from workflow_helpers import fault_env, snakemake, write_config

pytestmark = pytest.mark.workflow

SUITE = {
    "device": "cpu",
    "defaults": {"seeds": [0, 1], "fractions": [1.0, 0.3], "methods": ["rewind", "random_mask"],
                 "train": {"epochs": 2, "lr": 0.01, "batch_size": 16}},
    "suites": {"tiny": {
        "files": "tables",
        "source": {"header": True},
        "widths": [4],
        "members": {"alpha": {"source": {"target": "label"}}},
        "planted": [{"factor": 1, "kind": "permuted"}],
    }},
}


def write_tables(folder: Path) -> None:
    folder.mkdir()
    # alpha: the label in the middle column, given by name; two informative features.
    rows = ["f0,label,f1"] + [f"{i % 7 - 3},{int(i % 7 > 3)},{(i * 5) % 11 - 5}" for i in range(60)]
    (folder / "alpha.csv").write_text("\n".join(rows) + "\n")
    # gamma: a '?' cell, refused under the default missing: refuse.
    (folder / "gamma.csv").write_text("a,label\n1,x\n?,y\n2,x\n3,y\n")


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("suite")
    write_tables(workdir / "tables")
    write_config(workdir, SUITE)
    result = snakemake(workdir, "--cores", "2")
    return workdir, result.stdout + result.stderr


def test_a_refused_member_is_reported_while_the_rest_completes(suite_run):
    workdir, _ = suite_run
    folder = workdir / "artifacts" / "suites" / "tiny"
    answer = json.loads((folder / "summary.json").read_text())
    assert answer["datasets"] == ["alpha"]
    message = ("tables/gamma.csv: missing values: column 'a' has 1 missing cell ('?'); 1 row has one. Set missing: "
               "drop to leave those rows out, or missing: impute")
    assert [r["dataset"] for r in answer["refused"]] == ["gamma", "gamma_permuted1"]
    assert all(r["message"].startswith(message) for r in answer["refused"])
    assert f"- gamma (tables/gamma.csv): refused: {message}" in (folder / "summary.md").read_text()
    # Nothing of the refused member ran past its check.
    assert sorted(p.name for p in (workdir / "artifacts" / "gamma").rglob("*.json")) == ["check.json"]
    for name in ("summary.html", "summary.png", "planted.png"):
        assert (folder / name).stat().st_size > 0
    for name in ("alpha", "alpha_permuted1"):
        assert (workdir / "artifacts" / name / "curve.png").is_file()


def test_the_suites_numbers_are_its_members(suite_run):
    workdir, _ = suite_run
    answer = json.loads((workdir / "artifacts/suites/tiny/summary.json").read_text())
    summary = json.loads((workdir / "artifacts/alpha/summary.json").read_text())
    data = json.loads((workdir / "artifacts/alpha/data/data.json").read_text())
    alpha = next(r for r in answer["members"] if r["dataset"] == "alpha")
    for method, info in summary["methods"]["oneshot"].items():
        assert alpha["methods"][method] == removable(info["points"])
    assert alpha["traits"]["rows"] == 60 and alpha["traits"]["features"] == data["n_features"] == 2
    assert answer["methods"]["rewind"]["distribution"]["median"] == alpha["methods"]["rewind"]["removable"]
    # The planted variant: its two planted columns, and what each network's mask did to them.
    planted = json.loads((workdir / "artifacts/alpha_permuted1/planted.json").read_text())
    assert planted["planted"]["columns"] == [2, 3] and planted["planted"]["copies_of"] == [0, 1]
    assert {(r["fraction"], r["method"]) for r in planted["networks"]} == {
        (f, m) for f in (1.0, 0.3) for m in ("rewind", "random_mask")}
    assert [row["factors"] for row in answer["planted"]["removable"]][0].keys() == {"0", "1"}


def test_the_report_has_the_suites_section(suite_run, tmp_path):
    workdir, _ = suite_run
    report = tmp_path / "report.html"
    snakemake(workdir, "--report", str(report))
    page = report.read_text()
    for name in ("summary.html", "summary.png", "planted.png"):
        assert f"artifacts/suites/tiny/{name}" in page
    assert "suite tiny" in page


def test_a_second_run_has_nothing_to_do(suite_run):
    workdir, _ = suite_run
    assert "Nothing to be done" in snakemake(workdir, "--cores", "2", "--dry-run").stdout


# The dense training of member beta fails (a planted fault, for this test only).
FAIL_BETA = """
import os, sys

rename = os.replace

def replace(src, dst, *args, **kwargs):
    if sys.argv[0].endswith(".train_dense.py") and "artifacts/beta/" in str(dst):
        raise RuntimeError("planted failure in beta's dense training")
    return rename(src, dst, *args, **kwargs)

os.replace = replace
"""


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory) -> tuple[Path, int, str]:
    """The suite with a third table, beta, whose dense training fails, run with --keep-going."""
    workdir = tmp_path_factory.mktemp("suite_failing")
    write_tables(workdir / "tables")
    (workdir / "tables" / "beta.csv").write_text((workdir / "tables" / "alpha.csv").read_text())
    config = json.loads(json.dumps(SUITE))
    config["suites"]["tiny"]["members"]["beta"] = {"source": {"target": "label"}}
    del config["suites"]["tiny"]["planted"]
    write_config(workdir, config)
    result = snakemake(workdir, "--cores", "2", "--keep-going", check=False,
                       env=fault_env(workdir.parent / f"{workdir.name}_hook", FAIL_BETA))
    return workdir, result.returncode, result.stdout + result.stderr


def test_a_member_failing_after_acceptance_is_in_the_same_runs_summary_with_its_error(failed_run):
    workdir, returncode, output = failed_run
    folder = workdir / "artifacts" / "suites" / "tiny"
    assert returncode != 0
    assert "lthpipe: suite tiny: beta failed" in output
    answer = json.loads((folder / "summary.json").read_text())
    assert answer["datasets"] == ["alpha"]  # the rest completed in the same run
    assert {r["dataset"]: r["status"] for r in answer["refused"]} == {"beta": "failed", "gamma": "refused"}
    message = "train_dense: RuntimeError: planted failure in beta's dense training"
    assert next(r["message"] for r in answer["refused"] if r["dataset"] == "beta") == message
    assert f"- beta (tables/beta.csv): failed: {message}" in (folder / "summary.md").read_text()
    assert (folder / "summary.png").stat().st_size > 0


def test_the_next_run_rebuilds_a_summary_written_after_a_failure(failed_run):
    workdir, _, _ = failed_run
    snakemake(workdir, "--cores", "2")  # the fault is gone
    answer = json.loads((workdir / "artifacts/suites/tiny/summary.json").read_text())
    assert answer["datasets"] == ["alpha", "beta"]
    assert [r["dataset"] for r in answer["refused"]] == ["gamma"]
