from lthpipe.jobs import run_report
from lthpipe.settings import ReportSettings, from_params

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_report(
    sm,
    dataset=sm.wildcards.dataset, data_path=sm.input.data, selection_path=sm.input.get("selection"),
    dense_path=sm.input.dense, prune_paths=sm.input.pruned, retrain_paths=sm.input.retrained,
    level_paths=sm.input.levels, settings=from_params(ReportSettings, sm.params.settings),
    out_csv=sm.output.csv, out_json=sm.output.summary,
    figures={name: sm.output[name] for name in ("curve", "early_stop", "training", "removed", "units", "stability")},
)
