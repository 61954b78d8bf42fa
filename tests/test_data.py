from pathlib import Path

import pytest
import torch

from conftest import write_idx
from lthpipe.data import MnistUnavailable, make_splits
from lthpipe.settings import DataSettings

TABULAR = DataSettings(seed=0, val_fraction=0.2, test_fraction=0.2, n_samples=600, noise=0.5, n_classes=4)


def test_swiss_roll_classes_are_balanced_and_splits_disjoint():
    splits, meta = make_splits("swiss_roll", TABULAR)
    labels = torch.cat([splits.y_train, splits.y_val, splits.y_test])
    assert torch.bincount(labels).tolist() == [150, 150, 150, 150]
    assert (meta["n_train"], meta["n_val"], meta["n_test"]) == (360, 120, 120)
    assert meta["n_features"] == 3 and meta["n_classes"] == 4
    assert torch.allclose(splits.x_train.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(splits.x_train.std(0), torch.ones(3), atol=1e-5)


def test_diabetes_label_is_above_the_training_median():
    splits, meta = make_splits("diabetes", TABULAR)
    assert meta["n_train"] + meta["n_val"] + meta["n_test"] == 442
    assert meta["n_classes"] == 2
    # Split on the training median: half the training labels are positive (ties go negative).
    assert abs(splits.y_train.float().mean().item() - 0.5) < 0.01


def test_splits_depend_only_on_the_seed():
    first, _ = make_splits("swiss_roll", TABULAR)
    again, _ = make_splits("swiss_roll", TABULAR)
    other, _ = make_splits("swiss_roll", DataSettings(**{**vars(TABULAR), "seed": 1}))
    assert torch.equal(first.x_train, again.x_train)
    assert not torch.equal(first.x_train, other.x_train)


def mnist_settings(tmp_path: Path, local_dir: Path, **extra) -> DataSettings:
    return DataSettings(seed=0, root=str(tmp_path / "tv"), local_dir=str(local_dir), download=True, n_val=50, **extra)


def test_mnist_loads_through_torchvision_from_a_local_folder(tmp_path):
    local = write_idx(tmp_path / "idx", n_train=300, n_test=120)
    splits, meta = make_splits("mnist", mnist_settings(tmp_path, local, n_train=200, n_test=100))
    assert (meta["n_train"], meta["n_val"], meta["n_test"], meta["n_features"]) == (200, 50, 100, 784)
    assert (tmp_path / "tv" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64


def test_mnist_with_missing_files_says_how_to_provide_them(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MnistUnavailable, match="local_dir") as err:
        make_splits("mnist", mnist_settings(tmp_path, tmp_path / "empty"))
    assert "train-images-idx3-ubyte" in str(err.value)


def test_mnist_without_files_or_download_names_the_config_key(tmp_path):
    settings = DataSettings(seed=0, root=str(tmp_path / "tv"), local_dir=None, download=False, n_val=50)
    with pytest.raises(MnistUnavailable, match="data.mnist.local_dir"):
        make_splits("mnist", settings)
