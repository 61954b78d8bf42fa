"""`lthpipe inspect PATH`: what a checkpoint, record or whole dataset folder holds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import mean

from lthpipe.artifacts import ArtifactError, read_json

HEADER_KEYS = ("stage", "dataset", "width", "fraction", "scope", "seeds", "methods", "lthpipe_version")


def _mean_of(metrics: dict, key: str) -> str:
    values = metrics.get(key)
    return f"{mean(values):.4f}" if isinstance(values, list) and values else "-"


def describe_record(record: dict) -> list[str]:
    lines = [f"{k}: {record[k]}" for k in HEADER_KEYS if k in record]
    lines += [f"parent: {p}" for p in record.get("parents", [])]
    metrics = record.get("metrics", {})
    labels = [f"{n['method']}/seed {n['seed']}" for n in record.get("networks", [])] or [
        f"seed {s}" for s in record.get("seeds", [])
    ]
    columns = [k for k in ("retained", "best_epoch", "val_acc", "test_acc", "final_test_acc") if k in metrics]
    if columns:
        lines.append("")
        lines.append(f"{'network':<24}" + "".join(f"{c:>16}" for c in columns))
        for i, label in enumerate(labels):
            cells = "".join(f"{_fmt(metrics[c][i]):>16}" for c in columns)
            lines.append(f"{label:<24}{cells}")
    return lines


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def describe_checkpoint(path: Path) -> list[str]:
    from lthpipe import checkpoint

    tensors, record = checkpoint.load(path)
    lines = describe_record(record) + ["", f"{'tensor':<16}{'shape':<22}{'dtype':<10}{'zero fraction (per network)'}"]
    for name, tensor in sorted(tensors.items()):
        flat = tensor.reshape(tensor.shape[0], -1) if tensor.dim() > 1 else tensor.reshape(1, -1)
        zeros = (flat == 0).float().mean(1).tolist()
        shown = " ".join(f"{z:.3f}" for z in zeros[:8]) + (" ..." if len(zeros) > 8 else "")
        lines.append(f"{name:<16}{str(list(tensor.shape)):<22}{str(tensor.dtype).removeprefix('torch.'):<10}{shown}")
    return lines


def describe_folder(folder: Path) -> list[str]:
    """One row per stage record below folder, in pipeline order."""
    order = ["data", "width", "selection", "dense", "prune", "retrain", "aggregate"]
    records = []
    for path in sorted(folder.rglob("*.json")):
        record = read_json(path)
        if isinstance(record, dict) and record.get("stage") in order:
            rank = (order.index(record["stage"]), -(record.get("fraction") or 0), record.get("width") or 0)
            records.append((rank, str(path.relative_to(folder)), record))
    if not records:
        raise ArtifactError(f"{folder}: no lthpipe artifacts below it")
    records.sort(key=lambda r: r[:2])
    lines = [f"{'stage':<10}{'path':<34}{'width':>6}{'fraction':>10}{'nets':>6}{'val acc':>9}{'test acc':>9}"]
    for _, rel, record in records:
        metrics = record.get("metrics", {})
        nets = len(record.get("networks") or record.get("seeds") or [])
        width = record.get("width", "")
        fraction = f"{record['fraction']:.3f}" if "fraction" in record else ""
        if record["stage"] == "selection":
            val, test = f"{record['val_acc']:.4f}", f"{record['test_acc']:.4f}"
        elif record["stage"] == "aggregate":
            val, test = "-", f"{record['dense_test_acc']:.4f}"
        else:
            val, test = _mean_of(metrics, "val_acc"), _mean_of(metrics, "test_acc")
        lines.append(f"{record['stage']:<10}{rel:<34}{width!s:>6}{fraction:>10}{nets or '':>6}{val:>9}{test:>9}")
    return lines


def inspect(path: Path) -> list[str]:
    if path.is_dir():
        return describe_folder(path)
    if path.suffix == ".json":
        return describe_record(read_json(path))
    return describe_checkpoint(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lthpipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    inspect_cmd = commands.add_parser("inspect", help="show a checkpoint (.pt), a record (.json) or artifacts/DATASET")
    inspect_cmd.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    if not args.path.exists():
        print(f"lthpipe: {args.path}: no such file or folder", file=sys.stderr)
        return 2
    try:
        print("\n".join(inspect(args.path)))
    except ArtifactError as err:
        print(f"lthpipe: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
