import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lthpipe.config import ConfigError, code_version, resolve

REPO = Path(__file__).resolve().parents[1]
GOOD = {
    "datasets": {
        "swiss_roll": {"widths": [2, 4]},
        "mnist": {"data": {"n_train": 100}, "train": {"epochs": 2}},
    },
    "defaults": {"fractions": [1.0, 0.5], "train": {"lr": 0.01}},
}


def with_change(path: str, value):
    config = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


BAD = [
    ("datasets.cifar", {}, "datasets"),  # unknown dataset
    ("datasets.../x", {}, "datasets"),  # a name that would escape artifacts/
    ("defaults.fractions", [1.5], "defaults.fractions.0"),
    ("defaults.fractions", [0.0], "defaults.fractions.0"),
    ("defaults.fractions", [-0.2], "defaults.fractions.0"),
    ("defaults.fractions", [0.5, 0.5], "defaults.fractions"),  # duplicated
    ("defaults.fractions", [0.0005], "fractions"),  # finer than the path format
    ("defaults.fractions", [], "defaults.fractions"),
    ("datasets.swiss_roll.widths", [], "datasets.swiss_roll.widths"),
    ("datasets.swiss_roll.widths", [0, 4], "datasets.swiss_roll.widths.0"),
    ("datasets.swiss_roll.widths", [2.5], "datasets.swiss_roll.widths.0"),
    ("datasets.swiss_roll.widths", "8", "datasets.swiss_roll.widths"),
    ("datasets.mnist.train.epochs", -1, "datasets.mnist.train.epochs"),
    ("datasets.mnist.train.epochs", "ten", "datasets.mnist.train.epochs"),
    ("defaults.train.lr", 0, "defaults.train.lr"),
    ("defaults.train.batch_size", 0, "defaults.train.batch_size"),
    ("defaults.methods", ["rewind", "magic"], "defaults.methods.1"),  # unknown method
    ("defaults.methods", [], "defaults.methods"),
    ("defaults.pruning", "random", "defaults.pruning"),
    ("defaults.seeds", [-1], "defaults.seeds.0"),
    ("defaults.epochs", 3, "defaults"),  # unknown key (epochs lives under train)
    ("datasets.mnist.seedz", [1], "datasets.mnist"),  # typo in a dataset's key
    ("datasets.mnist.data.n_samples", 10, "datasets.mnist.data"),  # another dataset's data key
    ("datasets.swiss_roll.data.n_classes", 1, "datasets.swiss_roll.data.n_classes"),
    ("device", "tpu", "device"),
    ("width_tolerance", 0.1, "(top level)"),  # study key at the wrong level
    ("defaults.width_tolerance", 2, "defaults.width_tolerance"),
]


def test_the_shipped_configs_are_valid():
    for name in ("config.yaml", "config.full.yaml", "tests/tiny.yaml"):
        studies = resolve(yaml.safe_load((REPO / name).read_text()))
        assert set(studies) == {"swiss_roll", "diabetes", "mnist"}


def test_overrides_take_precedence_over_defaults():
    studies = resolve(GOOD)
    assert studies["mnist"].train.epochs == 2 and studies["mnist"].train.lr == 0.01
    assert studies["swiss_roll"].train.epochs == 10  # schema default
    assert studies["swiss_roll"].widths == (2, 4) and studies["mnist"].fractions == (1.0, 0.5)
    assert studies["mnist"].data.n_train == 100 and studies["mnist"].data.local_dir is None


@pytest.mark.parametrize(("path", "value", "key"), BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_bad_config_is_rejected_naming_the_key(path, value, key):
    with pytest.raises(ConfigError, match="config key") as err:
        resolve(with_change(path, value))
    assert f"'{key}'" in str(err.value) or (key == "fractions" and "fractions" in str(err.value))


def test_snakemake_stops_on_a_bad_config_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_change("datasets.mnist.train.epochs", -3)))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1",
         "--configfile", str(bad)],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "datasets.mnist.train.epochs" in result.stderr + result.stdout
    assert not (tmp_path / "artifacts").exists()


def test_code_version_changes_with_the_source(tmp_path, monkeypatch):
    import lthpipe.config as config_module

    before = code_version(["plots"])
    fake = tmp_path / "config.py"
    fake.write_text("")
    (tmp_path / "plots.py").write_text((Path(config_module.__file__).parent / "plots.py").read_text() + "\n# edit\n")
    monkeypatch.setattr(config_module, "__file__", str(fake))
    assert code_version(["plots"]) != before
