from lthpipe.jobs import job
from lthpipe.settings import DataSettings
from lthpipe.stages import make_data

with job(snakemake):  # noqa: F821 (injected by Snakemake)
    make_data(snakemake.wildcards.dataset, DataSettings(**snakemake.params.settings), snakemake.output.data)
