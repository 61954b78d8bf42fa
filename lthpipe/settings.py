"""Typed, frozen settings. Free of torch so that parsing the workflow stays fast."""

from __future__ import annotations

from dataclasses import dataclass

DATASETS = ("swiss_roll", "diabetes", "mnist")
METHODS = ("rewind", "reinit", "random_mask", "dense_small")
# Plot and table order; "pruned" is magnitude pruning of the trained network, no retraining.
METHOD_ORDER = ("pruned", *METHODS)


@dataclass(frozen=True)
class DataSettings:
    """What shapes a dataset's splits; the config schema gives each dataset's
    keys and defaults, and keys a dataset doesn't have stay None."""

    seed: int
    val_fraction: float | None = None
    test_fraction: float | None = None
    n_samples: int | None = None
    noise: float | None = None
    n_classes: int | None = None
    root: str | None = None
    local_dir: str | None = None
    download: bool | None = None
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float
    batch_size: int
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"invalid training settings: {self}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}")
