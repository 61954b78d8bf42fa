import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lthpipe.config import ConfigError, resolve
from lthpipe.settings import LevelSettings, from_params, to_params

REPO = Path(__file__).resolve().parents[1]
GOOD = {
    "datasets": {
        "swiss_roll": {"source": {"kind": "sklearn", "name": "swiss_roll"}, "widths": [2, 4]},
        "mnist": {"source": {"kind": "mnist", "n_train": 100}, "train": {"epochs": 2}},
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
    ("datasets.../x", {"source": {"kind": "mnist"}}, "datasets"),  # a name that would escape artifacts/
    ("datasets.MNIST", {"source": {"kind": "mnist"}}, "datasets"),  # names are lower case
    ("datasets.cifar", {}, "datasets.cifar"),  # no source
    ("datasets.cifar", {"source": {"kind": "cifar"}}, "datasets.cifar.source.kind"),  # unknown kind
    ("datasets.tab", {"source": {"kind": "csv"}}, "datasets.tab.source"),  # a file kind without its path
    ("datasets.tab", {"source": {"kind": "csv", "path": "x.csv", "sheet": 1}}, "datasets.tab.source"),  # unknown key
    ("datasets.tab", {"source": {"kind": "sklearn", "name": "iris", "n_samples": 10}}, "datasets.tab.source"),
    ("datasets.tab", {"source": {"kind": "sklearn", "name": "mnist"}}, "datasets.tab.source.name"),
    ("datasets.tab", {"source": {"kind": "openml"}}, "datasets.tab.source"),  # neither name nor data_id
    ("datasets.tab", {"source": {"kind": "openml", "name": "x", "data_id": 3}}, "datasets.tab.source"),  # both
    ("datasets.mnist.split", {"val_fraction": 0.1}, "datasets.mnist.split"),  # MNIST's split is its own
    ("datasets.swiss_roll.split", {"scheme": "loo"}, "datasets.swiss_roll.split.scheme"),
    ("datasets.swiss_roll.split", {"resplits": 0}, "datasets.swiss_roll.split.resplits"),
    ("datasets.swiss_roll.resources", {"mem_mb": 10}, "datasets.swiss_roll.resources.mem_mb"),
    ("defaults.fractions", [1.5], "defaults.fractions.0"),
    ("defaults.fractions", [0.0], "defaults.fractions.0"),
    ("defaults.fractions", [-0.2], "defaults.fractions.0"),
    ("defaults.fractions", [0.5, 0.5], "defaults.fractions"),  # duplicated
    ("defaults.fractions", [0.0005], "fractions"),  # finer than the path format
    ("defaults.fractions", [], "fractions"),  # neither one-shot fractions nor iterative levels
    ("defaults.imp", {"levels": 2, "methods": ["reinit"]}, "imp.methods"),  # the chain needs its ticket
    ("datasets.swiss_roll.widths", [], "datasets.swiss_roll.widths"),
    ("datasets.swiss_roll.widths", [0, 4], "datasets.swiss_roll.widths.0"),
    ("datasets.swiss_roll.widths", [2.5], "datasets.swiss_roll.widths.0"),
    ("datasets.swiss_roll.widths", "8", "datasets.swiss_roll.widths"),
    ("datasets.swiss_roll.hidden", [300, 0], "datasets.swiss_roll.hidden.1"),
    ("datasets.mnist.train.epochs", -1, "datasets.mnist.train.epochs"),
    ("datasets.mnist.train.epochs", "ten", "datasets.mnist.train.epochs"),
    ("datasets.mnist.train.early_stopping", "test_acc", "datasets.mnist.train.early_stopping"),
    ("defaults.train.lr", 0, "defaults.train.lr"),
    ("defaults.train.batch_size", 0, "defaults.train.batch_size"),
    ("defaults.train.iterations", 0, "defaults.train.iterations"),
    ("defaults.methods", ["rewind", "magic"], "defaults.methods.1"),  # unknown method
    ("defaults.methods", [], "defaults.methods"),
    ("defaults.methods", ["rewind", "oneshot"], "methods"),  # iterative pruning only
    ("defaults.pruning", "random", "defaults.pruning"),
    ("defaults.init", "zeros", "defaults.init"),
    ("defaults.rewind", {"at": 2, "unit": "step"}, "defaults.rewind.unit"),
    ("defaults.imp", {"levels": 2, "rate": 1.0}, "defaults.imp.rate"),
    ("defaults.imp", {"levels": 2, "methods": ["snip"]}, "defaults.imp.methods.0"),
    ("defaults.seeds", [-1], "defaults.seeds.0"),
    ("defaults.epochs", 3, "defaults"),  # unknown key (epochs lives under train)
    ("datasets.mnist.seedz", [1], "datasets.mnist"),  # typo in a dataset's key
    ("datasets.mnist.source.n_samples", 10, "datasets.mnist.source"),  # another kind's source key
    ("datasets.swiss_roll.source.n_classes", 1, "datasets.swiss_roll.source.n_classes"),
    ("device", "tpu", "device"),
    ("width_tolerance", 0.1, "(top level)"),  # study key at the wrong level
    ("defaults.width_tolerance", 2, "defaults.width_tolerance"),
]


def test_the_shipped_configs_are_valid():
    for name in ("config.yaml", "config.full.yaml", "tests/tiny.yaml"):
        studies = resolve(yaml.safe_load((REPO / name).read_text()), files=[REPO / name])
        assert set(studies) == {"swiss_roll", "diabetes", "mnist"}


def test_overrides_take_precedence_over_defaults():
    studies = resolve(GOOD)
    mnist, roll = studies["mnist"].settings, studies["swiss_roll"].settings
    assert mnist.train.epochs == 2 and mnist.train.lr == 0.01
    assert roll.train.epochs == 10  # schema default
    assert roll.widths == (2, 4) and mnist.fractions == (1.0, 0.5)
    assert studies["mnist"].data.source.n_train == 100 and studies["mnist"].data.source.local_dir is None
    assert studies["swiss_roll"].data.source.n_classes == 6 and studies["swiss_roll"].data.split.stratify is True


def test_a_study_setting_reaches_its_rule_as_one_object():
    study = resolve(with_change("defaults.imp", {"levels": 3, "rate": 0.5}))["mnist"]
    level = study.level_settings(2)
    assert (level.level, level.rate, level.output_rate) == (2, 0.5, 0.1)
    assert level.run.train.epochs == 2 and level.scope == "layerwise"
    assert from_params(LevelSettings, to_params(level)) == level


def test_at_init_methods_need_the_rewind_point_at_zero():
    config = with_change("defaults.methods", ["rewind", "snip"])
    resolve(config)
    config["defaults"]["rewind"] = {"at": 1, "unit": "epoch"}
    with pytest.raises(ConfigError, match="rewind.at = 0"):
        resolve(config)


def test_a_dataset_named_twice_in_one_file_is_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "datasets:\n  wine:\n    source: {kind: sklearn, name: wine}\n"
        "  wine:\n    source: {kind: sklearn, name: iris}\n"
    )
    with pytest.raises(ConfigError, match=r"'wine' appears twice in one mapping \(lines 2 and 4"):
        resolve(yaml.safe_load(path.read_text()), files=[path])


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


