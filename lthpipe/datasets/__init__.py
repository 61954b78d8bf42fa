"""Datasets: a config entry's `source` (whose `kind` says how it loads) and `split`
become standardized train/validation/test folds and a record of what made them.

KINDS is the one registry of kinds: kind name -> settings dataclass. Each settings
class loads itself (`load`), names the files it reads (`files`) and sizes itself
(`loaded_mb`); see base.Source. Importing this package is cheap and torch-free:
the workflow reads KINDS while it parses the config, and the kinds import pandas,
scikit-learn, torchvision and torch only when they load.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lthpipe.datasets.base import DataError, Dataset, Source, Splits, SplitSettings
from lthpipe.datasets.bundled import SklearnSource
from lthpipe.datasets.mnist import MnistSource
from lthpipe.datasets.openml import OpenmlSource
from lthpipe.datasets.tables import CsvSource, ParquetSource

__all__ = [
    "KINDS",
    "CsvSource",
    "DataError",
    "DataSettings",
    "Dataset",
    "MnistSource",
    "OpenmlSource",
    "ParquetSource",
    "SklearnSource",
    "Source",
    "Splits",
    "SplitSettings",
    "estimated_mb",
    "load_dataset",
    "make_dataset",
    "parse_source",
    "save_dataset",
    "source_files",
]

KINDS: dict[str, type] = {cls.kind: cls for cls in (CsvSource, ParquetSource, SklearnSource, OpenmlSource, MnistSource)}

# Peak memory of a data job: the interpreter with torch, pandas and scikit-learn
# imported (about 700 MB measured), plus the loaded data, its float32 copy, the
# raw split copy and one standardized copy per fold:
#   estimated_mb = BASE_MB + loaded_mb * (3 + folds), rounded up
# MNIST, one fold: 800 + 210 * 4 = 1640 MB, for a measured peak of 1400 MB.
BASE_MB = 800


@dataclass(frozen=True)
class DataSettings:
    """What the data job of one dataset needs: its source and how it is split."""

    source: Source
    split: SplitSettings

    def to_params(self) -> dict[str, Any]:
        """Plain values for the rule's params (lists for tuples), `kind` included."""
        source = {"kind": self.source.kind, **dataclasses.asdict(self.source)}
        for f in dataclasses.fields(self.source):
            # Opt-in options at their default are left out, so adding one reruns no existing data job.
            if f.metadata.get("opt_in") and getattr(self.source, f.name) == f.default:
                del source[f.name]
        return {"source": _plain(source), "split": dataclasses.asdict(self.split)}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DataSettings:
        return cls(parse_source(params["source"]), SplitSettings(**params["split"]))


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def parse_source(entry: Mapping[str, Any]) -> Source:
    """A config entry's `source` mapping (with its `kind`) as its settings dataclass."""
    settings = dict(entry)
    kind = settings.pop("kind", None)
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind](**settings)


def make_dataset(name: str, source: Source, split: SplitSettings) -> Dataset:
    """Load, check, split and standardize the dataset `name`; bad data raises DataError
    before anything is written."""
    return source.load(name, split)


def source_files(source: Source) -> list[str]:
    """The files a source reads, for Snakemake's input:; empty for non-file kinds."""
    return source.files()


def estimated_mb(source: Source, folds: int = 1) -> int:
    """Rough peak memory (MB) of building this dataset with `folds` folds; formula above."""
    return math.ceil(BASE_MB + source.loaded_mb() * (3 + folds))


def save_dataset(path: Path, dataset: Dataset, extra_record: dict[str, Any]) -> None:
    """One checkpoint: tensors named per fold (fold0.x_train, ...), its JSON record beside."""
    from lthpipe import checkpoint

    tensors = {f"fold{k}.{key}": t for k, fold in enumerate(dataset.folds) for key, t in fold.tensors().items()}
    record = {**dataset.record, **extra_record, "stage": "data", "dataset": dataset.name}
    checkpoint.save(Path(path), tensors, record)


def load_dataset(path: Path, dataset_name: str) -> Dataset:
    """The dataset save_dataset wrote, checked against its record."""
    from lthpipe import checkpoint

    tensors, record = checkpoint.load(Path(path), stage="data", dataset=dataset_name)
    folds = [
        Splits(**{key.removeprefix(f"fold{k}."): t for key, t in tensors.items() if key.startswith(f"fold{k}.")})
        for k in range(record["folds"])
    ]
    return Dataset(name=dataset_name, folds=folds, record=record)
