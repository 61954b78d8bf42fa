"""The values every dataset kind shares: split settings, splits, the dataset and
its error. Free of torch (tensors appear in annotations only), so the workflow
can import the registry while it parses the config."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from lthpipe.errors import Refused
from lthpipe.settings import OPT_IN

if TYPE_CHECKING:
    import torch

    from lthpipe.model import Architecture

SCHEMES = ("shuffle", "kfold")
MB = 2**20
# What a table source does with rows that have a missing cell (TableSettings.missing).
MISSING_POLICIES = ("refuse", "drop", "impute")
# Cell texts read as missing by default: pandas' NA texts (what read_csv has always
# read as missing) and '?', the UCI convention, which is never a number.
MISSING_VALUES = (
    "", "?", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
    "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)


class DataError(Refused):
    """Data that cannot make a dataset; the message names the file, the column(s) and the fix."""


@dataclass(frozen=True)
class SplitSettings:
    """How a dataset's rows become train/validation/test splits, shared by every kind
    (MNIST uses the seed only: its test set is the official one)."""

    seed: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    stratify: bool = True
    resplits: int = 1
    scheme: str = "shuffle"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown split scheme {self.scheme!r}; known: {', '.join(SCHEMES)}")
        if self.resplits < 1 or (self.scheme == "kfold" and self.resplits < 2):
            raise ValueError(f"resplits={self.resplits}: shuffle needs at least 1, kfold at least 2")
        if not (0 < self.val_fraction < 1 and 0 < self.test_fraction < 1):
            raise ValueError(f"val_fraction and test_fraction must lie in (0, 1): {self}")
        if self.val_fraction + self.effective_test_fraction >= 1:
            raise ValueError(f"validation and test take every row, none is left to train on: {self}")

    @property
    def effective_test_fraction(self) -> float:
        """kfold tests on one fold of K, whatever test_fraction says."""
        return 1 / self.resplits if self.scheme == "kfold" else self.test_fraction


@dataclass(frozen=True)
class Splits:
    x_train: torch.Tensor  # (n_train, d) float32
    y_train: torch.Tensor  # (n_train,) int64
    x_val: torch.Tensor  # (n_val, d) float32
    y_val: torch.Tensor  # (n_val,) int64
    x_test: torch.Tensor  # (n_test, d) float32
    y_test: torch.Tensor  # (n_test,) int64

    def to(self, device: torch.device) -> Splits:
        return Splits(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def n_classes(self) -> int:
        """Largest label seen + 1; the record's n_classes also counts classes no split holds."""
        return max(int(y.max()) for y in (self.y_train, self.y_val, self.y_test) if y.numel()) + 1


@dataclass(frozen=True)
class Dataset:
    """One dataset's folds (one for a single split) and the JSON-able record of what made them."""

    name: str
    folds: list[Splits]
    record: dict[str, Any] = field(default_factory=dict)

    def architecture(self, hidden: tuple[int, ...] | list[int]) -> Architecture:
        """An MLP from this dataset's features to its classes through `hidden` widths."""
        from lthpipe.model import Architecture

        return Architecture(self.record["n_features"], tuple(hidden), self.record["n_classes"])


class Source(Protocol):
    """What every kind's settings dataclass provides; KINDS maps `kind` to the class."""

    kind: ClassVar[str]

    def load(self, name: str, split: SplitSettings) -> Dataset:
        """Build the dataset called `name` (the config key, for messages), or raise DataError."""

    def files(self) -> list[str]:
        """The files this source reads, so Snakemake reruns when they change."""

    def loaded_mb(self) -> float:
        """Rough size of the loaded data in memory (MB), for estimated_mb."""


# How planted irrelevant inputs are drawn (PlantedSettings.kind; datasets/planted.py).
PLANTED_KINDS = ("noise", "permuted")


@dataclass(frozen=True)
class PlantedSettings:
    """Irrelevant inputs appended to a table's features: `factor` x (its real feature
    count) columns of the given kind, drawn from `seed` (datasets/planted.py)."""

    factor: int
    kind: str
    seed: int = 0

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise ValueError(f"planted factor must be 1 or more: {self.factor}")
        if self.kind not in PLANTED_KINDS:
            raise ValueError(f"unknown planted kind {self.kind!r}; known: {', '.join(PLANTED_KINDS)}")


@dataclass(frozen=True, kw_only=True)
class TableSettings:
    """How the kinds that read a table (csv, parquet, openml) clean it: which columns
    to encode or leave out, which cells are missing and what to do with them, and
    which classes are too small to keep."""

    categorical: tuple[str | int, ...] = ()  # columns to one-hot encode
    ignore: tuple[str | int, ...] = ()  # columns that are not features (row ids, names)
    missing_values: tuple[str, ...] = MISSING_VALUES  # cell texts that mean missing
    missing: str = "refuse"  # one of MISSING_POLICIES
    min_class_rows: int = 0  # classes with fewer rows are left out; 0 keeps all
    # Irrelevant inputs to append (datasets/planted.py); opt-in, so left out of the params when unset.
    planted: PlantedSettings | None = field(default=None, metadata=OPT_IN)

    def __post_init__(self) -> None:
        for name in ("categorical", "ignore", "missing_values"):
            frozen_tuple(self, name)
        if self.missing not in MISSING_POLICIES:
            raise ValueError(f"unknown missing: {self.missing!r}; known: {', '.join(MISSING_POLICIES)}")
        if self.min_class_rows < 0:
            raise ValueError(f"min_class_rows must be 0 (keep every class) or more: {self.min_class_rows}")
        if isinstance(self.planted, dict):  # as the config and the rule's params give it
            object.__setattr__(self, "planted", PlantedSettings(**self.planted))

    def feature_scale(self) -> int:
        """How many times the real features the inputs are, planted ones included."""
        return 1 if self.planted is None else 1 + self.planted.factor


def frozen_tuple(settings: object, name: str) -> None:
    """Store a list setting (as YAML gives it) as a tuple, so the frozen settings stay immutable."""
    object.__setattr__(settings, name, tuple(getattr(settings, name)))
