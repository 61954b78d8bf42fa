"""Exports of retrained networks (compacted torch file, ONNX, CSR), each checked
against the masked network; imported by no training stage."""

from __future__ import annotations

import logging
from pathlib import Path

from lthpipe import checkpoint
from lthpipe.checkpoint import NetworkId
from lthpipe.datasets import load_dataset
from lthpipe.model import Params, member
from lthpipe.prune import (
    Mask,
)

log = logging.getLogger(__name__)


def retrained_network(path: Path, dataset: str, method: str, seed: int) -> tuple[Params, Mask, dict]:
    """One network of a retrain stack (first data split): its trained weights, mask and record."""
    tickets, record = checkpoint.load_stack(path, stage="retrain", dataset=dataset)
    try:
        i = tickets.index(NetworkId(method, seed, 0))
    except ValueError:
        have = ", ".join(sorted({f"{n.method}/seed {n.seed}" for n in tickets.networks if n.fold == 0}))
        raise ValueError(f"{path} holds no {method} network of seed {seed} (it holds {have})") from None
    mask = {k: m[i] for k, m in tickets.sections["mask"].items()}
    return member(tickets.sections["trained"], i), mask, record


def export_network(data_path: Path, retrain_path: Path, dataset: str, method: str, seed: int, out: Path) -> None:
    """Export one retrained network in every form (lthpipe.export) into the folder
    `out`, each checked on the whole test set to predict what the masked network predicts."""
    from lthpipe import export

    split = load_dataset(data_path, dataset).folds[0]
    params, mask, record = retrained_network(retrain_path, dataset, method, seed)
    provenance = {"dataset": dataset, "fraction": record["fraction"], "method": method, "seed": seed, "fold": 0,
                  "source": str(retrain_path)}
    paths = export.export(params, mask, Path(out), split.x_test, provenance)
    log.info("exported %s", {form: str(path) for form, path in paths.items()})
