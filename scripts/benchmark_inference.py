from lthpipe.jobs import run_stage
from lthpipe.settings import InferenceSettings, from_params

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    data_path=sm.input.data, dense_path=sm.input.dense, retrain_paths=sm.input.retrained,
    dataset=sm.wildcards.dataset, settings=from_params(InferenceSettings, sm.params.settings),
    out_json=sm.output.table, out_png=sm.output.plot,
)
