# lthpipe: how many of a trained MLP's weights are really needed?
# Stages, one rule file each: data -> width search -> dense training -> pruning
# per fraction -> rewind retraining and controls per fraction -> aggregation.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/width.smk"
include: "rules/dense.smk"
include: "rules/prune.smk"
include: "rules/retrain.smk"
include: "rules/aggregate.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
