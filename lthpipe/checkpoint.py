"""Checkpoints: a flat dict of tensors saved with torch, beside a JSON sidecar.

``x.pt`` holds tensors and nothing else, so it loads with ``weights_only=True``
and never unpickles arbitrary objects; ``x.json`` records what made it (stage,
dataset, seeds, fraction, width, metrics, parents, package version) and the
name, shape and dtype of every tensor, which loading checks against the file.

Stages that pass networks to each other save a ``Stack``: the architecture, an
index of its networks (method, seed, fold, level) and named sections of stacked
tensors (``init``, ``rewind``, ``trained`` weights, ``mask``), all in one file
whose sidecar describes them; loading refuses a file whose index, architecture
and tensors disagree.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from lthpipe import __version__
from lthpipe.artifacts import ArtifactError, atomic_write, read_json, rebuild_hint, sidecar_path, write_json
from lthpipe.model import Architecture, Params

# Sections of a stack: weight sections hold every parameter (N, ...), the mask
# section only the weights, as bool.
WEIGHT_SECTIONS = ("init", "rewind", "trained")
MASK_SECTION = "mask"
ORDER_STATE = "order_state"  # (folds, bytes): the minibatch generator's state at the rewind point


def describe(tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    return {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")} for k, v in sorted(tensors.items())}


def save(path: Path, tensors: dict[str, torch.Tensor], record: dict[str, Any]) -> None:
    """Write path (tensors) and its sidecar; the record gains the tensor manifest and version."""
    tensors = {k: _own_storage(v.detach().cpu().contiguous()) for k, v in tensors.items()}
    sidecar = {**record, "tensors": describe(tensors), "lthpipe_version": __version__}
    atomic_write(path, lambda f: torch.save(tensors, f))
    write_json(sidecar_path(path), sidecar)


def _own_storage(tensor: torch.Tensor) -> torch.Tensor:
    """torch.save writes a view's whole storage: one network sliced from a stack
    would be saved with every other network of the stack."""
    if tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size():
        return tensor
    return tensor.clone()


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


@dataclass(frozen=True)
class NetworkId:
    """One network of a stack. `method` is "dense" for dense training, a lottery
    method (lthpipe.lottery) after pruning, or a mask source in a prune stack."""

    method: str
    seed: int
    fold: int = 0
    level: int = 0


@dataclass
class Stack:
    """Networks of one architecture that travel together between stages; every
    section holds one stacked tensor per parameter, networks along dimension 0."""

    arch: Architecture
    networks: list[NetworkId]
    sections: dict[str, Params]
    order_state: torch.Tensor | None = None

    def index(self, network: NetworkId) -> int:
        return self.networks.index(network)

    def select(self, keep: list[int]) -> Stack:
        """The networks at positions `keep`, in that order, with every section."""
        idx = torch.tensor(keep, dtype=torch.long)
        sections = {name: {k: v.index_select(0, idx) for k, v in params.items()} for name, params in self.sections.items()}
        return Stack(self.arch, [self.networks[i] for i in keep], sections, self.order_state)


def save_stack(path: Path, stack: Stack, record: dict[str, Any], about: list[dict] | None = None) -> None:
    """Write a stack; its sidecar gains the architecture, the network index (each
    entry with what `about` says of that network) and the sections."""
    check_stack(stack, f"{path}: ")
    tensors = {f"{section}.{k}": v for section, params in stack.sections.items() for k, v in params.items()}
    if stack.order_state is not None:
        tensors[ORDER_STATE] = stack.order_state
    save(path, tensors, {
        **record,
        "architecture": {"n_in": stack.arch.n_in, "hidden": list(stack.arch.hidden), "n_out": stack.arch.n_out},
        "networks": [{**asdict(n), **(about[i] if about else {})} for i, n in enumerate(stack.networks)],
        "sections": sorted(stack.sections),
    })


def load_stack(path: Path, stage: str | None = None, dataset: str | None = None) -> tuple[Stack, dict]:
    tensors, record = load(path, stage=stage, dataset=dataset)
    hint = rebuild_hint(record.get("stage"))
    try:
        arch = Architecture(record["architecture"]["n_in"], tuple(record["architecture"]["hidden"]), record["architecture"]["n_out"])
        keys = [f.name for f in fields(NetworkId)]
        networks = [NetworkId(**{k: n[k] for k in keys}) for n in record["networks"]]
        names = record["sections"]
    except (KeyError, TypeError) as err:
        raise ArtifactError(f"{path}: not a stack of networks (its sidecar lacks {err}); {hint}") from None
    order_state = tensors.pop(ORDER_STATE, None)
    sections: dict[str, Params] = {name: {} for name in names}
    for key, tensor in tensors.items():
        section, _, param = key.partition(".")
        if section not in sections:
            raise ArtifactError(f"{path}: tensor {key} belongs to no section of {names}; {hint}")
        sections[section][param] = tensor
    stack = Stack(arch, networks, sections, order_state)
    check_stack(stack, f"{path}: ", hint)
    return stack, record


def check_stack(stack: Stack, where: str, hint: str = "") -> None:
    """The index, the architecture and every section's tensors agree, or ArtifactError."""
    n = len(stack.networks)
    problems = []
    if len(set(stack.networks)) != n:
        problems.append("the network index lists a network twice")
    for section, params in stack.sections.items():
        if section not in (*WEIGHT_SECTIONS, MASK_SECTION):
            problems.append(f"unknown section {section!r}")
            continue
        expected = _section_shapes(stack.arch, section)
        if sorted(params) != sorted(expected):
            problems.append(f"section {section} holds {sorted(params)}, the architecture needs {sorted(expected)}")
            continue
        for name, shape in expected.items():
            tensor = params[name]
            if tuple(tensor.shape) != (n, *shape):
                problems.append(f"{section}.{name} has shape {list(tensor.shape)}, the index and architecture "
                                f"say {[n, *shape]}")
            elif (tensor.dtype == torch.bool) != (section == MASK_SECTION):
                problems.append(f"{section}.{name} has dtype {tensor.dtype}")
    if problems:
        raise ArtifactError(f"{where}{'; '.join(problems)}" + (f"; {hint}" if hint else ""))


def _section_shapes(arch: Architecture, section: str) -> dict[str, tuple[int, ...]]:
    shapes = arch.weight_shapes()
    if section == MASK_SECTION:
        return dict(shapes)
    return {**shapes, **{f"b{i}": (arch.sizes[i + 1],) for i in range(arch.n_layers)}}
