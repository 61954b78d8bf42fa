"""Kind `mnist`: the official MNIST through torchvision's normal download path.

The official test set stays the test set (n_test of it, in a seeded order), and
validation is n_val seeded rows of the training set; images are flattened to
784 features and scaled with one mean/std of the training pixels. Offline,
local_dir names a folder holding the four IDX files (plain or .gz), which are
staged into root/MNIST/raw, where torchvision looks before downloading.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lthpipe.datasets.base import MB, Dataset, DataError, SplitSettings

if TYPE_CHECKING:
    from lthpipe.datasets.base import Splits

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IMAGE_SHAPE = [28, 28]
LOADED_MB = 70_000 * 28 * 28 * 4 / MB  # every image as float32, before any subsetting


@dataclass(frozen=True)
class MnistSource:
    kind: ClassVar[str] = "mnist"
    root: str = "artifacts/torchvision"
    local_dir: str | None = None  # folder with the four IDX files, for machines without internet
    download: bool = True
    n_train: int | None = None  # None: every training image not in validation
    n_val: int = 5000
    n_test: int | None = None  # None: the whole official test set

    def load(self, name: str, split: SplitSettings) -> Dataset:
        from lthpipe.datasets.splits import Facts, assemble

        if split.resplits != 1:
            raise DataError(
                f"MNIST (datasets.{name}): resplits={split.resplits}, but MNIST has one official test set; "
                "set resplits: 1"
            )
        raw = self._splits(name, split.seed)
        facts = Facts(
            kind=self.kind,
            source=f"MNIST in {Path(self.root) / 'MNIST' / 'raw'}",
            feature_names=[f"pixel_{r}_{c}" for r in range(IMAGE_SHAPE[0]) for c in range(IMAGE_SHAPE[1])],
            class_names=[str(digit) for digit in range(10)],
            labels="28x28 images flattened; official test set, validation taken from train",
            image_shape=IMAGE_SHAPE,
        )
        return assemble(name, facts, [raw], per_feature=False, split_record=_split_record(raw, split.seed))

    def files(self) -> list[str]:
        if self.local_dir is None:
            return []
        found = (_find_idx(Path(self.local_dir), name) for name in MNIST_FILES)
        return [str(path) for path in found if path is not None]

    def loaded_mb(self) -> float:
        return LOADED_MB

    def _splits(self, name: str, seed: int) -> Splits:
        from torchvision.datasets import MNIST

        from lthpipe.datasets.base import Splits
        from lthpipe.datasets.splits import permutation

        if self.local_dir is not None:
            stage_mnist_files(Path(self.local_dir), Path(self.root), name)
        download = self.download and self.local_dir is None
        try:
            train = MNIST(self.root, train=True, download=download)
            test = MNIST(self.root, train=False, download=download)
        except Exception as err:  # torchvision raises RuntimeError or URLError subclasses
            raise DataError(
                f"MNIST is not in {Path(self.root) / 'MNIST' / 'raw'} and could not be downloaded ({err}). "
                f"On a machine without internet, set datasets.{name}.source.local_dir in the config to a "
                f"folder holding {', '.join(MNIST_FILES)} (each may be .gz)."
            ) from err
        x_all, y_all = train.data.flatten(1).float() / 255, train.targets.long()  # (60000, 784), (60000,)
        perm = permutation(x_all.shape[0], seed)
        val, train_idx = perm[: self.n_val], perm[self.n_val :]
        train_idx = train_idx[: self.n_train]
        x_test, y_test = test.data.flatten(1).float() / 255, test.targets.long()  # (10000, 784), (10000,)
        test_idx = permutation(x_test.shape[0], seed)[: self.n_test]
        return Splits(x_all[train_idx], y_all[train_idx], x_all[val], y_all[val], x_test[test_idx], y_test[test_idx])


def _split_record(raw: Splits, seed: int) -> dict:
    """MNIST's split is given by counts; its fractions follow from them."""
    n_val, n_test = raw.x_val.shape[0], raw.x_test.shape[0]
    n = raw.x_train.shape[0] + n_val + n_test
    return {
        "scheme": "official_test",
        "folds": 1,
        "stratify": False,
        "seed": seed,
        "fractions": {"val": n_val / n, "test": n_test / n},
    }


def stage_mnist_files(local_dir: Path, root: Path, name: str) -> None:
    """Put the four IDX files from local_dir where torchvision looks (root/MNIST/raw),
    decompressing .gz copies, so torchvision loads them without downloading."""
    raw = root / "MNIST" / "raw"
    sources = {file: _find_idx(local_dir, file) for file in MNIST_FILES}
    missing = [file for file, src in sources.items() if src is None]
    if missing:
        raise DataError(
            f"datasets.{name}.source.local_dir={local_dir} lacks {', '.join(missing)} (plain or .gz). "
            "Point it at a folder holding the four MNIST IDX files."
        )
    raw.mkdir(parents=True, exist_ok=True)
    for file, src in sources.items():
        target = raw / file
        if target.exists() and target.stat().st_mtime >= src.stat().st_mtime:
            continue
        opener = gzip.open if src.suffix == ".gz" else open
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{file}.")
        with opener(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(tmp, target)


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None
