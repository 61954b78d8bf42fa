from lthpipe.jobs import job
from lthpipe.settings import InferenceSettings, from_params
from lthpipe.stages import benchmark_inference

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    benchmark_inference(
        data_path=sm.input.data, dense_path=sm.input.dense, retrain_paths=sm.input.retrained,
        dataset=sm.wildcards.dataset, settings=from_params(InferenceSettings, sm.params.settings),
        out_json=sm.output.table, out_png=sm.output.plot,
    )
