from lthpipe.jobs import run_stage
from lthpipe.settings import LevelSettings, from_params

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    data_path=sm.input.data, dense_path=sm.input.dense, ticket_path=sm.input.ticket,
    dataset=sm.wildcards.dataset, settings=from_params(LevelSettings, sm.params.settings), out=sm.output.model,
)
