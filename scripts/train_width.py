from lthpipe.jobs import job
from lthpipe.settings import WidthSettings, from_params
from lthpipe.stages import train_width

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    train_width(
        data_path=sm.input.data, dataset=sm.wildcards.dataset, width=int(sm.wildcards.width),
        settings=from_params(WidthSettings, sm.params.settings), out=sm.output.result,
    )
