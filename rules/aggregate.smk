# Cheap reporting rules read only the stages' JSON records; they run on the
# submitting machine even under a cluster profile.
localrules:
    select_width,
    aggregate,
    summarize,


rule aggregate:
    input:
        selection="artifacts/{dataset}/width/selection.json",
        dense="artifacts/{dataset}/dense/model.json",
        pruned=prune_records,
        retrained=retrain_records,
    output:
        csv="artifacts/{dataset}/curve.csv",
        plot="artifacts/{dataset}/curve.png",
        summary="artifacts/{dataset}/summary.json",
    params:
        tolerance=summary_tolerance,
        code=REPORT_CODE,
    log:
        "artifacts/{dataset}/logs/aggregate.log",
    threads: 1
    script:
        "../scripts/aggregate.py"


rule summarize:
    input:
        summaries=dataset_summaries,
    output:
        markdown="artifacts/summary.md",
        plot="artifacts/summary.png",
    params:
        code=REPORT_CODE,
    log:
        "artifacts/logs/summarize.log",
    threads: 1
    script:
        "../scripts/summarize.py"
