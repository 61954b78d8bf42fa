# lthpipe: how many of a trained MLP's weights are really needed?
# Stages, one rule file each: data -> width search -> dense training -> pruning
# per fraction -> rewind retraining and controls per fraction (and iterative
# pruning, level by level) -> aggregation -> report.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/width.smk"
include: "rules/dense.smk"
include: "rules/prune.smk"
include: "rules/retrain.smk"
include: "rules/imp.smk"
include: "rules/aggregate.smk"
include: "rules/figures.smk"
include: "rules/export.smk"
include: "rules/suites.smk"
include: "rules/instability.smk"
include: "rules/overlap.smk"


rule all:
    input:
        final_outputs(),
    default_target: True


onsuccess:
    print(results_message())


onerror:
    summarize_failed_suites()
