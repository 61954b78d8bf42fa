"""Files between stages: JSON records and plain files, all written atomically
(a temporary name in the same folder, then os.replace), so a reader never sees
half a file. Free of torch, so the reporting jobs start fast."""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Which rule rebuilds each stage, for error messages.
# Every record's `stage` and the rule that writes it, in the order of the pipeline
# (`lthpipe inspect` lists records in this order).
RULE_OF_STAGE = {
    "data": "make_data",
    "width": "train_width",
    "selection": "select_width",
    "dense": "train_dense",
    "prune": "prune",
    "retrain": "retrain",
    "imp": "imp",
    "imp_controls": "imp_controls",
    "aggregate": "aggregate",
    "inference": "benchmark_inference",
}


def fraction_tag(fraction: float) -> str:
    """The canonical spelling of a fraction in paths and tables: three decimals."""
    return f"{fraction:.3f}"


def nearest_fraction(fractions: Iterable[float], target: float) -> float:
    """The configured fraction nearest a target (the denser on a tie): what a figure of
    "about 20% retained" shows."""
    return min(fractions, key=lambda f: (abs(f - target), -f))


def level_tag(level: int) -> str:
    """The canonical spelling of an iterative-pruning level in paths: two digits."""
    return f"{level:02d}"


class ArtifactError(RuntimeError):
    """An artifact that is missing, damaged, hostile or not what the caller expected."""


def sidecar_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def _temporary_affixes(path: Path) -> tuple[str, str]:
    """atomic_write's temporary beside `path` is `.{name}.<random>.tmp`."""
    return f".{path.name}.", ".tmp"


def stale_temporaries(path: Path) -> list[Path]:
    """Temporaries of `path` that an atomic_write killed between writing and
    renaming (SIGKILL, the OOM killer, a lost node) left behind; its own cleanup
    never ran, and Snakemake does not know these names."""
    path = Path(path)
    prefix, suffix = _temporary_affixes(path)
    return sorted(path.parent.glob(f"{glob.escape(prefix)}*{suffix}"))


def atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_affixes(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{path}: not valid JSON ({err}); {rebuild_hint()}") from None


def rebuild_hint(stage: str | None = None) -> str:
    rule = RULE_OF_STAGE.get(stage or "", "the rule that writes it")
    return f"delete it and rerun snakemake to rebuild it (rule {rule})"
