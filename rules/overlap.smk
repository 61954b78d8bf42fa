# Mask overlap across seeds with hidden units matched first (opt-in: study setting
# `aligned_overlap`): one job per dataset, from the trained networks and every
# fraction's masks.
rule align_overlap:
    input:
        unpack(after_width_search(dense="artifacts/{dataset}/dense/model.pt")),
        masks=prune_masks,
    output:
        table="artifacts/{dataset}/aligned_overlap.json",
        plot=report_figure("aligned_overlap", "4. what pruning removed", "overlap with hidden units matched"),
    params:
        numerics=NUMERICS,
        code=code_of("align_overlap"),
    log:
        "artifacts/{dataset}/logs/align_overlap.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/align_overlap.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=15,
    script:
        "../scripts/align_overlap.py"
