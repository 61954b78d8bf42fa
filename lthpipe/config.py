"""The configuration: validated against config.schema.yaml, then resolved into
one frozen Study per dataset (schema defaults < `defaults` < the dataset's own),
which hands each rule its settings object."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lthpipe import datasets
from lthpipe.artifacts import fraction_tag
from lthpipe.lottery import METHODS, at_init_sources, regrowing
from lthpipe.settings import (
    DenseSettings,
    ExportTarget,
    InferenceSettings,
    LevelSettings,
    PruneSettings,
    ReportSettings,
    RetrainSettings,
    RewindSettings,
    SelectionSettings,
    SpawnSettings,
    StudySettings,
    TrainingRun,
    WidthSettings,
    from_params,
)

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Resources:
    """A dataset's own per-job memory (MB) and wall time (minutes), if it sets them."""

    mem_mb: int | None = None
    runtime: int | None = None


@dataclass(frozen=True)
class Study:
    """Everything that shapes one dataset's results, and each rule's share of it."""

    dataset: str
    data: datasets.DataSettings
    settings: StudySettings
    resources: Resources
    device: str
    order_seed: int

    @property
    def searches_width(self) -> bool:
        return self.settings.hidden is None

    def run(self) -> TrainingRun:
        s = self.settings
        return TrainingRun(train=s.train, init=s.init, order_seed=self.order_seed, device=self.device)

    def width_settings(self) -> WidthSettings:
        return WidthSettings(seeds=self.settings.seeds, run=self.run())

    def dense_settings(self, hidden: Iterable[int]) -> DenseSettings:
        return DenseSettings(seeds=self.settings.seeds, hidden=tuple(hidden), run=self.run(), rewind=self.settings.rewind)

    def prune_settings(self, fraction: float) -> PruneSettings:
        s = self.settings
        return PruneSettings(
            fraction=fraction, scope=s.pruning, at_init=at_init_sources(s.methods), at_init_settings=s.at_init,
            batch_size=s.train.batch_size,
        )

    def retrain_settings(self) -> RetrainSettings:
        s = self.settings
        # SET's and RigL's schedule, only where they train: it shapes nothing else.
        sparse = s.sparse_training if regrowing(s.methods) else None
        return RetrainSettings(methods=s.methods, run=self.run(), sparse=sparse)

    def spawn_settings(self, at: int) -> SpawnSettings:
        s = self.settings
        return SpawnSettings(rewind=RewindSettings(at=at, unit=s.instability.unit), fraction=s.instability.fraction,
                             scope=s.pruning, points=s.instability.points, run=self.run())

    def level_settings(self, level: int) -> LevelSettings:
        imp = self.settings.imp
        return LevelSettings(level=level, rate=imp.rate, output_rate=imp.output_rate, methods=imp.methods,
                             scope=self.settings.pruning, run=self.run())

    def selection_settings(self) -> SelectionSettings:
        return SelectionSettings(rule=self.settings.width_rule, tolerance=self.settings.width_tolerance)

    def report_settings(self) -> ReportSettings:
        return ReportSettings(tolerance=self.settings.summary_tolerance)



# libyaml's parser when PyYAML has it: the pure-Python one costs a quarter of a
# second of every dry run on the schema alone.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load_schema() -> dict:
    return yaml.load(SCHEMA_PATH.read_text(), Loader=SAFE_LOADER)  # noqa: S506 (a safe loader)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _strict_validator(schema: dict):
    """JSON Schema counts 8.0 as an integer and lets NaN and infinity through every
    bound; here integers are ints (widths name files, epochs count loops) and
    numbers are finite."""
    base = jsonschema.validators.validator_for(schema)

    def is_integer(checker, instance) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    def is_number(checker, instance) -> bool:
        return isinstance(instance, (int, float)) and not isinstance(instance, bool) and math.isfinite(instance)

    checker = base.TYPE_CHECKER.redefine_many({"integer": is_integer, "number": is_number})
    return jsonschema.validators.extend(base, type_checker=checker)(schema)


