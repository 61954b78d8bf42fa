# One job per width (all seeds train together), so extending the grid trains only new widths.
rule train_width:
    input:
        data="artifacts/{dataset}/data/data.pt",
    output:
        result="artifacts/{dataset}/width/w{width}.json",
    params:
        numerics=NUMERICS,
        settings=width_settings,
        code=code_of("train_width"),
    log:
        "artifacts/{dataset}/logs/train_width/w{width}.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/train_width/w{width}.tsv"
    threads: training_threads
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    group:
        search_group
    script:
        "../scripts/train_width.py"


checkpoint select_width:
    input:
        results=width_results,
    output:
        selection="artifacts/{dataset}/width/selection.json",
        plot=report_figure("width", "1. width search", "width search"),
    params:
        settings=lambda wildcards: to_params(study(wildcards).selection_settings()),
        code=code_of("select_width"),
    log:
        "artifacts/{dataset}/logs/select_width.log",
    threads: 1
    script:
        "../scripts/select_width.py"
