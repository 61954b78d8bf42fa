"""Settings the machine cannot run are refused when the workflow is parsed, naming the key."""

import copy
import subprocess
import sys

import pytest
import yaml

from lthpipe import feasibility
from lthpipe.config import ConfigError, resolve
from workflow_helpers import REPO

CONFIG = {
    "datasets": {"toy": {"source": {"kind": "sklearn", "name": "iris"}, "widths": [2, 4]}},
    "defaults": {"fractions": [1.0, 0.5], "seeds": [0, 1]},
}


def dry_run(tmp_path, config: dict) -> subprocess.CompletedProcess:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1",
         "--configfile", str(tmp_path / "config.yaml"), "--dry-run"],
        capture_output=True, text=True,
    )


def with_study(**overrides) -> dict:
    config = copy.deepcopy(CONFIG)
    config["datasets"]["toy"].update(overrides)
    return config


def test_training_memory_is_the_documented_sum():
    # 3 networks 4 -> 1000 -> 3: 8003 weights, 8 copies; 4096 evaluation rows x 1003 outputs x 3 copies; 4 bytes.
    weights, activations = 4 * 1000 + 1000 + 1000 * 3 + 3, 4096 * 1003 * 3
    expected = 700 + -(-3 * (weights * 8 + activations) * 4 // 2**20)
    assert feasibility.training_mb([1000], 3, batch_size=32, max_rows=10**6, features=4, classes=3) == expected
    # A batch larger than the evaluation chunk sizes the activations; the data's rows bound both.
    big, chunk = (feasibility.training_mb([1000], 1, batch_size=b, max_rows=10**6) for b in (10**6, 4096))
    assert big > chunk
    assert feasibility.training_mb([1000], 1, batch_size=10**6, max_rows=4096) == chunk


def test_cuda_is_refused_on_a_machine_without_it_only_where_jobs_run_here(monkeypatch):
    monkeypatch.setattr(feasibility, "cuda_present", lambda: False)
    assert "config key 'device'" in feasibility.check_device("cuda", local=True)
    assert feasibility.check_device("cuda", local=False) is None  # a cluster node checks itself
    assert feasibility.check_device("auto", local=True) is None
    monkeypatch.setattr(feasibility, "cuda_present", lambda: True)
    assert feasibility.check_device("cuda", local=True) is None


@pytest.mark.skipif(feasibility.cuda_present(), reason="this machine has an NVIDIA driver: device cuda is valid here")
def test_snakemake_dry_run_refuses_cuda_without_cuda(tmp_path):
    result = dry_run(tmp_path, {**CONFIG, "device": "cuda"})
    assert result.returncode != 0
    assert "config key 'device': cuda, but this machine has no CUDA device" in result.stdout + result.stderr
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize("overrides, key", [
    ({"widths": [2, 100_000_000]}, "'widths' of toy"),
    ({"hidden": [100_000_000]}, "'hidden' of toy"),
    # MNIST: the data's size bounds a batch at millions of rows.
    ({"source": {"kind": "mnist"}, "widths": [64], "train": {"batch_size": 100_000_000}}, "'train.batch_size' of toy"),
])
def test_snakemake_dry_run_refuses_networks_and_batches_no_job_could_hold(tmp_path, overrides, key):
    result = dry_run(tmp_path, with_study(**overrides))
    assert result.returncode != 0
    assert f"config key {key}: a " in result.stdout + result.stderr
    assert f"more than this machine's memory ({feasibility.machine_mb()} MB)" in result.stdout + result.stderr
    assert not (tmp_path / "artifacts").exists()


def test_a_batch_larger_than_the_data_is_one_full_batch_and_passes():
    feasibility.check(resolve(with_study(train={"batch_size": 100_000_000})), "cpu", local=True)


def test_a_datasets_own_memory_limit_is_checked_even_for_cluster_jobs():
    studies = resolve(with_study(resources={"mem_mb": 800}, widths=[2, 100_000]))
    with pytest.raises(ConfigError, match=r"'widths' of toy: a \w+ job would need about \d+ MB, more than its "
                                          r"resources.mem_mb \(800 MB\)"):
        feasibility.check(studies, "cpu", local=False)
    feasibility.check(resolve(with_study(resources={"mem_mb": 800}, widths=[2, 4])), "cpu", local=False)


def test_the_memory_resource_covers_the_largest_stack(tmp_path):
    """A job's mem_mb is at least the estimate, so a cluster gives it what it needs."""
    studies = resolve(with_study(widths=[2, 100_000]))
    largest = max(mb for _, mb in feasibility.training_estimates(studies["toy"]).values())
    assert largest > 1000
    result = dry_run(tmp_path, with_study(widths=[2, 100_000]))
    assert result.returncode == 0, result.stderr
    assert f"mem_mb={largest}," in result.stdout


def test_a_job_on_a_machine_whose_torch_has_no_cuda_refuses_in_one_line(monkeypatch):
    import torch

    from lthpipe.errors import Refused
    from lthpipe.train import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(Refused, match=r"device: cuda, but this machine \(.+\) has no CUDA device torch .+ can use"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
