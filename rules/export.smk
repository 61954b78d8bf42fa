# Smaller models for real: exports of chosen networks, and the inference benchmark (opt-in).
rule export_network:
    input:
        data="artifacts/{dataset}/data/data.pt",
        retrained="artifacts/{dataset}/retrain/f{fraction}/model.pt",
    output:
        compact="artifacts/{dataset}/export/f{fraction}/{method}/seed{seed}/compact.pt",
        description="artifacts/{dataset}/export/f{fraction}/{method}/seed{seed}/compact.json",
        onnx="artifacts/{dataset}/export/f{fraction}/{method}/seed{seed}/compact.onnx",
        csr="artifacts/{dataset}/export/f{fraction}/{method}/seed{seed}/csr.pt",
        csr_description="artifacts/{dataset}/export/f{fraction}/{method}/seed{seed}/csr.json",
    params:
        numerics=NUMERICS,
        code=code_of("export_network"),
    log:
        "artifacts/{dataset}/logs/export/f{fraction}/{method}/seed{seed}.log",
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=15,
    script:
        "../scripts/export_network.py"


# It pins its own thread counts; its timings are cleanest with nothing else running
# (README, "Inference"): run it on its own target after the study.
rule benchmark_inference:
    input:
        data="artifacts/{dataset}/data/data.pt",
        dense="artifacts/{dataset}/dense/model.pt",
        retrained=retrain_models,
    output:
        table="artifacts/{dataset}/inference.json",
        plot=report_figure("inference", "6. cost of running the pruned networks", "inference: size and latency"),
    params:
        numerics=NUMERICS,
        settings=inference_params,
        code=code_of("benchmark_inference"),
    log:
        "artifacts/{dataset}/logs/benchmark_inference.log",
    threads: max(INFERENCE.threads)
    resources:
        mem_mb=mem_mb,
        runtime=60,
    script:
        "../scripts/benchmark_inference.py"