def test_the_schema_lists_what_the_registries_hold():
    """The schema's enums are written out for users to read; the registries are the
    facts. A kind, bundled set, method, split scheme or numerics mode added to one only fails here."""
    from lthpipe import numerics
    from lthpipe.config import load_schema
    from lthpipe.datasets import KINDS
    from lthpipe.datasets.base import SCHEMES
    from lthpipe.datasets.bundled import SHAPES
    from lthpipe.lottery import METHODS, at_levels
    from lthpipe.selection import WIDTH_RULES
    from lthpipe.settings import INITS, SCOPES

    schema = load_schema()
    defs = schema["$defs"]
    assert defs["source"]["properties"]["kind"]["enum"] == list(KINDS)
    assert {f"source_{kind}" for kind in KINDS} <= set(defs)
    assert defs["source_sklearn"]["properties"]["name"]["enum"] == list(SHAPES)
    assert set(defs["method"]["enum"]) == set(METHODS)
    assert defs["imp"]["properties"]["methods"]["items"]["enum"] == list(at_levels())
    assert defs["split"]["properties"]["scheme"]["enum"] == list(SCHEMES)
    assert schema["properties"]["numerics"]["enum"] == list(numerics.MODES)
    assert defs["study"]["properties"]["width_rule"]["enum"] == list(WIDTH_RULES)
    assert defs["study"]["properties"]["pruning"]["enum"] == list(SCOPES)
    assert defs["study"]["properties"]["init"]["enum"] == list(INITS)


def test_the_schemas_defaults_are_the_settings_dataclasses_defaults():
    """A default is declared in the schema (what users read) and in the dataclass (what
    the code falls back to): the two must agree wherever both exist."""
    import dataclasses

    from lthpipe.config import load_schema
    from lthpipe.settings import (
        AtInitSettings, ImpSettings, InferenceSettings, RewindSettings, SelectionSettings, TrainSettings,
    )

    schema = load_schema()
    defs = schema["$defs"]
    pairs = [(defs["train"], TrainSettings), (defs["imp"], ImpSettings), (defs["rewind"], RewindSettings),
             (defs["at_init"], AtInitSettings), (schema["properties"]["inference"], InferenceSettings)]
    compared = 0
    for node, cls in pairs:
        for f in dataclasses.fields(cls):
            prop = node["properties"].get(f.name, {})
            if "default" not in prop or f.default is dataclasses.MISSING:
                continue
            default = list(f.default) if isinstance(f.default, tuple) else f.default
            assert prop["default"] == default, f"{cls.__name__}.{f.name}: schema {prop['default']!r}, code {default!r}"
            compared += 1
    study = defs["study"]["properties"]
    assert study["width_rule"]["default"] == SelectionSettings().rule
    assert study["width_tolerance"]["default"] == SelectionSettings().tolerance
    assert compared >= 15
