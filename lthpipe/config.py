"""The configuration: validated against config.schema.yaml, then resolved into
one frozen Study per dataset (schema defaults < `defaults` < the dataset's own)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lthpipe.settings import DataSettings, TrainSettings

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")
STUDY_KEYS = ("seeds", "widths", "fractions", "methods", "pruning", "width_tolerance", "summary_tolerance", "threads")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Study:
    """Everything that shapes one dataset's results."""

    dataset: str
    data: DataSettings
    seeds: tuple[int, ...]
    widths: tuple[int, ...]
    fractions: tuple[float, ...]
    methods: tuple[str, ...]
    pruning: str
    train: TrainSettings
    width_tolerance: float
    summary_tolerance: float
    threads: int
    device: str
    order_seed: int

    def data_params(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self.data).items() if v is not None}

    def train_params(self) -> dict[str, Any]:
        return asdict(self.train)


def fraction_tag(fraction: float) -> str:
    """The canonical spelling of a fraction in paths: three decimals."""
    return f"{fraction:.3f}"


@cache
def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


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


def resolve(config: dict) -> dict[str, Study]:
    """The studies of a config; ConfigError naming the first offending key if it is invalid."""
    schema = load_schema()
    error = jsonschema.exceptions.best_match(_strict_validator(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(f"config key '{_key(error.absolute_path)}': {error.message}")
    studies = _studies(config)
    for name, study in studies.items():
        tags: dict[str, float] = {}
        for fraction in study.fractions:
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
    # The schema above is the one validator; this is Snakemake's own pass over it.
    from snakemake.utils import validate as snakemake_validate

    snakemake_validate(config, str(SCHEMA_PATH), set_default=False)
    return studies


def _defaults(node: dict, schema: dict) -> dict[str, Any]:
    """The schema defaults of an object's properties, following local $refs."""
    defaults = {}
    for key, prop in node.get("properties", {}).items():
        if "$ref" in prop:
            prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
        if "default" in prop:
            defaults[key] = prop["default"]
    return defaults


def _studies(config: dict) -> dict[str, Study]:
    schema = load_schema()
    given = config.get("defaults", {})
    base = {**_defaults(schema["$defs"]["study"], schema), **given}
    base_train = {**_defaults(schema["$defs"]["train"], schema), **given.get("train", {})}
    studies = {}
    for name, entry in config["datasets"].items():
        entry = entry or {}
        data_schema = schema["properties"]["datasets"]["properties"][name]["properties"]["data"]
        data = {**_defaults(data_schema, schema), **entry.get("data", {})}
        settings = {k: entry.get(k, base[k]) for k in STUDY_KEYS}
        studies[name] = Study(
            dataset=name,
            data=DataSettings(**data),
            seeds=tuple(settings["seeds"]),
            widths=tuple(sorted(settings["widths"])),
            fractions=tuple(sorted(settings["fractions"], reverse=True)),
            methods=tuple(settings["methods"]),
            pruning=settings["pruning"],
            train=TrainSettings(**{**base_train, **entry.get("train", {})}),
            width_tolerance=settings["width_tolerance"],
            summary_tolerance=settings["summary_tolerance"],
            threads=settings["threads"],
            device=config.get("device", "auto"),
            order_seed=config.get("order_seed", 0),
        )
    return studies


def code_version(modules: list[str]) -> str:
    """A hash of lthpipe modules' source. Rules carry it as a param, so Snakemake
    reruns a stage when the library code it runs changes (its own code trigger
    sees only the script and the rule)."""
    digest = hashlib.sha256()
    for module in sorted(modules):
        digest.update(module.encode())
        digest.update((Path(__file__).parent / f"{module}.py").read_bytes())
    return digest.hexdigest()[:16]
