"""The inference benchmark: every form of the networks of each fraction (dense,
masked, compacted, CSR), timed; imported by no training stage."""

from __future__ import annotations

import logging
from pathlib import Path

from lthpipe import checkpoint, compact
from lthpipe.artifacts import write_json
from lthpipe.checkpoint import NetworkId
from lthpipe.datasets import load_dataset
from lthpipe.model import member
from lthpipe.settings import (
    InferenceSettings,
    to_params,
)
from lthpipe.train import describe_compute

log = logging.getLogger(__name__)
from lthpipe.stages.exports import retrained_network


def benchmark_inference(
    data_path: Path, dense_path: Path, retrain_paths: list[Path], dataset: str, settings: InferenceSettings,
    out_json: Path, out_png: Path,
) -> None:
    """Size, multiply-adds, latency and throughput of one network per fraction in every
    form, at each pinned thread count (lthpipe.inference), for `settings.method` and each
    method of `settings.also` (neuron pruning's smaller dense networks beside the
    unstructured ticket at the same weight count); a table and a figure."""
    import math
    import tempfile

    from lthpipe import inference
    from lthpipe.plots.inference import inference_plot

    split = load_dataset(data_path, dataset).folds[0]
    # Throughput needs `batch` rows: small test sets are repeated (predictions are checked on them too).
    x = split.x_test.repeat(math.ceil(settings.batch / split.x_test.shape[0]), 1)
    dense, _ = checkpoint.load_stack(dense_path, stage="dense", dataset=dataset)
    unpruned = member(dense.sections["trained"], dense.index(NetworkId("dense", settings.seed, 0)))
    rows = []
    for path in retrain_paths:
        for method in (settings.method, *settings.also):
            params, mask, record = retrained_network(path, dataset, method, settings.seed)
            for threads in settings.threads:
                timing = inference.BenchmarkSettings(threads=threads, batch=settings.batch, repeats=settings.repeats)
                with tempfile.TemporaryDirectory(dir=Path(out_json).parent) as folder:
                    provenance = {"dataset": dataset, "fraction": record["fraction"], "method": method,
                                  "seed": settings.seed}
                    widths = compact.effective_widths(mask)
                    for row in inference.benchmark(unpruned, params, mask, x, Path(folder), timing, provenance):
                        rows.append({"fraction": record["fraction"], "method": method, "effective_hidden": widths,
                                     **row})
                log.info("fraction %s, %s, %d thread(s): %s", record["fraction"], method, threads,
                         {r["form"]: round(r["latency_us"], 1) for r in rows[-len(inference.FORMS):]})
    write_json(out_json, {"stage": "inference", "dataset": dataset, "settings": to_params(settings),
                          "compute": describe_compute("cpu"), "rows": rows})
    inference_plot(rows, out_png)
