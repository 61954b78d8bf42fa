"""Datasets: standardized train/validation/test splits, made once per dataset.

Tabular data (swiss_roll, diabetes) is split at random with fractions from the
config; MNIST keeps its official test set and takes validation from the
training set. Features are standardized with training-split statistics only.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from lthpipe.model import derive_seed
from lthpipe.settings import DATASETS, DataSettings

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class MnistUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Splits:
    x_train: torch.Tensor  # (n_train, d) float32
    y_train: torch.Tensor  # (n_train,) int64
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to(self, device: torch.device) -> "Splits":
        return Splits(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(torch.cat([self.y_train, self.y_val, self.y_test]).max()) + 1


def make_splits(name: str, settings: DataSettings) -> tuple[Splits, dict]:
    """Build the standardized splits of one dataset and describe them."""
    if name == "swiss_roll":
        x, y = _swiss_roll(settings)
        raw, note = _split_tabular(x, y, settings), "class = position along the roll, cut into equal-count bins"
    elif name == "diabetes":
        raw, note = _diabetes(settings), "label = disease progression above the training-split median"
    elif name == "mnist":
        raw, note = _mnist(settings), "28x28 images flattened; official test set, validation taken from train"
    else:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    splits, normalization = _standardize(raw, per_feature=name != "mnist")
    meta = {
        "dataset": name,
        "n_train": splits.x_train.shape[0],
        "n_val": splits.x_val.shape[0],
        "n_test": splits.x_test.shape[0],
        "n_features": splits.n_features,
        "n_classes": splits.n_classes,
        "labels": note,
        "normalization": normalization,
    }
    return splits, meta


def _permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "split")))


def _split_tabular(x: torch.Tensor, y: torch.Tensor, settings: DataSettings) -> Splits:
    n = x.shape[0]
    perm = _permutation(n, settings.seed)
    n_val = round(n * settings.val_fraction)
    n_test = round(n * settings.test_fraction)
    test, val, train = perm[:n_test], perm[n_test : n_test + n_val], perm[n_test + n_val :]
    return Splits(x[train], y[train], x[val], y[val], x[test], y[test])


def _swiss_roll(settings: DataSettings) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import make_swiss_roll

    points, position = make_swiss_roll(settings.n_samples, noise=settings.noise, random_state=settings.seed)
    position = torch.from_numpy(position)
    # Equal-count bins along the roll, so every class is equally likely.
    edges = torch.quantile(position, torch.linspace(0, 1, settings.n_classes + 1, dtype=position.dtype)[1:-1])
    labels = torch.bucketize(position, edges)
    return torch.from_numpy(points).float(), labels.long()


def _diabetes(settings: DataSettings) -> Splits:
    from sklearn.datasets import load_diabetes

    features, target = load_diabetes(return_X_y=True)
    x, target = torch.from_numpy(features).float(), torch.from_numpy(target).float()
    split = _split_tabular(x, target, settings)
    # The threshold comes from the training split alone, so no test label leaks into it.
    median = split.y_train.median()
    return Splits(
        split.x_train,
        (split.y_train > median).long(),
        split.x_val,
        (split.y_val > median).long(),
        split.x_test,
        (split.y_test > median).long(),
    )


def _mnist(settings: DataSettings) -> Splits:
    from torchvision.datasets import MNIST

    if settings.local_dir is not None:
        stage_mnist_files(Path(settings.local_dir), Path(settings.root))
    download = settings.download and settings.local_dir is None
    try:
        train = MNIST(settings.root, train=True, download=download)
        test = MNIST(settings.root, train=False, download=download)
    except Exception as err:  # torchvision raises RuntimeError or URLError subclasses
        raise MnistUnavailable(
            f"MNIST is not in {Path(settings.root) / 'MNIST' / 'raw'} and could not be downloaded ({err}). "
            "On a machine without internet, set data.mnist.local_dir in the config (or pass "
            "--config 'datasets={mnist: {data: {local_dir: DIR}}}') to a folder holding "
            f"{', '.join(MNIST_FILES)} (each may be .gz)."
        ) from err
    x_all, y_all = train.data.flatten(1).float() / 255, train.targets.long()
    perm = _permutation(x_all.shape[0], settings.seed)
    val, train_idx = perm[: settings.n_val], perm[settings.n_val :]
    train_idx = train_idx[: settings.n_train]
    x_test, y_test = test.data.flatten(1).float() / 255, test.targets.long()
    test_idx = _permutation(x_test.shape[0], settings.seed)[: settings.n_test]
    return Splits(x_all[train_idx], y_all[train_idx], x_all[val], y_all[val], x_test[test_idx], y_test[test_idx])


def stage_mnist_files(local_dir: Path, root: Path) -> None:
    """Put the four IDX files from local_dir where torchvision looks (root/MNIST/raw),
    decompressing .gz copies, so torchvision loads them without downloading."""
    raw = root / "MNIST" / "raw"
    sources = {name: _find_idx(local_dir, name) for name in MNIST_FILES}
    missing = [name for name, src in sources.items() if src is None]
    if missing:
        raise MnistUnavailable(
            f"data.mnist.local_dir={local_dir} lacks {', '.join(missing)} (plain or .gz). "
            "Point it at a folder holding the four MNIST IDX files."
        )
    raw.mkdir(parents=True, exist_ok=True)
    for name, src in sources.items():
        target = raw / name
        if target.exists() and target.stat().st_mtime >= src.stat().st_mtime:
            continue
        opener = gzip.open if src.suffix == ".gz" else open
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
        with opener(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(tmp, target)


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _standardize(raw: Splits, per_feature: bool) -> tuple[Splits, dict]:
    """Scale with training-split statistics. Images use one scalar mean/std, since
    per-pixel std is zero at the always-blank border."""
    if per_feature:
        mean, std = raw.x_train.mean(0), raw.x_train.std(0).clamp_min(1e-8)
    else:
        mean, std = raw.x_train.mean(), raw.x_train.std()
    scaled = Splits(
        (raw.x_train - mean) / std, raw.y_train, (raw.x_val - mean) / std, raw.y_val, (raw.x_test - mean) / std, raw.y_test
    )
    return scaled, {"mean": mean.tolist(), "std": std.tolist(), "fitted_on": "train"}
