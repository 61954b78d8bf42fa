from lthpipe.jobs import run_stage
from lthpipe.settings import WidthSettings, from_params

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    data_path=sm.input.data, dataset=sm.wildcards.dataset, width=int(sm.wildcards.width),
    settings=from_params(WidthSettings, sm.params.settings), out=sm.output.result,
)
