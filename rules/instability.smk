# Instability analysis (opt-in: study setting `instability.at`): one job per rewind
# point, so adding a point runs only that point; a report job draws them together.
rule instability:
    input:
        unpack(
            after_width_search(
                data="artifacts/{dataset}/data/data.pt",
                dense="artifacts/{dataset}/dense/model.pt",
            )
        ),
    output:
        record="artifacts/{dataset}/instability/at{at}.json",
    params:
        numerics=NUMERICS,
        settings=spawn_settings,
        code=code_of("instability"),
    log:
        "artifacts/{dataset}/logs/instability/at{at}.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/instability/at{at}.tsv"
    threads: training_threads
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    script:
        "../scripts/instability.py"


localrules:
    summarize_instability,


rule summarize_instability:
    input:
        dense="artifacts/{dataset}/dense/model.json",
        records=instability_records,
    output:
        summary="artifacts/{dataset}/instability.json",
        plot=report_figure("instability", "3. how tickets train", "instability to the data order"),
    params:
        code=code_of("summarize_instability"),
    log:
        "artifacts/{dataset}/logs/summarize_instability.log",
    threads: 1
    script:
        "../scripts/summarize_instability.py"
