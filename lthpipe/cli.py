"""The command line: `lthpipe inspect PATH` shows what a checkpoint, record or whole
dataset folder holds; `lthpipe export MODEL --out DIR` exports a retrained network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import mean

from lthpipe.artifacts import RULE_OF_STAGE, ArtifactError, fraction_tag, read_json

HEADER_KEYS = ("stage", "dataset", "hidden", "width", "fraction", "level", "scope", "seeds", "methods", "lthpipe_version")
COLUMNS = ("retained", "effective_hidden", "best_iteration", "val_acc", "test_acc", "final_test_acc")
STAGE_ORDER = tuple(RULE_OF_STAGE)


def _mean_of(metrics: dict, key: str) -> str:
    values = metrics.get(key)
    return f"{mean(values):.4f}" if isinstance(values, list) and values else "-"


def _network_label(network: dict) -> str:
    label = f"{network['method']}/seed {network['seed']}"
    if network.get("fold"):
        label += f"/split {network['fold']}"
    return label + (f"/level {network['level']}" if network.get("level") else "")


def describe_record(record: dict) -> list[str]:
    """A record's header and one row per network; a prune record's metrics are those
    of the dense networks it pruned (its stack holds one mask per network and method)."""
    lines = [f"{k}: {record[k]}" for k in HEADER_KEYS if k in record]
    lines += [f"parent: {p}" for p in record.get("parents", [])]
    metrics = record.get("metrics", {})
    networks = metrics.get("networks") or record.get("networks") or [{"method": "dense", "seed": s} for s in record.get("seeds", [])]
    columns = [c for c in COLUMNS if c in metrics or (networks and c in networks[0])]
    if columns and "val_acc" in metrics:
        lines.append("")
        lines.append(f"{'network':<28}" + "".join(f"{c:>17}" for c in columns))
        for i, network in enumerate(networks):
            cells = "".join(f"{_fmt(metrics[c][i] if c in metrics else network[c]):>17}" for c in columns)
            lines.append(f"{_network_label(network):<28}{cells}")
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
    records = []
    for path in sorted(folder.rglob("*.json")):
        record = read_json(path)
        if isinstance(record, dict) and record.get("stage") in STAGE_ORDER:
            rank = (STAGE_ORDER.index(record["stage"]), -(record.get("fraction") or 0), record.get("width") or 0,
                    record.get("level") or 0)
            records.append((rank, str(path.relative_to(folder)), record))
    if not records:
        raise ArtifactError(f"{folder}: no lthpipe artifacts below it")
    records.sort(key=lambda r: r[:2])
    lines = [f"{'stage':<10}{'path':<34}{'width':>6}{'fraction':>10}{'nets':>6}{'val acc':>9}{'test acc':>9}"]
    for _, rel, record in records:
        metrics = record.get("metrics", {})
        nets = len(metrics.get("networks") or record.get("networks") or record.get("seeds") or [])
        width = record.get("width", "")
        fraction = fraction_tag(record["fraction"]) if "fraction" in record else f"level {record['level']}" if "level" in record else ""
        if record["stage"] == "selection":
            val, test = f"{record['val_acc']:.4f}", f"{record['test_acc']:.4f}"
        elif record["stage"] == "aggregate":
            val, test = "-", f"{record['dense_test_acc']:.4f}"
        elif record["stage"] == "inference":
            val = test = "-"
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


def export(model: Path, method: str, seed: int, data: Path | None, out: Path) -> list[str]:
    """Export one network of a retrain stage (its stack file) in every form."""
    from lthpipe.stages.exports import export_network

    record = read_json(model.with_suffix(".json"))
    if record.get("stage") != "retrain":
        raise ArtifactError(f"{model}: a {record.get('stage')!r} artifact; export takes a retrain stage's model.pt")
    data = data or model.parents[2] / "data" / "data.pt"  # artifacts/{dataset}/retrain/f{fraction}/model.pt
    export_network(data, model, record["dataset"], method, seed, out)
    return [f"exported {record['dataset']} f{fraction_tag(record['fraction'])} {method} seed {seed} to {out}:"] + [
        f"  {path.name}" for path in sorted(out.iterdir())
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lthpipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    inspect_cmd = commands.add_parser("inspect", help="show a checkpoint (.pt), a record (.json) or artifacts/DATASET")
    inspect_cmd.add_argument("path", type=Path)
    export_cmd = commands.add_parser(
        "export", help="export a retrained network: compacted (torch file + JSON), ONNX and CSR, each checked"
    )
    export_cmd.add_argument("path", type=Path, help="a retrain stage's model.pt (artifacts/DATASET/retrain/fF/model.pt)")
    export_cmd.add_argument("--method", default="rewind", help="which lottery method's network (default rewind)")
    export_cmd.add_argument("--seed", type=int, default=0, help="which seed's network, first data split (default 0)")
    export_cmd.add_argument("--data", type=Path, help="the dataset's data.pt (default: beside the model's stage)")
    export_cmd.add_argument("--out", type=Path, required=True, help="folder to write the exported files into")
    args = parser.parse_args(argv)
    if not args.path.exists():
        print(f"lthpipe: {args.path}: no such file or folder", file=sys.stderr)
        return 2
    try:
        if args.command == "inspect":
            lines = inspect(args.path)
        else:
            lines = export(args.path, args.method, args.seed, args.data, args.out)
        print("\n".join(lines))
    except (ArtifactError, ValueError, ImportError) as err:
        print(f"lthpipe: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