def resolve(config: dict, files: Iterable[str | Path] = ()) -> dict[str, Study]:
    """The studies of a config, the members of its suites (lthpipe.suites) included;
    ConfigError naming the first offending key if it is invalid. `files` are the
    config files it was read from, checked for a dataset named twice (YAML keeps
    only the last of two equal keys, silently)."""
    for path in files:
        _check_unique_datasets(Path(path))
    schema = load_schema()
    error = jsonschema.exceptions.best_match(_strict_validator(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(f"config key '{_key(error.absolute_path)}': {error.message}")
    studies = {name: _study(name, entry, config) for name, entry in config.get("datasets", {}).items()}
    from lthpipe import suites  # suites builds on this module

    _, members = suites.expand(config)
    studies.update({name: _study(name, entry, config) for name, entry in members.items()})
    for study in studies.values():
        _check(study)
    for target in export_targets(config):
        _check_network(studies, "export", target.dataset, target.fraction, target.method, target.seed)
    inference = inference_settings(config)
    for name in config.get("inference", {}).get("datasets", []):
        for fraction in studies[name].settings.fractions if name in studies else [None]:
            for method in (inference.method, *inference.also):
                _check_network(studies, "inference", name, fraction, method, inference.seed)
    return studies


def _check(study: Study) -> None:
    """What the schema cannot say: paths' fraction spelling and method combinations."""
    name, s = study.dataset, study.settings
    tags: dict[str, float] = {}
    for fraction in s.fractions:
        tag = fraction_tag(fraction)
        if abs(fraction * 1000 - round(fraction * 1000)) > 1e-9 or float(tag) == 0:
            raise ConfigError(
                f"config key 'fractions' of {name}: {fraction} has more than three decimals "
                "(paths spell fractions with three)"
            )
        if tag in tags:
            raise ConfigError(
                f"config key 'fractions' of {name}: {tags[tag]} and {fraction} are both {tag} "
                "at three decimals (one path each)"
            )
        tags[tag] = fraction
    if not s.fractions and not s.imp.levels:
        raise ConfigError(f"config key 'fractions' of {name}: empty, and no levels of iterative pruning (imp.levels)")
    if s.imp.levels and "rewind" not in s.imp.methods:
        raise ConfigError(f"config key 'imp.methods' of {name}: iterative pruning continues from the rewound "
                          "ticket of each level, so it needs rewind")
    imp_only = [m for m in s.methods if METHODS[m].imp_only]
    if imp_only:
        raise ConfigError(
            f"config key 'methods' of {name}: {', '.join(imp_only)} exists only at levels of iterative "
            "pruning (imp.methods)"
        )
    if s.rewind.at > 0 and any(METHODS[m].at_init for m in s.methods):
        raise ConfigError(
            f"config key 'rewind' of {name}: masks found at initialisation ({', '.join(at_init_sources(s.methods))}) "
            "train from θ0, so they need rewind.at = 0 (leave them out of methods to rewind later)"
        )
    if s.rewind.at > 0 and regrowing(s.methods):
        raise ConfigError(
            f"config key 'rewind' of {name}: {', '.join(regrowing(s.methods))} train sparse from θ0 for the whole "
            "budget, so they need rewind.at = 0 (leave them out of methods to rewind later)"
        )
    if s.aligned_overlap and (len(s.seeds) < 2 or not s.fractions):
        raise ConfigError(f"config key 'aligned_overlap' of {name}: compares the one-shot masks of two or more "
                          "seeds, so it needs two seeds and one-shot fractions")


def numerics_mode(config: dict) -> str:
    """The MKL reproducibility mode every torch job runs in (lthpipe.numerics)."""
    return config.get("numerics", load_schema()["properties"]["numerics"]["default"])


def export_targets(config: dict) -> list[ExportTarget]:
    """The networks the workflow exports (config key `export`)."""
    defaults = _defaults(load_schema()["properties"]["export"]["items"], load_schema())
    return [from_params(ExportTarget, {**defaults, **entry}) for entry in config.get("export", [])]


def inference_settings(config: dict) -> InferenceSettings:
    schema = load_schema()
    given = {k: v for k, v in config.get("inference", {}).items() if k != "datasets"}
    return from_params(InferenceSettings, {**_defaults(schema["properties"]["inference"], schema), **given})


def _check_network(studies: dict[str, Study], key: str, dataset: str, fraction, method: str, seed: int) -> None:
    """A network named in the config (to export or benchmark) is one the study trains."""
    study = studies.get(dataset)
    if study is None:
        raise ConfigError(f"config key '{key}': no dataset {dataset!r}; configured: {', '.join(studies)}")
    s = study.settings
    if fraction not in s.fractions:
        raise ConfigError(f"config key '{key}': {dataset} has no one-shot fraction {fraction}; "
                          f"its fractions: {', '.join(map(str, s.fractions)) or 'none'}")
    if method not in s.methods:
        raise ConfigError(f"config key '{key}': {dataset} does not train {method}; its methods: {', '.join(s.methods)}")
    if seed not in s.seeds:
        raise ConfigError(f"config key '{key}': {dataset} has no seed {seed}; its seeds: {', '.join(map(str, s.seeds))}")


def _defaults(node: dict, schema: dict) -> dict[str, Any]:
    """The schema defaults of an object's properties, following local $refs; an
    object-valued property's default is filled with its own properties' defaults."""
    defaults = {}
    for key, prop in node.get("properties", {}).items():
        target = _deref(prop, schema)
        if "default" in prop or "default" in target:
            value = prop.get("default", target.get("default"))
            if isinstance(value, dict):
                value = {**_defaults(target, schema), **value}
            defaults[key] = value
    return defaults


def _deref(node: dict, schema: dict) -> dict:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _merge(*layers: dict) -> dict:
    """Later layers win; dicts merge key by key, as Snakemake merges config files."""
    merged: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = _merge(merged[key], value)
            else:
                merged[key] = value
    return merged


def _study(name: str, entry: dict, config: dict) -> Study:
    schema = load_schema()
    study_keys = schema["$defs"]["study"]["properties"]
    layers = [_defaults(schema["$defs"]["study"], schema), config.get("defaults", {}), entry]
    merged = {k: v for k, v in _merge(*layers).items() if k in study_keys}
    source = {**_defaults(schema["$defs"][f"source_{entry['source']['kind']}"], schema), **entry["source"]}
    split = {**_defaults(schema["$defs"]["split"], schema), **entry.get("split", {})}
    return Study(
        dataset=name,
        data=datasets.DataSettings(datasets.parse_source(source), datasets.SplitSettings(**split)),
        settings=from_params(StudySettings, merged),
        resources=Resources(**entry.get("resources", {})),
        device=config.get("device", "auto"),
        order_seed=config.get("order_seed", 0),
    )


class _UniqueKeyLoader(SAFE_LOADER):
    """A YAML loader that refuses a mapping with the same key twice."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ConfigError(
                f"config key '{key}' appears twice in one mapping (lines {seen[key]} and {key_node.start_mark.line + 1} "
                f"of {key_node.start_mark.name}): give each dataset its own name"
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _check_unique_datasets(path: Path) -> None:
    if path.suffix in (".yaml", ".yml") and path.is_file():
        with path.open() as f:
            yaml.load(f, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader's subclass)
