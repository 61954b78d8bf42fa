from lthpipe.jobs import job
from lthpipe.settings import DenseSettings, from_params
from lthpipe.stages import train_dense

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    train_dense(
        data_path=sm.input.data, dataset=sm.wildcards.dataset, settings=from_params(DenseSettings, sm.params.settings),
        out=sm.output.model,
    )
