"""Kind `sklearn`: the small datasets scikit-learn ships or generates, no download.

swiss_roll: points on a noisy roll, class = position along the roll cut into
n_classes equal-count bins. diabetes: scikit-learn's regression target made
binary, label = target above the median of the training split (per fold, so no
validation or test row moves the threshold). The others keep scikit-learn's labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lthpipe.datasets.base import MB, Dataset, SplitSettings

if TYPE_CHECKING:
    from lthpipe.datasets.splits import Table

# (rows, features) of the bundled datasets, for loaded_mb; swiss_roll's rows come from its settings.
SHAPES = {
    "iris": (150, 4),
    "wine": (178, 13),
    "breast_cancer": (569, 30),
    "digits": (1797, 64),
    "diabetes": (442, 10),
    "swiss_roll": (None, 3),
}
LOADERS = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer", "digits": "load_digits"}


@dataclass(frozen=True)
class SklearnSource:
    kind: ClassVar[str] = "sklearn"
    name: str  # one of SHAPES
    n_samples: int = 3000  # swiss_roll only, like noise and n_classes
    noise: float = 0.5
    n_classes: int = 6

    def __post_init__(self) -> None:
        if self.name not in SHAPES:
            raise ValueError(f"unknown scikit-learn dataset {self.name!r}; known: {', '.join(SHAPES)}")
        if self.n_classes < 2 or self.n_samples < 1 or self.noise < 0:
            raise ValueError(f"invalid swiss_roll settings: {self}")

    def load(self, name: str, split: SplitSettings) -> Dataset:
        from lthpipe.datasets.splits import tabular_dataset

        if self.name == "swiss_roll":
            table = _swiss_roll(self, split.seed)
        elif self.name == "diabetes":
            table = _diabetes()
        else:
            table = _bundled(self.name)
        return tabular_dataset(name, table, split)

    def files(self) -> list[str]:
        return []

    def loaded_mb(self) -> float:
        rows, features = SHAPES[self.name]
        return (rows or self.n_samples) * features * 8 / MB  # float64, as scikit-learn returns it


def _source(name: str) -> str:
    return f"scikit-learn dataset {name!r}"


def _swiss_roll(settings: SklearnSource, seed: int) -> Table:
    import torch
    from sklearn.datasets import make_swiss_roll

    from lthpipe.datasets.splits import Facts, Table

    points, position = make_swiss_roll(settings.n_samples, noise=settings.noise, random_state=seed)
    position = torch.from_numpy(position)  # (n,) float64
    # Equal-count bins along the roll, so every class is equally likely.
    edges = torch.quantile(position, torch.linspace(0, 1, settings.n_classes + 1, dtype=position.dtype)[1:-1])
    facts = Facts(
        kind=SklearnSource.kind,
        source=_source("swiss_roll"),
        feature_names=["x", "y", "z"],
        class_names=[str(c) for c in range(settings.n_classes)],
        labels="class = position along the roll, cut into equal-count bins",
    )
    return Table(facts=facts, x=torch.from_numpy(points).float(), y=torch.bucketize(position, edges).long())


def _diabetes() -> Table:
    import torch
    from sklearn.datasets import load_diabetes

    from lthpipe.datasets.splits import Facts, Table

    bunch = load_diabetes()
    target = torch.from_numpy(bunch.target).float()  # (n,) disease progression

    def above_training_median(train: torch.Tensor) -> torch.Tensor:  # (n_train,) -> (n,) labels
        # torch.median: the lower median of an even count, so ties go to class 0.
        return (target > target[train].median()).long()

    facts = Facts(
        kind=SklearnSource.kind,
        source=_source("diabetes"),
        feature_names=list(bunch.feature_names),
        class_names=["not above median", "above median"],
        labels="label = disease progression above the training-split median",
    )
    # Stratification balances the split of the whole data's median; the labels themselves
    # come from each fold's training rows only.
    strata = (target > target.median()).long()
    return Table(facts=facts, x=torch.from_numpy(bunch.data).float(), y=strata, relabel=above_training_median)


def _bundled(name: str) -> Table:
    import sklearn.datasets
    import torch

    from lthpipe.datasets.splits import Facts, Table

    bunch = getattr(sklearn.datasets, LOADERS[name])()
    facts = Facts(
        kind=SklearnSource.kind,
        source=_source(name),
        feature_names=list(bunch.feature_names),
        class_names=[str(c) for c in bunch.target_names],
        labels=f"label = scikit-learn's {name} target",
        image_shape=[8, 8] if name == "digits" else None,
    )
    return Table(facts=facts, x=torch.from_numpy(bunch.data).float(), y=torch.from_numpy(bunch.target).long())
