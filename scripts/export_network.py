from pathlib import Path

from lthpipe.jobs import job
from lthpipe.stages import export_network

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    export_network(
        data_path=sm.input.data, retrain_path=sm.input.retrained, dataset=sm.wildcards.dataset,
        method=sm.wildcards.method, seed=int(sm.wildcards.seed), out=Path(sm.output.compact).parent,
    )
