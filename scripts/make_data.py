from lthpipe.datasets import DataSettings
from lthpipe.jobs import job
from lthpipe.stages import make_data

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    make_data(dataset=sm.wildcards.dataset, settings=DataSettings.from_params(sm.params.settings), out=sm.output.data)
