# Iterative magnitude pruning as a chain: level k prunes the ticket level k-1
# trained, so adding levels runs only the new ones.
rule imp:
    input:
        unpack(
            after_width_search(
                data="artifacts/{dataset}/data/data.pt",
                dense="artifacts/{dataset}/dense/model.pt",
            )
        ),
        previous=previous_level,
    output:
        model="artifacts/{dataset}/imp/level{level}/model.pt",
        record="artifacts/{dataset}/imp/level{level}/model.json",
    params:
        numerics=NUMERICS,
        settings=level_settings,
        code=TRAINING_CODE,
    log:
        "artifacts/{dataset}/logs/imp/level{level}.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/imp/level{level}.tsv"
    threads: training_threads
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    script:
        "../scripts/imp.py"
