from lthpipe.jobs import run_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    data_path=sm.input.data, dense_path=sm.input.dense, masks_path=sm.input.masks,
    retrain_path=sm.input.retrained, dataset=sm.wildcards.dataset, out=sm.output.plot,
)
