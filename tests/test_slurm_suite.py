"""A tiny suite of three tables through profiles/slurm, on the one-node SLURM that
tests/test_slurm.py starts (its `cluster` fixture): the member the data refuse is
reported while the other two complete, and every job of the members runs inside a few
group jobs (the profile's group-components) instead of one cluster job each."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from test_slurm import ON_SLURM, cluster, plugin_dir, pytestmark, run  # noqa: F401 (fixtures, markers)
from workflow_helpers import announced_jobs, snakemake, write_config

SUITE = {
    "device": "cpu",
    "defaults": {"seeds": [0, 1], "fractions": [1.0, 0.3], "methods": ["rewind", "random_mask"],
                 "train": {"epochs": 2, "lr": 0.01, "batch_size": 16}},
    "suites": {"tiny": {"files": "tables", "source": {"header": True}, "widths": [2, 4],
                        "members": {"alpha": {"source": {"target": "label"}}}}},
}
ACCEPTED = ("alpha", "beta")
# The cluster jobs of one accepted member, by rule (two widths, two fractions).
MEMBER_JOBS = {"make_data": 1, "train_width": 2, "train_dense": 1, "prune": 2, "retrain": 2, "decision_regions": 1}
# Group jobs by their SLURM comment: the three checks in one (they are planned together),
# both members' data and width searches in one (planned when the checks' job ends).
CHECKS = "rule_suite_search_check_data"
SEARCH = "rule_suite_search_make_data_train_width"
TRAINING = "rule_suite_training_decision_regions_prune_retrain_train_dense"


def write_tables(folder: Path) -> None:
    folder.mkdir()
    alpha = ["f0,label,f1"] + [f"{i % 7 - 3},{int(i % 7 > 3)},{(i * 5) % 11 - 5}" for i in range(60)]
    beta = ["f0,f1,label"] + [f"{(i * 3) % 5 - 2},{i % 4},{int((i * 3) % 5 > 2)}" for i in range(60)]
    (folder / "alpha.csv").write_text("\n".join(alpha) + "\n")
    (folder / "beta.csv").write_text("\n".join(beta) + "\n")
    (folder / "gamma.csv").write_text("a,label\n1,x\n?,y\n2,x\n3,y\n")  # a '?' cell: refused


@pytest.fixture(scope="module")
def suite_on_slurm(cluster, tmp_path_factory) -> Path:  # noqa: F811 (the imported fixture)
    """The suite through the profile; --cores 2, the test node's CPUs, caps each group job."""
    workdir = tmp_path_factory.mktemp("suite_on_slurm")
    write_tables(workdir / "tables")
    write_config(workdir, SUITE)
    snakemake(workdir, *ON_SLURM, "--cores", "2", "--slurm-keep-successful-logs", env=cluster, timeout=900)
    return workdir


def batch_jobs(env: dict[str, str], workdir: Path) -> list[tuple[str, str]]:
    """(comment, state) of every batch job SLURM ran in workdir."""
    jobs = []
    for line in run(["scontrol", "show", "job", "--oneliner"], env).splitlines():
        fields = dict(field.split("=", 1) for field in line.split() if "=" in field)
        if fields.get("WorkDir") == str(workdir) and fields.get("BatchFlag") == "1":
            jobs.append((fields["Comment"], fields["JobState"]))
    return jobs


def test_the_refused_member_is_reported_and_the_others_complete(suite_on_slurm):
    answer = json.loads((suite_on_slurm / "artifacts/suites/tiny/summary.json").read_text())
    assert answer["datasets"] == list(ACCEPTED)
    assert [(r["dataset"], r["message"].split(":")[:2]) for r in answer["refused"]] == [
        ("gamma", ["tables/gamma.csv", " missing values"])]
    for name in ACCEPTED:
        assert (suite_on_slurm / "artifacts" / name / "summary.json").is_file()


def test_the_members_jobs_run_in_a_few_group_jobs(suite_on_slurm, cluster):  # noqa: F811
    jobs = batch_jobs(cluster, suite_on_slurm)
    assert {state for _, state in jobs} == {"COMPLETED"}
    counts = Counter(comment for comment, _ in jobs)
    # The two members' training groups share a job when both width choices end in one
    # pass of Snakemake's scheduler, else they go in one job each.
    assert counts[CHECKS] == 1 and counts[SEARCH] == 1 and counts[TRAINING] in (1, 2)
    assert sum(counts.values()) == 2 + counts[TRAINING]
    # What ran inside them, from their SLURM logs: every cluster job of the suite, once.
    ran = Counter()
    for log in (suite_on_slurm / ".snakemake" / "slurm_logs").rglob("*.log"):
        for job in announced_jobs(log.read_text()):
            ran[(job["rule"], job["wildcards"]["dataset"])] += 1
    expected = Counter({("check_data", name): 1 for name in (*ACCEPTED, "gamma")})
    expected.update({(rule, name): k for name in ACCEPTED for rule, k in MEMBER_JOBS.items()})
    assert ran == expected
