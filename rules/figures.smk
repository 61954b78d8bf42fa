# A figure that needs the trained networks themselves, not only their records.
rule decision_regions:
    input:
        unpack(
            after_width_search(
                data="artifacts/{dataset}/data/data.pt",
                dense="artifacts/{dataset}/dense/model.pt",
            )
        ),
        masks=lambda wildcards: f"artifacts/{wildcards.dataset}/prune/f{figure_fraction(wildcards)}/masks.pt",
        retrained=lambda wildcards: f"artifacts/{wildcards.dataset}/retrain/f{figure_fraction(wildcards)}/model.pt",
    output:
        plot=report_figure("decision_regions", "5. how the networks decide", "decision regions"),
    params:
        numerics=NUMERICS,
        code=code_of("decision_regions"),
    log:
        "artifacts/{dataset}/logs/decision_regions.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/decision_regions.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=15,
    group:
        training_group
    script:
        "../scripts/decision_regions.py"
