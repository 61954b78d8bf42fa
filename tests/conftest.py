import gzip
import os
import struct
from pathlib import Path

import pytest
import torch

from workflow_helpers import snakemake, tiny_config, write_config

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def write_idx(folder: Path, n_train: int = 600, n_test: int = 300, seed: int = 0) -> Path:
    """Synthetic MNIST-format files (gz): digits are blobs at class-specific positions."""
    gen = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = torch.randint(0, 10, (n,), generator=gen, dtype=torch.uint8)
        images = torch.randint(0, 40, (n, 28, 28), generator=gen, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            row, col = 2 + 2 * label, 2 + 2 * label
            images[i, row : row + 6, col : col + 6] = 255
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.numpy().tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.numpy().tobytes())
    return folder


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory) -> Path:
    """Real MNIST when it is at hand ($LTHPIPE_MNIST_DIR or ../shared), else synthetic IDX files;
    either way it goes through torchvision's loading path."""
    given = os.environ.get("LTHPIPE_MNIST_DIR")
    if given:
        return Path(given)
    if SHARED_MNIST.is_dir():
        return SHARED_MNIST
    return write_idx(tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="session")
def built(tmp_path_factory, mnist_dir) -> Path:
    """The tiny study run locally; tests that change it work on a copy."""
    workdir = tmp_path_factory.mktemp("workflow")
    write_config(workdir, tiny_config(mnist_dir))
    snakemake(workdir, "--cores", "2")
    return workdir
