# Iterative magnitude pruning as a chain: level k prunes the ticket level k-1
# trained, so adding levels runs only the new ones. The chain of tickets is the
# critical path: each level's ticket is one job the next level waits for, and the
# controls of a level (imp.control_levels) are a job of their own that nothing in
# the chain waits for, so they train beside the next levels.
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
        code=code_of("imp"),
    log:
        "artifacts/{dataset}/logs/imp/level{level}.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/imp/level{level}.tsv"
    threads: training_threads
    # Before a control job when both are ready: the chain is the longest path.
    priority: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    script:
        "../scripts/imp.py"


rule imp_controls:
    input:
        unpack(
            after_width_search(
                data="artifacts/{dataset}/data/data.pt",
                dense="artifacts/{dataset}/dense/model.pt",
            )
        ),
        ticket="artifacts/{dataset}/imp/level{level}/model.pt",
    output:
        model="artifacts/{dataset}/imp/level{level}/controls.pt",
        record="artifacts/{dataset}/imp/level{level}/controls.json",
    params:
        numerics=NUMERICS,
        settings=control_settings,
        code=code_of("imp_controls"),
    log:
        "artifacts/{dataset}/logs/imp_controls/level{level}.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/imp_controls/level{level}.tsv"
    threads: training_threads
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    script:
        "../scripts/imp_controls.py"
