"""The values every dataset kind shares: split settings, splits, the dataset and
its error. Free of torch (tensors appear in annotations only), so the workflow
can import the registry while it parses the config."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import torch

    from lthpipe.model import Architecture

SCHEMES = ("shuffle", "kfold")
MB = 2**20


class DataError(ValueError):
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


def frozen_tuple(settings: object, name: str) -> None:
    """Store a list setting (as YAML gives it) as a tuple, so the frozen settings stay immutable."""
    object.__setattr__(settings, name, tuple(getattr(settings, name)))
