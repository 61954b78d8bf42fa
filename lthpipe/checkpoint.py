"""Checkpoints: a flat dict of tensors saved with torch, beside a JSON sidecar.

``x.pt`` holds tensors and nothing else, so it loads with ``weights_only=True``
and never unpickles arbitrary objects; ``x.json`` records what made it (stage,
dataset, seeds, fraction, width, metrics, parents, package version) and the
name, shape and dtype of every tensor, which loading checks against the file.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from lthpipe import __version__
from lthpipe.artifacts import ArtifactError, atomic_write, read_json, rebuild_hint, sidecar_path, write_json


def describe(tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    return {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")} for k, v in sorted(tensors.items())}


def save(path: Path, tensors: dict[str, torch.Tensor], record: dict[str, Any]) -> None:
    """Write path (tensors) and its sidecar; the record gains the tensor manifest and version."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    sidecar = {**record, "tensors": describe(tensors), "lthpipe_version": __version__}
    atomic_write(path, lambda f: torch.save(tensors, f))
    write_json(sidecar_path(path), sidecar)


def load(path: Path, stage: str | None = None, dataset: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Load a checkpoint safely and check it against its sidecar and the caller's
    expectations; every failure names the file and the rule that rebuilds it."""
    path = Path(path)
    record = read_json(sidecar_path(path))
    hint = rebuild_hint(record.get("stage"))
    try:
        tensors = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; {hint}") from None
    except pickle.UnpicklingError as err:
        raise ArtifactError(f"{path}: refused, it holds objects other than tensors ({_first_line(err)}); {hint}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise ArtifactError(f"{path}: truncated or corrupted ({_first_line(err)}); {hint}") from None
    if not isinstance(tensors, dict) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        raise ArtifactError(f"{path}: expected a dict of tensors; {hint}")
    if describe(tensors) != record.get("tensors"):
        raise ArtifactError(f"{path}: tensors disagree with the sidecar {sidecar_path(path).name}; {hint}")
    for key, expected in (("stage", stage), ("dataset", dataset)):
        if expected is not None and record.get(key) != expected:
            raise ArtifactError(f"{path}: is a {key} {record.get(key)!r} artifact, expected {expected!r}; {hint}")
    return tensors, record


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
