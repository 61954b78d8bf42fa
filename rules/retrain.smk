# One job per retained fraction: every method x seed trains as one stack of
# networks, so a new fraction adds one job and nothing else reruns.
rule retrain:
    input:
        unpack(
            after_width_search(
                data="artifacts/{dataset}/data/data.pt",
                dense="artifacts/{dataset}/dense/model.pt",
                masks="artifacts/{dataset}/prune/f{fraction}/masks.pt",
            )
        ),
    output:
        model="artifacts/{dataset}/retrain/f{fraction}/model.pt",
        record="artifacts/{dataset}/retrain/f{fraction}/model.json",
    params:
        numerics=NUMERICS,
        settings=retrain_settings,
        code=code_of("retrain"),
    log:
        "artifacts/{dataset}/logs/retrain/f{fraction}.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/retrain/f{fraction}.tsv"
    threads: training_threads
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    group:
        training_group
    script:
        "../scripts/retrain.py"
