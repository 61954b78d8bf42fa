"""Every config file the project ships, taken the way its header comment says to run
it: merged over config.yaml (Snakemake's --configfile), or as the whole configuration
(--replace-workflow-config). Each passes the schema and its checks
(lthpipe.config.resolve), and Snakemake plans it: a dry run with a job for every
dataset it names."""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from lthpipe.config import resolve
from workflow_helpers import REPO, announced_jobs, run_all

pytestmark = pytest.mark.workflow

SHIPPED = ["config.yaml", "config.full.yaml", *(
    str(path.relative_to(REPO)) for folder in ("config", "examples", "examples/uci")
    for path in sorted((REPO / folder).glob("*.yaml"))
)]


SHARED = REPO.parent / "shared"


def needs_shared(rel: str) -> bool:
    """Whether a config reads the development machines' data beside the checkout."""
    return "../shared/" in (REPO / rel).read_text()


def header(path: Path) -> str:
    """The comment lines a config file opens with."""
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines[:next(i for i, line in enumerate(lines) if not line.startswith("#"))])


def replaces(rel: str) -> bool:
    """Whether the file's header runs it as the whole configuration."""
    return "--replace-workflow-config" in header(REPO / rel)


def effective_config(rel: str) -> dict:
    """The configuration Snakemake runs: the file alone, or merged over config.yaml
    (dicts merge, lists replace)."""
    own = yaml.safe_load((REPO / rel).read_text())
    if rel == "config.yaml" or replaces(rel):
        return own
    merged = copy.deepcopy(yaml.safe_load((REPO / "config.yaml").read_text()))
    update_config(merged, own)
    return merged


def test_every_shipped_config_is_here():
    """Not vacuous: the default, the full study, the opt-in studies and the example."""
    assert {"config.yaml", "config.full.yaml", "config/inference.yaml", "config/open_questions.yaml",
            "config/paper_lenet.yaml", "examples/breast_cancer.yaml"} <= set(SHIPPED)
    assert {"config/paper_lenet.yaml", "examples/breast_cancer.yaml", "examples/uci/german.yaml"} <= {
        rel for rel in SHIPPED if replaces(rel)}


@pytest.mark.parametrize("rel", SHIPPED)
def test_a_shipped_config_passes_the_schema(rel):
    config = effective_config(rel)
    files = [REPO / rel] if rel == "config.yaml" or replaces(rel) else [REPO / "config.yaml", REPO / rel]
    studies = resolve(config, files=files)
    # Plain datasets, and a suite's members expanded into datasets of their own.
    assert set(config.get("datasets", {})) <= set(studies) != set()
    assert ("suites" in config) == (set(studies) != set(config.get("datasets", {})))


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict:
    """Each shipped config planned by Snakemake, side by side, each in a folder holding
    what its relative paths name (config.yaml, examples/)."""
    commands = {}
    for rel in SHIPPED:
        if needs_shared(rel) and not SHARED.is_dir():
            continue
        workdir = tmp_path_factory.mktemp(Path(rel).stem)
        # ../shared beside the folder, as beside the checkout (the development machines' data).
        if needs_shared(rel) and not (workdir.parent / "shared").exists():
            (workdir.parent / "shared").symlink_to(SHARED)
        shutil.copy2(REPO / "config.yaml", workdir / "config.yaml")
        shutil.copytree(REPO / "examples", workdir / "examples")
        command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                   "--configfile", str(REPO / rel), "--dry-run", "--nolock"]
        commands[rel] = ([*command, "--replace-workflow-config"] if replaces(rel) else command, workdir)
    return run_all(commands)


@pytest.mark.parametrize("rel", SHIPPED)
def test_a_shipped_config_plans_every_dataset_it_names(dry_runs, rel):
    if rel not in dry_runs:
        pytest.skip(f"{rel} reads ../shared/data, which is not beside this checkout")
    result = dry_runs[rel]
    assert result.returncode == 0, result.stdout
    jobs = [job for job in announced_jobs(result.stdout) if job["rule"] != "all"]
    planned = {job["wildcards"]["dataset"] for job in jobs if "dataset" in job["wildcards"]}
    config = effective_config(rel)
    assert planned == set(resolve(config))
    rules = {job["rule"] for job in jobs}
    if "suites" in config:  # members are checked first (a checkpoint); the rest is planned once accepted
        assert {"check_data", "suite_member", "suite_summary"} <= rules
    if config.get("datasets"):
        assert {"make_data", "aggregate"} <= rules
